"""The status page's content as plain data: rows per check, areas, counts, problems first (pure).

Everything here is computed from the daemon's latest Results and config plus a few facts the
caller looked up (when each state began, readiness, outages), so it is unit-tested without a
server and the template only lays it out. Strings stay raw: the template escapes them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dxagent.daemon.statuspage.words import pick
from dxagent.model import Result, Status

__all__ = ["AREAS", "Area", "Page", "Row", "area_of", "build", "fmt_age", "fmt_clock", "fmt_took", "is_stale",
           "outage_check_ids", "SEVERITY", "STALE_INTERVALS"]

STALE_INTERVALS = 3  # a result older than this many intervals is marked stale
AREAS = ("links", "portals", "certificates", "workstations", "meeting", "other")
_AREA_BY_GROUP = {"meeting": "meeting", "tslcd": "links", "uplink": "links", "internet": "links", "lan": "links",
                  "portals": "portals", "provincial": "portals"}
_AREA_BY_KIND = {"ping": "links", "interfaces": "links", "snmp": "links", "throughput": "links", "dns": "links",
                 "tcp": "links", "http": "portals", "tls": "certificates", "certfile": "certificates",
                 "clock": "certificates", "system": "workstations", "inventory": "workstations",
                 "discovery": "workstations", "sip": "meeting"}
OUTAGE_GROUPS = ("tslcd", "uplink", "internet")
# Worst first for a technician: a failure, then a check that cannot tell, then a warning.
SEVERITY = {Status.CRIT: 0, Status.UNKNOWN: 1, Status.WARN: 2, Status.OK: 3}


def area_of(check: Any) -> str:
    """The page section of a check: its groups first (a `meeting` ping is the meeting bridge), then its kind."""
    for group in getattr(check, "groups", ()):
        if group in _AREA_BY_GROUP:
            return _AREA_BY_GROUP[group]
    return _AREA_BY_KIND.get(getattr(check, "kind", ""), "other")


def outage_check_ids(checks: Iterable[Any]) -> list[str]:
    """The link checks whose outages the page lists: groups tslcd, uplink, internet, or ids named so."""
    out = []
    for c in checks:
        if set(c.groups) & set(OUTAGE_GROUPS) or c.id.startswith(("uplink", "tslcd")):
            out.append(c.id)
    return out


def is_stale(result: Result, interval: float, now: float) -> bool:
    """Older than STALE_INTERVALS intervals (the check stopped producing results)."""
    return now - (result.started + result.duration) > STALE_INTERVALS * interval


def fmt_age(seconds: float, lang: str) -> str:
    """A length for people: `45 s`, `12 min`, `3 h 5 min`, `4 days 2 h` (`giây`, `phút`, `giờ`, `ngày`)."""
    s = max(0, int(seconds))
    vi = lang == "vi"
    if s < 60:
        return f"{s} {'giây' if vi else 's'}"
    if s < 3600:
        return f"{s // 60} {'phút' if vi else 'min'}"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} {'giờ' if vi else 'h'}" + (f" {m} {'phút' if vi else 'min'}" if m else "")
    d, h = divmod(s // 3600, 24)
    return f"{d} {'ngày' if vi else ('day' if d == 1 else 'days')}" + (f" {h} {'giờ' if vi else 'h'}" if h else "")


def fmt_clock(ts: float | None, now: float) -> str:
    """The agent's local time: `14:05:09` today, `02/12 14:05` another day (day/month, as in Vietnam)."""
    if not ts:
        return "—"
    lt, today = time.localtime(ts), time.localtime(now)
    if lt[:3] == today[:3]:
        return time.strftime("%H:%M:%S", lt)
    return time.strftime("%d/%m %H:%M", lt)


def fmt_took(seconds: float, lang: str) -> str:
    """A probe's duration: `85 ms`, `1,2 s` (decimal comma in Vietnamese)."""
    text = f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"
    return text.replace(".", ",") if lang == "vi" else text


@dataclasses.dataclass(frozen=True)
class Row:
    """One (check, target) as shown: status word, texts, times."""

    check_id: str
    kind: str
    target: str
    description: str
    status: str                 # OK, WARN, CRIT, UNKNOWN or PENDING (no result yet)
    word: str
    summary: str
    hint: str
    title: str                  # a web page's <title> (http), untrusted
    started: float
    last_run: str
    took: str
    stale: bool
    stale_text: str
    since: float | None         # when the current status began (None: unknown)
    since_text: str
    interval: float
    area: str
    order: int


@dataclasses.dataclass(frozen=True)
class Area:
    key: str
    title: str
    rows: tuple[Row, ...]
    counts: Mapping[str, int]
    worst: str
    run_target: str             # what "run all" of the area sends as `only`: a group or check ids


@dataclasses.dataclass(frozen=True)
class Page:
    lang: str
    now: float
    site: Mapping[str, Any]
    header: Mapping[str, str]
    counts: Mapping[str, int]
    pending: int
    worst: str
    problems: tuple[Row, ...]
    areas: tuple[Area, ...]
    readiness: Mapping[str, Any] | None
    outages: Sequence[Mapping[str, Any]] | None
    outage_checks: tuple[str, ...]
    notice: str


def _since_text(since: float | None, known_window: float, now: float, lang: str) -> str:
    if since is None:
        return ""
    if since <= 0:  # the state began before the history's window
        return pick("since_before", lang, days=int(known_window // 86400))
    return f"{pick('since', lang)} {fmt_clock(since, now)} ({pick('ago', lang, age=fmt_age(now - since, lang))})"


def _row(r: Result | None, check: Any, target: str, order: int, now: float, lang: str,
         since: Mapping[tuple[str, str], float | None], known_window: float) -> Row:
    interval = float(check.interval)
    if r is None:
        return Row(check.id, check.kind, target, check.description, "PENDING", pick("PENDING", lang), "", "", "",
                   0.0, "—", "", False, "", None, "", interval, area_of(check), order)
    stale = is_stale(r, interval, now)
    stale_text = pick("stale_long", lang, age=fmt_age(now - r.started, lang), interval=fmt_age(interval, lang)) \
        if stale else ""
    began = since.get((r.check_id, r.target))
    title = r.details.get("title") if r.kind == "http" else None
    return Row(r.check_id, r.kind, r.target, check.description, r.status.name, pick(r.status.name, lang),
               r.summary.get(lang), r.hint.get(lang) if r.hint else "", title if isinstance(title, str) else "",
               r.started, fmt_clock(r.started, now), fmt_took(r.duration, lang), stale, stale_text, began,
               _since_text(began, known_window, now, lang), interval, area_of(check), order)


def _counts(rows: Iterable[Row]) -> dict[str, int]:
    counts = {s.name: 0 for s in Status}
    for row in rows:
        if row.status in counts:
            counts[row.status] += 1
    return counts


def _worst(counts: Mapping[str, int]) -> str:
    for name in ("CRIT", "UNKNOWN", "WARN"):
        if counts.get(name):
            return name
    return "OK"


def _run_target(checks: Sequence[Any], all_checks: Iterable[Any]) -> str:
    """What "run all" of an area sends as `only`: a group that selects exactly its checks, else their ids."""
    ids = {c.id for c in checks}
    shared = set(checks[0].groups).intersection(*(set(c.groups) for c in checks[1:])) if checks else set()
    for group in sorted(shared):
        if {c.id for c in all_checks if group in c.groups} == ids:
            return group
    return ",".join(c.id for c in checks)


def build(results: Sequence[Result], checks: Mapping[str, Any], *, now: float, lang: str, site: Mapping[str, Any],
          header: Mapping[str, str], since: Mapping[tuple[str, str], float | None] | None = None,
          known_window: float = 35 * 86400, readiness: Mapping[str, Any] | None = None,
          outages: Sequence[Mapping[str, Any]] | None = None, notice: str = "") -> Page:
    """The page's data. `checks` are the enabled configs in config order; results of unknown ids are ignored."""
    since = since or {}
    by_check: dict[str, list[Result]] = {}
    for r in results:
        by_check.setdefault(r.check_id, []).append(r)
    rows: list[Row] = []
    for order, (cid, check) in enumerate(checks.items()):
        got = by_check.get(cid)
        if not got:
            rows.append(_row(None, check, check.target_label() if hasattr(check, "target_label") else "", order,
                             now, lang, since, known_window))
            continue
        rows.extend(_row(r, check, r.target, order, now, lang, since, known_window) for r in got)
    counts = _counts(rows)
    problems = sorted((row for row in rows if row.status not in ("OK", "PENDING") or row.stale),
                      key=lambda row: (SEVERITY.get(Status[row.status], 3) if row.status != "PENDING" else 4,
                                       row.order))
    areas = []
    for key in AREAS:
        members = tuple(row for row in rows if row.area == key)
        if not members:
            continue
        area_checks = [checks[cid] for cid in dict.fromkeys(row.check_id for row in members)]
        area_counts = _counts(members)
        areas.append(Area(key, pick(f"area_{key}", lang), members, area_counts, _worst(area_counts),
                          _run_target(area_checks, checks.values())))
    return Page(lang, now, site, header, counts, sum(1 for row in rows if row.status == "PENDING"), _worst(counts),
                tuple(problems), tuple(areas), readiness, outages, tuple(outage_check_ids(checks.values())), notice)

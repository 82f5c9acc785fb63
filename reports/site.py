"""The site report document: an Evaluation (plus current problems) as a JSON-ready dict.

This dict is the documented JSON output (`dxagent report --format json`, schema in
`dxagent.reports.schema`) and the input of every renderer and of the province roll-up, so all
outputs show the same numbers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dxagent import __version__
from dxagent.reports import outages as rep_outages
from dxagent.reports.data import CheckInfo, SiteData, SnapshotData, StoreData, read_snapshot
from dxagent.reports.evaluate import CriterionResult, Evaluation, evaluate
from dxagent.reports.fmt import unit_of
from dxagent.reports.profile import Profile

__all__ = ["SCHEMA", "SCHEMA_VERSION", "document", "build", "checks_from_config", "site_outages", "MAX_FINDINGS",
           "MAX_OUTAGES"]

SCHEMA = "dxagent.site-report"
SCHEMA_VERSION = 1
MAX_FINDINGS = 50
MAX_SERIES = 6
MAX_OUTAGES = 500  # the longest are kept when a flapping link makes more (the summary counts them all)


def _text(t: Any) -> dict[str, str] | None:
    return {"vi": t.vi, "en": t.en} if t is not None else None


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 6)


def _criterion(cr: CriterionResult) -> dict[str, Any]:
    c = cr.criterion
    checks = []
    series = []
    for k in cr.keys:
        checks.append({"check": k.check_id, "kind": k.kind, "target": k.target, "value": _round(k.value),
                       "why": _text(k.why), "seconds": k.seconds})
        if k.series and len(series) < MAX_SERIES:
            series.append({"check": k.check_id, "target": k.target,
                           "points": [[ts, round(v, 6)] for ts, v in k.series]})
    return {
        "label": c.label.model_dump(),
        "measure": c.measure,
        "sample": list(c.sample),
        "unit": unit_of(c.measure, c.sample, c.per_staff),
        "compare": c.compare,
        "threshold": c.threshold,
        "warn": c.warn,
        "window_seconds": round(cr.until - cr.since, 3),
        "profile_window_seconds": c.window if c.measure in ("availability", "percentile", "mean") else None,
        "outcome": cr.outcome,
        "at_risk": cr.at_risk,
        "value": _round(cr.value),
        "why": _text(cr.why),
        "evidence": {"since": cr.since, "until": cr.until, "select": cr.selection.model_dump(mode="json"),
                     "checks": checks},
        "series": series,
    }


def findings(snapshot: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Latest non-OK results from a snapshot: what a technician should look at first (untrusted text)."""
    if not snapshot:
        return []
    out = []
    for r in snapshot.get("results") or []:
        if r.get("status") != "OK":
            out.append({key: r.get(key) for key in ("id", "kind", "target", "status", "reason", "summary", "hint")})
    order = {"CRIT": 0, "UNKNOWN": 1, "WARN": 2}
    out.sort(key=lambda f: order.get(str(f.get("status")), 3))
    return out[:MAX_FINDINGS]


def site_outages(data: SiteData, since: float, until: float) -> dict[str, Any] | None:
    """The period's outage events merged per link, power events and their summary; None without history."""
    found = data.outages(since, until)
    if found is None:
        return None
    kinds = {c.check_id: c.kind for c in data.checks}
    groups = {c.check_id: c.groups for c in data.checks}
    events = rep_outages.link_events(found, kinds, groups, until)
    power: list[dict[str, Any]] = []
    power_ids = [c for c, k in kinds.items() if k in rep_outages.POWER_KINDS]
    if power_ids:
        power = rep_outages.power_events(data.rows(power_ids, since, until) or [], kinds, until)
        rep_outages.attach_causes(events, power)
    total = rep_outages.summary(events)
    if len(events) > MAX_OUTAGES:
        keep = sorted(sorted(events, key=lambda e: -e["seconds"])[:MAX_OUTAGES], key=lambda e: e["start"])
        events = keep
    return {"events": events, "power": power, "summary": total}


def document(ev: Evaluation, site: Mapping[str, Any] | None, snapshot: Mapping[str, Any] | None = None,
             generated: float | None = None, outages: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The site report as a JSON-compatible dict (see dxagent.reports.schema.SITE_SCHEMA).

    `outages`: from `site_outages` (None: no history, so the report cannot say).
    """
    counts = ev.counts()
    site = dict(site or {})
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "generated_at": round(generated if generated is not None else time.time(), 3),
        "agent": {"name": "dxagent", "version": __version__},
        "site": {k: site.get(k) for k in ("id", "name", "province", "level", "staff")},
        "profile": {"id": ev.profile.id, "version": ev.profile.version, "name": ev.profile.name.model_dump(),
                    "source": ev.profile.source},
        "period": {"since": ev.since, "until": ev.until, "seconds": round(ev.until - ev.since, 3)},
        "agent_alive_seconds": _round(ev.alive_seconds),
        "score": round(ev.score, 6),
        "known_weight": round(ev.known_weight, 6),
        "counts": counts,
        "targets": [
            {
                "id": tr.target.id,
                "name": tr.target.name.model_dump(),
                "weight": tr.target.weight,
                "source": tr.target.source,
                "note": tr.target.note.model_dump() if tr.target.note else None,
                "outcome": tr.outcome,
                "at_risk": tr.at_risk,
                "criteria": [_criterion(cr) for cr in tr.criteria],
            }
            for tr in ev.targets
        ],
        "findings": findings(snapshot),
        "outages": None if outages is None else outages["events"],
        "outage_summary": None if outages is None else outages["summary"],
        "power_events": None if outages is None else outages["power"],
    }


def checks_from_config(cfg: Any) -> list[CheckInfo]:
    """The configured checks with their groups, so profiles can select by group."""
    return [CheckInfo(c.id, c.kind, tuple(c.groups)) for c in cfg.checks if c.enabled]


def build(profile: Profile, *, until: float, period: float | None = None, cfg: Any = None,
          history_path: Path | None = None, snapshot_path: Path | None = None,
          history: Any = None) -> dict[str, Any]:
    """Evaluate from what is available (a history file, a snapshot, the config) and return the document.

    At least one of history/history_path/snapshot_path must be given. A history file is opened read-mostly
    through `dxagent.history.History` and closed again.
    """
    snapshot = read_snapshot(snapshot_path) if snapshot_path is not None else None
    checks: Sequence[CheckInfo] = checks_from_config(cfg) if cfg is not None else ()
    site = (snapshot or {}).get("site")
    if cfg is not None and (cfg.site.id != "unset" or not site):  # the built-in default config knows no site
        site = cfg.site.model_dump(mode="json")
    staff = (site or {}).get("staff")
    opened = None
    if history is None and history_path is not None:
        if not history_path.exists():
            raise ValueError(f"{history_path}: no history file (is the daemon running with this state_dir?)")
        from dxagent.history import History

        history = opened = History.open(history_path)
    try:
        data: SiteData
        if history is not None:
            data = StoreData(history, checks, staff, snapshot, discover_since=until - (period or profile.period),
                             discover_until=until)
        elif snapshot is not None:
            data = SnapshotData(snapshot, checks, staff)
        else:
            raise ValueError("a site report needs a history file or a snapshot file")
        ev = evaluate(profile, data, until, period)
        events = site_outages(data, ev.since, until)
    finally:
        if opened is not None:
            opened.close()
    return document(ev, site, snapshot, outages=events)

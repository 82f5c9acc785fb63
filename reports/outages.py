"""The outage events of a site report: per-check outages from history, merged per link.

`dxagent.history.outages` gives one outage per (check, target). An operator asks a different
question: "when was the provincial link down, and what did it take with it?". So outages of
checks on **one link** that overlap in time become one event:

* one link = the same target host (`10.0.0.9`, `10.0.0.9:443`, `https://10.0.0.9/` and a DNS
  query `@10.0.0.9` all reach host 10.0.0.9), or checks sharing a config group (`groups:
  [tslcd]`: the gateway and the data centre behind the same dedicated line);
* fail together = their outages overlap or touch (an event keeps growing while any member is down).

Only availability kinds make outages (`OUTAGE_KINDS`): a certificate close to expiry or a full disk
is CRIT but nothing is "down". Power events (when a `ups` check's UPS ran on battery) are listed
apart; an outage starting while one lasts or within `POWER_WINDOW` after it ended gets
`cause: "power"` (otherwise `cause` is null).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from dxagent.history.outages import Outage
from dxagent.model import Status

__all__ = ["OUTAGE_KINDS", "POWER_KINDS", "POWER_WINDOW", "host_of", "link_events", "power_events", "attach_causes",
           "summary"]

OUTAGE_KINDS = frozenset({"ping", "tcp", "http", "dns", "tls", "sip", "snmp", "interfaces", "throughput"})
POWER_KINDS = frozenset({"ups"})
POWER_WINDOW = 120.0  # an outage starting during a power event or up to 2 minutes after it is caused by it


def host_of(target: str) -> str:
    """The host a target reaches: URL host, DNS server, `[v6]:port` or `host:port` host, else the target."""
    t = target.strip()
    if "://" in t:
        try:
            return (urlsplit(t).hostname or t).lower()
        except ValueError:
            return t.lower()
    if "@" in t:  # dns: name@server
        t = t.rsplit("@", 1)[1]
    t = t.split("/", 1)[0]  # sip: host:port/udp
    if t.startswith("[") and "]" in t:
        return t[1:t.index("]")].lower()
    if t.count(":") == 1:
        return t.split(":", 1)[0].lower()
    try:
        return str(ipaddress.ip_address(t))
    except ValueError:
        return t.lower()


@dataclasses.dataclass
class _Event:
    members: list[tuple[Outage, str]]  # (outage, kind)
    hosts: set[str]
    groups: set[str]
    start: float
    end: float | None

    def linked(self, host: str, groups: Iterable[str]) -> bool:
        return host in self.hosts or bool(self.groups.intersection(groups))

    def add(self, o: Outage, kind: str, host: str, groups: Iterable[str]) -> None:
        self.members.append((o, kind))
        self.hosts.add(host)
        self.groups.update(groups)
        self.start = min(self.start, o.start)
        self.end = None if self.end is None or o.end is None else max(self.end, o.end)

    def absorb(self, other: _Event) -> None:
        self.members += other.members
        self.hosts |= other.hosts
        self.groups |= other.groups
        self.start = min(self.start, other.start)
        self.end = None if self.end is None or other.end is None else max(self.end, other.end)


def _record(o: Outage, kind: str, until: float) -> dict[str, Any]:
    return {"check": o.check_id, "kind": kind, "target": o.target, "start": o.start, "end": o.end,
            "seconds": round(o.length(until), 3), "worst": o.worst.name, "reason": o.reason}


def link_events(found: Sequence[Outage], kinds: Mapping[str, str], groups: Mapping[str, Sequence[str]],
                until: float) -> list[dict[str, Any]]:
    """Outages of OUTAGE_KINDS merged per link (see the module docstring), oldest first, JSON-ready.

    `kinds`/`groups`: check id → kind / config groups; a check of unknown kind counts as an outage kind.
    """
    events: list[_Event] = []
    for o in sorted(found, key=lambda o: (o.start, o.check_id, o.target)):
        kind = kinds.get(o.check_id, "")
        if kind and kind not in OUTAGE_KINDS:
            continue
        host, grp = host_of(o.target), tuple(groups.get(o.check_id, ()))
        hits = [e for e in events if (e.end is None or e.end >= o.start) and e.linked(host, grp)]
        if not hits:
            events.append(_Event([], set(), set(), o.start, o.end))
            hits = [events[-1]]
        first = hits[0]
        first.add(o, kind, host, grp)
        for other in hits[1:]:  # this outage joins two events that were apart
            first.absorb(other)
            events.remove(other)
    out = []
    for e in sorted(events, key=lambda e: e.start):
        outs = [o for o, _ in e.members]
        worst = max(o.worst for o in outs)
        reasons = [o.reason for o in outs if o.worst == worst and o.reason]
        shared = sorted(e.groups)
        out.append({
            "link": sorted(e.hosts)[0] if len(e.hosts) == 1 else (shared[0] if shared else ", ".join(sorted(e.hosts))),
            "start": e.start,
            "end": e.end,
            "seconds": round((until if e.end is None else e.end) - e.start, 3),
            "ongoing": e.end is None,
            "worst": Status(worst).name,
            "reason": max(set(reasons), key=reasons.count) if reasons else None,
            "cause": None,
            "targets": sorted({o.target for o in outs}),
            "checks": [_record(o, k, until) for o, k in sorted(e.members, key=lambda m: (m[0].start, m[0].check_id))],
        })
    return out


def power_events(rows: Sequence[Any], kinds: Mapping[str, str], until: float) -> list[dict[str, Any]]:
    """Periods when a UPS said it ran on battery, from the raw results (`Obs`) of POWER_KINDS checks.

    Read from the `ups_on_battery` sample, not from the status: a UPS that cannot be read, or a
    worn battery on mains, is not a power failure. A period starts at the first result on battery
    and ends at the first result back on mains; where results stop (the agent itself lost power)
    it ends one interval after the last result on battery. Worst is CRIT when the battery went low.
    """
    per: dict[tuple[str, str], list[Any]] = {}
    for o in sorted(rows, key=lambda o: o.ts):
        if kinds.get(o.check_id) in POWER_KINDS and "ups_on_battery" in o.samples:
            per.setdefault((o.check_id, o.target), []).append(o)
    out: list[dict[str, Any]] = []
    for (check_id, target), obs in per.items():
        start: float | None = None
        low = False
        last: Any = None
        for o in obs:
            on_battery = o.samples["ups_on_battery"] >= 1
            gap = last is not None and o.ts - last.ts > 1.5 * max(last.interval, 1.0)
            if start is not None and (not on_battery or gap):
                end = o.ts if not gap else last.ts + max(last.interval, 1.0)
                out.append(_power_record(check_id, kinds[check_id], target, start, end, low, until))
                start, low = None, False
            if on_battery and start is None:
                start = o.ts
            low = low or (on_battery and o.samples.get("ups_low_battery", 0) >= 1)
            last = o
        if start is not None:
            ongoing = last.ts + 1.5 * max(last.interval, 1.0) >= until
            end = None if ongoing else last.ts + max(last.interval, 1.0)
            out.append(_power_record(check_id, kinds[check_id], target, start, end, low, until))
    return sorted(out, key=lambda p: (p["start"], p["check"]))


def _power_record(check_id: str, kind: str, target: str, start: float, end: float | None, low: bool,
                  until: float) -> dict[str, Any]:
    return {"check": check_id, "kind": kind, "target": target, "start": start, "end": end,
            "seconds": round((until if end is None else end) - start, 3), "worst": "CRIT" if low else "WARN",
            "reason": "down"}


def attach_causes(events: list[dict[str, Any]], power: Sequence[Mapping[str, Any]]) -> None:
    """Mark `cause: "power"` on outages that start during a power event or up to POWER_WINDOW after it."""
    for e in events:
        for p in power:
            if p["start"] <= e["start"] <= (float("inf") if p["end"] is None else p["end"]) + POWER_WINDOW:
                e["cause"] = "power"
                break


def summary(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Count, total and longest seconds of the events (overlapping events counted apart)."""
    secs = [float(e["seconds"]) for e in events]
    return {"count": len(events), "seconds": round(float(sum(secs)), 3), "longest_seconds": max(secs) if secs else 0.0,
            "ongoing": sum(1 for e in events if e["ongoing"]),
            "power": sum(1 for e in events if e.get("cause") == "power")}

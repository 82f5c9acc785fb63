"""What the page needs from the history besides the latest Results: since when, readiness, outages.

Each lookup is blocking (SQLite) and runs on a worker thread; each is cached so that the page,
polled every 15 s by open browsers, costs the history almost nothing: "since when" is looked up
only for a (check, target) whose status changed, readiness is re-evaluated at most every few
minutes, outages at most every minute.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dxagent.model import Result, Status

__all__ = ["SinceCache", "TimedCache", "outage_rows", "readiness_summary"]

log = logging.getLogger(__name__)

Key = tuple[str, str]


class SinceCache:
    """When each (check, target) entered its current status, from the history's transitions.

    A key whose status differs from the cached one is looked up again. The first result of a
    series is itself a transition, so a key without one in the window has either kept its status
    for longer than the window (0.0: "before the window", when the history is that old) or is not
    written yet (the history writes in batches): then the answer is unknown for now (None) and
    asked again after `retry` seconds. If the latest transition is to another status, the change
    is not written yet either, and the current result's start is when it was seen.
    """

    def __init__(self, window: float = 35 * 86400, retry: float = 10.0) -> None:
        self.window = window
        self.retry = retry
        self._known: dict[Key, tuple[Status, float | None, float]] = {}  # status, since, valid until
        self._lock = threading.Lock()

    def missing(self, results: Sequence[Result], now: float) -> list[Result]:
        """Results whose since-time is not cached (or no longer valid) for their current status."""
        known = self._known
        return [r for r in results
                if (hit := known.get((r.check_id, r.target))) is None or hit[0] != r.status or hit[2] < now]

    def lookup(self, results: Sequence[Result], history: Any, now: float) -> None:
        """Fill the cache for `results` (blocking: one transitions query over the window)."""
        if not results:
            return
        last: dict[Key, tuple[float, Status]] = {}
        old_enough = False
        if history is not None:
            try:
                for tr in history.transitions(now - self.window, now + 1):
                    last[(tr.check_id, tr.target)] = (tr.ts, tr.new)
                alive = history.alive_intervals(now - self.window, now)
                old_enough = bool(alive) and alive[0][0] <= now - self.window + 3600
            except Exception as exc:  # a damaged history must not break the page
                log.warning("status page: cannot read transitions: %s", exc)
                history = None
        forever = float("inf")
        with self._lock:
            for r in results:
                key = (r.check_id, r.target)
                if history is None:
                    self._known[key] = (r.status, None, forever)
                elif key not in last:
                    self._known[key] = (r.status, 0.0, forever) if old_enough else (r.status, None, now + self.retry)
                else:
                    ts, status = last[key]
                    self._known[key] = (r.status, ts if status == r.status else r.started, forever)

    def since(self) -> dict[Key, float | None]:
        return {key: since for key, (_, since, _) in self._known.items()}


class TimedCache:
    """One value computed on a worker thread, reused for `max_age` seconds; errors are logged, not raised."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._value: Any = None
        self._at = -1e18
        self._key: Any = None

    def fresh(self, key: Any, now: float) -> bool:
        return key == self._key and now - self._at < self.max_age

    def get(self) -> Any:
        return self._value

    def compute(self, key: Any, fn: Callable[[], Any], now: float) -> Any:
        try:
            value = fn()
        except Exception as exc:
            log.warning("status page: %s: %s", type(exc).__name__, exc)
            value = None
        self._value, self._at, self._key = value, now, key
        return value


def readiness_summary(doc: Mapping[str, Any] | None, lang: str) -> dict[str, Any] | None:
    """Score and the targets not met (names in `lang`) from a site report document."""
    if not doc:
        return None
    counts = doc.get("counts") or {}
    not_met = [{"id": t["id"], "name": (t.get("name") or {}).get(lang) or t["id"], "at_risk": bool(t.get("at_risk"))}
               for t in doc.get("targets", ()) if t.get("outcome") == "not_met"]
    at_risk = [{"id": t["id"], "name": (t.get("name") or {}).get(lang) or t["id"]}
               for t in doc.get("targets", ()) if t.get("outcome") == "met" and t.get("at_risk")]
    return {"score": round(100 * float(doc.get("score") or 0.0)), "met": counts.get("met", 0),
            "not_met": counts.get("not_met", 0), "unknown": counts.get("unknown", 0), "targets_not_met": not_met,
            "at_risk": at_risk, "profile": (doc.get("profile") or {}).get("id", "")}


def outage_rows(items: Sequence[Any], now: float, lang: str) -> list[dict[str, Any]]:
    """Outages (dxagent.history.outages.Outage), newest first, as the page shows them."""
    from dxagent.daemon.statuspage.view import fmt_age, fmt_clock

    rows = []
    for o in sorted(items, key=lambda o: o.start, reverse=True):
        rows.append({"check": o.check_id, "target": o.target, "start": fmt_clock(o.start, now),
                     "end": fmt_clock(o.end, now) if o.end is not None else None,
                     "length": fmt_age(o.length(now), lang), "worst": o.worst.name, "reason": o.reason or ""})
    return rows

"""`POST /api/run`: who may ask, how often, and what "run now" means for the scheduler.

A run is never started beside the scheduler: asking brings the check's next scheduled run
forward (`Scheduler.run_now`), so APScheduler's one-instance rule keeps a manual run and a
scheduled one from ever overlapping, and the check's rhythm restarts from the manual run.
Limits, so a stuck button or a script cannot turn the agent into a load generator: one request
per check per `cooldown` seconds, and at most `per_minute` manual runs in all.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from dxagent.daemon.server import Request, is_loopback

__all__ = ["RunLimiter", "allowed", "same_origin", "resolve"]


class RunLimiter:
    """Per-check cooldown plus a global sliding-window budget (monotonic clock, injectable for tests)."""

    def __init__(self, cooldown: float = 10.0, per_minute: int = 30,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cooldown = cooldown
        self.per_minute = per_minute
        self._clock = clock
        self._last: dict[str, float] = {}
        self._window: deque[float] = deque()

    def wait(self, check_id: str) -> float:
        """Seconds until `check_id` may run again (0: now)."""
        now = self._clock()
        while self._window and now - self._window[0] >= 60.0:
            self._window.popleft()
        per_check = self._last.get(check_id, -1e18) + self.cooldown - now
        overall = (self._window[0] + 60.0 - now) if len(self._window) >= self.per_minute else 0.0
        return max(0.0, per_check, overall)

    def take(self, check_id: str) -> None:
        """Count a run that was started."""
        now = self._clock()
        self._last[check_id] = now
        self._window.append(now)


def allowed(req: Request) -> bool:
    """Loopback peers, or a user the server authenticated (basic auth of the web config)."""
    return req.user is not None or is_loopback(req.peer)


def same_origin(req: Request) -> bool:
    """A browser's cross-site form post carries another Origin: refuse it (CSRF). No Origin: not a browser form."""
    origin = req.headers.get("origin")
    if not origin:
        return True
    if origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == req.headers.get("host", "").lower()


def resolve(only: Sequence[str], checks: Iterable[Any]) -> tuple[list[str], list[str]]:
    """Check ids matching any of `only` (comma-separated ids, groups or kinds), and the names matching nothing."""
    wanted = [w.strip() for item in only for w in item.split(",") if w.strip()]
    chosen: list[str] = []
    unknown = []
    enabled = list(checks)
    for w in wanted:
        hits = [c.id for c in enabled if c.id == w or c.kind == w or w in c.groups]
        if not hits:
            unknown.append(w)
        chosen.extend(h for h in hits if h not in chosen)
    return chosen, unknown

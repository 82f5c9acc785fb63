"""Scheduling checks with APScheduler 3 (asyncio): a fixed rhythm per check, never overlapping.

Each check runs on its own grid `phase + k * interval` (Unix seconds), where the phase is derived
from the check id: the same after every restart, different between checks (load spread), and a
late run never pushes the later ones (no drift, unlike a random jitter added to every run).
The first run after start comes within a few seconds, then the check joins its grid.

Each check is one job with `max_instances=1` (a run still going when the next is due is not
doubled), `coalesce=True` (runs missed while the loop was busy collapse into one) and a misfire
grace of half the interval (a run more than that late is skipped, not run out of rhythm).
Skipped runs are counted per check for `dxagent_check_skipped_runs_total`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

__all__ = ["Scheduler", "PhaseTrigger", "phase_of"]

log = logging.getLogger(__name__)

CHECK_PREFIX = "check:"


def _fraction(text: str) -> float:
    """A number in [0, 1) fixed by `text` (not Python's hash(), which changes with every process)."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def phase_of(check_id: str, interval: float) -> float:
    """The check's offset within its interval, in [0, interval): stable across restarts and hosts."""
    return _fraction(check_id) * interval


class PhaseTrigger(BaseTrigger):
    """Fires at `phase + k * interval` (Unix seconds); the first time within `first_within` s of start.

    Successive fire times are computed from the previous *scheduled* time, never from when a run
    actually started, so a late run does not shift the rhythm. `first_within` spreads the first
    runs of a restart (deterministically, from `key`) instead of waiting up to a whole interval.
    After a run off the grid (that first run, or one brought forward by `Scheduler.run_now`) the
    next is the first grid time at least half an interval later.
    """

    __slots__ = ("_first_frac", "first_within", "interval", "phase")

    def __init__(self, interval: float, phase: float, first_within: float = 3.0, key: str = "") -> None:
        if not interval > 0:
            raise ValueError("interval must be positive")
        self.interval = float(interval)
        self.phase = float(phase) % self.interval
        self.first_within = max(0.0, min(first_within, self.interval))
        self._first_frac = _fraction("first:" + key)

    def grid_after(self, ts: float, strictly: bool) -> float:
        """The first grid time at (or strictly after) `ts`, robust to float rounding of stored times."""
        k = math.ceil((ts - self.phase) / self.interval)
        t = self.phase + k * self.interval
        if t < ts - 1e-3 or (strictly and t <= ts + 1e-3):
            t += self.interval
        return t

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        if previous_fire_time is None:
            first = min(self.grid_after(now.timestamp(), strictly=False),
                        now.timestamp() + self._first_frac * self.first_within)
            return datetime.fromtimestamp(first, UTC)
        prev = previous_fire_time.timestamp()
        nxt = self.grid_after(prev, strictly=True)
        if nxt - prev < self.interval / 2 and not self.on_grid(prev):
            nxt += self.interval  # after an off-grid run (the first one, a "run now"), not twice in a row
        return datetime.fromtimestamp(nxt, UTC)

    def on_grid(self, ts: float) -> bool:
        off = (ts - self.phase) % self.interval
        return min(off, self.interval - off) < 1e-3

    def __str__(self) -> str:
        return f"phase[{self.interval:g}s +{self.phase:.3f}s]"

    def __repr__(self) -> str:
        return f"<PhaseTrigger (interval={self.interval!r}, phase={self.phase!r})>"


class Scheduler:
    """Check jobs plus the daemon's housekeeping jobs, and a count of checks running now."""

    def __init__(self, run_check: Callable[[str], Awaitable[None]], first_delay: float = 3.0) -> None:
        self._run_check = run_check
        self._first_delay = first_delay
        self._aps = AsyncIOScheduler(timezone=UTC)
        self._aps.add_listener(self._on_skip, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self.skipped: dict[str, int] = {}
        self.running: set[str] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def alive(self) -> bool:
        """The scheduler thread of control is running (for /healthz)."""
        return bool(self._aps.running)

    def start(self) -> None:
        self._aps.start()

    def _on_skip(self, event: JobEvent) -> None:
        if event.job_id.startswith(CHECK_PREFIX):
            check_id = event.job_id[len(CHECK_PREFIX):]
            self.skipped[check_id] = self.skipped.get(check_id, 0) + 1
            why = "still running" if event.code == EVENT_JOB_MAX_INSTANCES else "too late"
            log.warning("skipped a run of check %s: previous run %s", check_id, why, extra={"check": check_id})

    async def _job(self, check_id: str) -> None:
        self.running.add(check_id)
        self._idle.clear()
        try:
            await self._run_check(check_id)
        except asyncio.CancelledError:
            # Only at exit, for a run still going after the grace period: say so in one line
            # instead of letting APScheduler log the cancellation as a crash with a traceback.
            log.info("check %s: run cancelled at shutdown", check_id, extra={"check": check_id})
        except Exception:
            log.exception("check %s: scheduling wrapper failed", check_id, extra={"check": check_id})
        finally:
            self.running.discard(check_id)
            if not self.running:
                self._idle.set()

    def sync(self, checks: Iterable[Any], changed: set[str] | None = None) -> None:
        """Make the check jobs match `checks` (enabled configs): add new, drop gone, reschedule `changed`.

        Unchanged checks keep their job and rhythm, so a reload does not reset every timer.
        """
        wanted = {c.id: c for c in checks}
        current = {j.id[len(CHECK_PREFIX):] for j in self._aps.get_jobs() if j.id.startswith(CHECK_PREFIX)}
        for check_id in current - wanted.keys():
            self._aps.remove_job(CHECK_PREFIX + check_id)
            self.skipped.pop(check_id, None)
        for check_id, cfg in wanted.items():
            if check_id in current and check_id not in (changed or set()):
                continue
            trigger = PhaseTrigger(cfg.interval, phase_of(check_id, cfg.interval), self._first_delay, check_id)
            self._aps.add_job(
                self._job, trigger, args=(check_id,), id=CHECK_PREFIX + check_id, name=check_id,
                replace_existing=True, max_instances=1, coalesce=True,
                misfire_grace_time=max(1, int(cfg.interval / 2)),
            )

    def run_now(self, check_id: str) -> bool:
        """Bring a check's next scheduled run forward to now (the status page's "run now").

        The run stays APScheduler's own job, so `max_instances=1` keeps it from overlapping a
        scheduled run, and the check returns to its grid (the first grid time at least half an
        interval later: `PhaseTrigger`). False when the check has no job or is running at this
        moment (its result is about to arrive anyway).
        """
        job = self._aps.get_job(CHECK_PREFIX + check_id)
        if job is None or check_id in self.running:
            return False
        job.modify(next_run_time=datetime.now(UTC))  # modify_job wakes the scheduler up
        return True

    def every(self, name: str, seconds: float, fn: Callable[[], Awaitable[None]], first: float | None = None) -> None:
        """A housekeeping job (push, snapshot, heartbeat, compaction) with the same no-overlap rules."""
        start = datetime.now(UTC) + timedelta(seconds=seconds if first is None else first)
        self._aps.add_job(fn, IntervalTrigger(seconds=seconds, timezone=UTC), id=name, name=name,
                          replace_existing=True, max_instances=1, coalesce=True,
                          misfire_grace_time=max(1, int(seconds / 2)), next_run_time=start)

    def cancel(self, name: str) -> None:
        if self._aps.get_job(name) is not None:
            self._aps.remove_job(name)

    async def stop(self, grace: float) -> bool:
        """Stop scheduling, then wait up to `grace` seconds for running checks; True if all finished."""
        if self._aps.running:
            self._aps.shutdown(wait=False)
        # A run APScheduler has just submitted is a task that has not entered `_job` yet, so it is
        # not in `running`; one turn of the loop lets it register before we wait for idleness.
        await asyncio.sleep(0)
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            log.warning("stopping with %d check(s) still running after %.0f s: %s",
                        len(self.running), grace, ", ".join(sorted(self.running)))
            return False
        return True

"""Results on their way into the history: batched, kept in memory while the state folder cannot be
written, written when it can again, and counted for /healthz and /metrics.

A full or read-only state folder must not cost the results of the outage (reports would call that
time "no data") nor flood the log. So a failed write (or a folder with less than `MIN_FREE_BYTES`
free, or mounted read-only) switches to buffering: results stay in a bounded memory buffer
(`MAX_RESULTS` results or `MAX_BYTES`, oldest dropped beyond, counted), the write is retried every
`RETRY_SECONDS`, and the log gets one line entering the state, one leaving it and at most one
reminder per `REMIND_SECONDS`. The free-space test is what makes a full folder visible within
seconds: SQLite keeps writing into the already allocated WAL for a while after the disk fills.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from dxagent.model import Result, Sample

__all__ = ["FaultState", "HistoryWriter", "describe", "folder_problem", "METRICS",
           "MAX_RESULTS", "MAX_BYTES", "MIN_FREE_BYTES", "RETRY_SECONDS", "REMIND_SECONDS"]

log = logging.getLogger("dxagent.history")
T = TypeVar("T")
Blocking = Callable[..., Awaitable[Any]]

MAX_RESULTS = 20_000
MAX_BYTES = 16 * 2**20
MIN_FREE_BYTES = 256 * 1024   # below this the folder counts as full: the WAL and a checkpoint need room
RETRY_SECONDS = 5.0
REMIND_SECONDS = 600.0
CHUNK = 2_000                 # results per transaction when writing the buffer back

# The daemon's own series about its state folder: (name, type, help, labels). The exporter
# declares them with the other agent families (see docs/metrics.md).
METRICS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("dxagent_state_writable", "gauge",
     "1 while the agent can write this file of its state folder, 0 while writes fail or the folder is "
     "full or read-only.", ("file",)),
    ("dxagent_state_write_failures_total", "counter",
     "Writes to the state folder that failed (retries included), per file.", ("file",)),
    ("dxagent_history_buffered_results", "gauge",
     "Results kept in memory because they could not be written to the history yet.", ()),
    ("dxagent_history_dropped_results_total", "counter",
     "Results lost because the history could not be written and the memory buffer was full.", ()),
)


def describe(exc: BaseException) -> str:
    """A short reason for a failed write, without a traceback."""
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    if code == 13 or getattr(exc, "errno", None) == 28:  # SQLITE_FULL, ENOSPC
        return "no space left in the state folder"
    if code == 8 or getattr(exc, "errno", None) == 30:   # SQLITE_READONLY, EROFS
        return "the state folder is read-only"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def folder_problem(folder: Path, min_free: int = MIN_FREE_BYTES) -> str | None:
    """Why `folder` cannot take writes now (read-only, nearly full), or None; never raises."""
    try:
        st = os.statvfs(folder)
    except OSError as exc:
        return f"cannot examine the state folder: {exc.strerror or exc}"
    if st.f_flag & os.ST_RDONLY:
        return "the state folder is read-only"
    free = st.f_bavail * st.f_frsize
    if free < min_free:
        return f"no space left in the state folder ({free // 1024} KiB free)"
    return None


class FaultState:
    """Writable or failing, for one file of the state folder, with the log policy of issue 16:
    one ERROR entering, one line leaving, at most one reminder per `remind` seconds."""

    def __init__(self, name: str, what: str, remind: float = REMIND_SECONDS) -> None:
        self.name = name          # the `file` label: "history", "snapshot"
        self.what = what          # for log lines: "the history file /var/lib/dxagent/history.sqlite"
        self.remind = remind
        self.reason: str | None = None
        self.since: float | None = None
        self.failures = 0
        self._reminded = 0.0

    @property
    def ok(self) -> bool:
        return self.reason is None

    def failed(self, reason: str, detail: str = "") -> None:
        """A write failed (or was not tried because the folder cannot take it)."""
        self.failures += 1
        now = time.monotonic()
        if self.reason is None:
            self.reason, self.since, self._reminded = reason, time.time(), now
            log.error("cannot write %s: %s%s", self.what, reason, detail)
            return
        self.reason = reason
        if now - self._reminded >= self.remind:
            self._reminded = now
            minutes = (time.time() - (self.since or time.time())) / 60
            log.error("still cannot write %s after %.0f min: %s%s", self.what, minutes, reason, detail)

    def recovered(self, detail: str = "", level: int = logging.INFO) -> None:
        if self.reason is None:
            return
        seconds = time.time() - (self.since or time.time())
        self.reason, self.since = None, None
        log.log(level, "%s is writable again after %.0f s%s", self.what[0].upper() + self.what[1:], seconds, detail)

    def samples(self) -> dict[str, list[Sample]]:
        return {"dxagent_state_writable": [Sample.of("x", 1.0 if self.ok else 0.0, file=self.name)],
                "dxagent_state_write_failures_total": [Sample.of("x", self.failures, file=self.name)]}

    def health(self) -> dict[str, Any]:
        return {"writable": self.ok, "reason": self.reason, "since": self.since, "failures": self.failures}


def _cost(r: Result) -> int:
    """Approximate bytes a buffered Result holds (object, texts, samples, details)."""
    return 600 + 120 * len(r.samples) + 80 * len(r.details)


class HistoryWriter:
    """The daemon's only way into the History: `add()` on the loop, `flush()` writes off the loop."""

    def __init__(self, path: Path, run_blocking: Blocking, *, history: Any = None,
                 opener: Callable[[], Any] | None = None, on_open: Callable[[Any], None] | None = None,
                 max_results: int = MAX_RESULTS, max_bytes: int = MAX_BYTES, retry: float = RETRY_SECONDS,
                 min_free: int = MIN_FREE_BYTES) -> None:
        """`history`: an open History, or None with `opener` to open it (retried while it fails, e.g.
        a state folder read-only at start); `on_open` is told when a late open succeeded."""
        self.history = history
        self.folder = path.parent
        self.fault = FaultState("history", f"the history {path}")
        self._opener, self._on_open = opener, on_open
        self._run = run_blocking
        self.max_results, self.max_bytes, self.retry, self.min_free = max_results, max_bytes, retry, min_free
        self._pending: collections.deque[tuple[Result, float, int]] = collections.deque()
        self._bytes = 0
        self.dropped = 0
        self._dropping_logged = False
        self._next_try = 0.0
        self._lock = asyncio.Lock()

    @property
    def buffered(self) -> int:
        return len(self._pending)

    def add(self, results: Sequence[Result], intervals: Mapping[str, float]) -> None:
        """Queue results (with their check's interval now); the oldest go when the bound is passed."""
        for r in results:
            cost = _cost(r)
            self._pending.append((r, intervals.get(r.check_id, 60.0), cost))
            self._bytes += cost
        over = 0
        while self._pending and (len(self._pending) > self.max_results or self._bytes > self.max_bytes):
            _, _, cost = self._pending.popleft()
            self._bytes -= cost
            over += 1
        if over:
            self.dropped += over
            if not self._dropping_logged:
                self._dropping_logged = True
                log.warning("history buffer full (%d results): dropping the oldest results until %s can be written",
                            len(self._pending), self.fault.what)

    async def flush(self) -> None:
        """Write what is queued; while failing, only every `retry` seconds (cheap otherwise)."""
        async with self._lock:
            if self.fault.ok and not self._pending:
                return
            if not self.fault.ok and time.monotonic() < self._next_try:
                return
            if self.history is None and not await self._open():
                return
            problem = await self._run(folder_problem, self.folder, self.min_free)
            if problem is not None:
                self._failed(problem)
                self._next_try = 0.0  # statvfs is cheap: look again at the next flush (about every second)
                return
            if not self._pending:  # failing with nothing queued (a heartbeat failed): a heartbeat tests the file
                try:
                    await self._run(self.history.heartbeat)
                except (sqlite3.Error, OSError) as exc:
                    self._failed(describe(exc))
                    return
            while self._pending:
                batch = [self._pending[i] for i in range(min(CHUNK, len(self._pending)))]
                try:
                    await self._run(self.history.record, [b[0] for b in batch], {b[0].check_id: b[1] for b in batch})
                except (sqlite3.Error, OSError, ValueError) as exc:
                    self._failed(describe(exc))
                    return
                for _ in batch:
                    self._bytes -= self._pending.popleft()[2]
            if not self.fault.ok:
                dropped = f"; {self.dropped} result(s) were dropped (buffer full)" if self._dropping_logged else ""
                self.fault.recovered(f"; buffered results written{dropped}",
                                     logging.WARNING if self._dropping_logged else logging.INFO)
                self._dropping_logged = False

    async def _open(self) -> bool:
        if self._opener is None:
            return False
        from dxagent.history.file import HistoryError

        try:
            self.history = await self._run(self._opener)
        except (HistoryError, sqlite3.Error, OSError, ValueError) as exc:
            self._failed(describe(exc))
            return False
        if self._on_open is not None:
            self._on_open(self.history)
        return True

    def retry_now(self) -> None:
        """Let the next flush try at once (at exit) instead of waiting for the retry time."""
        self._next_try = 0.0

    def opening_failed(self, exc: BaseException) -> None:
        """The first open (at start) failed: report it, buffer, and retry like any failed write."""
        self._failed(describe(exc))

    def _failed(self, reason: str) -> None:
        self._next_try = time.monotonic() + self.retry
        self.fault.failed(reason, f"; keeping results in memory (up to {self.max_results:,} results or "
                                  f"{self.max_bytes // 2**20} MiB), retrying every {self.retry:g} s; "
                                  f"{len(self._pending)} buffered, {self.dropped} dropped")

    async def maintain(self, fn: Callable[[], T], what: str) -> T | None:
        """Heartbeat or compaction: skipped while failing (the buffer's write will say when it works)."""
        if not self.fault.ok or self.history is None:
            return None
        try:
            return await self._run(fn)
        except (sqlite3.Error, OSError) as exc:
            self._failed(describe(exc))  # the next flush retries and logs the way back
            log.debug("history %s failed: %s", what, exc)
            return None

    def samples(self) -> dict[str, list[Sample]]:
        out = self.fault.samples()
        out["dxagent_history_buffered_results"] = [Sample("x", float(len(self._pending)))]
        out["dxagent_history_dropped_results_total"] = [Sample("x", float(self.dropped))]
        return out

    def health(self) -> dict[str, Any]:
        return {**self.fault.health(), "buffered": len(self._pending), "dropped": self.dropped}

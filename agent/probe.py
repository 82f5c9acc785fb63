"""What a probe gets besides its config: timing, per-check state and a Result builder.

Also `run_blocking`, which runs blocking work (psutil, getaddrinfo, file reads) on a daemon
thread: a thread stuck in the kernel can neither delay the runner past a check's timeout nor
keep the process from exiting, which the default executor would do.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, TypeVar

from dxagent.model import Reason, Result, Sample, Status, Text

__all__ = ["DaemonExecutor", "ProbeContext", "probe_budget", "run_blocking"]

T = TypeVar("T")


class DaemonExecutor(concurrent.futures.ThreadPoolExecutor):
    """A pool of daemon worker threads, at most `max_workers`, reused between calls.

    Threads are never joined at interpreter exit, so a hung resolver call cannot hang
    `dxagent check`; the bound keeps a flood of hung calls from exhausting threads. Workers are
    kept for `idle_seconds` after their last job: a thread per call cost the daemon about 15 % of
    its CPU at 200 checks (bench/bench_daemon.py).
    """

    def __init__(self, max_workers: int = 32, idle_seconds: float = 60.0) -> None:
        super().__init__(max_workers=1)  # base state only; submit() below never uses its workers
        self._jobs: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._max = max_workers
        self._idle_seconds = idle_seconds
        self._threads = 0
        self._idle = 0

    @property
    def threads(self) -> int:
        """Worker threads alive now (for tests and the bench)."""
        return self._threads

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            self._jobs.put((future, fn, args, kwargs))
            if self._jobs.qsize() > self._idle and self._threads < self._max:
                self._threads += 1
                self._idle += 1
                threading.Thread(target=self._work, daemon=True, name="dxagent-blocking").start()
        return future

    def _work(self) -> None:
        while True:
            try:
                future, fn, args, kwargs = self._jobs.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty():  # decided under the lock: a job put meanwhile sees one fewer idle
                        self._idle -= 1
                        self._threads -= 1
                        return
                continue
            with self._lock:
                self._idle -= 1
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # handed to the awaiting side
                    future.set_exception(exc)
            del future, fn, args, kwargs
            with self._lock:
                self._idle += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to join: threads are daemons."""


_EXECUTOR = DaemonExecutor()


def probe_budget(timeout: float) -> float:
    """The time a probe should plan for: a margin below the hard timeout so it can say which phase ran out."""
    return max(timeout - min(0.5, timeout * 0.1), timeout * 0.5)


def install_executor(loop: asyncio.AbstractEventLoop) -> None:
    """Make the daemon executor the loop's default (used by getaddrinfo and to_thread)."""
    loop.set_default_executor(_EXECUTOR)


async def run_blocking(fn: Callable[..., T], /, *args: Any) -> T:
    """Run a blocking function on a daemon thread and await its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_EXECUTOR, fn, *args)


@dataclasses.dataclass
class ProbeContext:
    """Handed to `probe(cfg, ctx)`.

    `state` survives between runs of the same check in one process (counters for rates);
    `site` is the site block; `log` carries the check id.
    """

    check_id: str
    kind: str
    site: Any = None
    state: MutableMapping[str, Any] = dataclasses.field(default_factory=dict)
    started: float = dataclasses.field(default_factory=time.time)
    timeout: float = 10.0
    services: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    log: logging.LoggerAdapter[logging.Logger] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.log = logging.LoggerAdapter(logging.getLogger("dxagent.checks." + self.kind), {"check": self.check_id})

    def result(
        self,
        status: Status,
        summary: Text,
        *,
        target: str = "",
        hint: Text | None = None,
        reason: Reason | None = None,
        samples: list[Sample] | tuple[Sample, ...] = (),
        details: Mapping[str, Any] | None = None,
    ) -> Result:
        """Build a Result for this check; the runner fills in the duration."""
        return Result(
            check_id=self.check_id,
            kind=self.kind,
            target=target,
            status=status,
            summary=summary,
            hint=hint,
            reason=reason,
            samples=tuple(samples),
            details=dict(details or {}),
            started=self.started,
        )

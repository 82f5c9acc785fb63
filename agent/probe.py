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
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, TypeVar

from dxagent.model import Reason, Result, Sample, Status, Text

__all__ = ["DaemonExecutor", "ProbeContext", "run_blocking"]

T = TypeVar("T")


class DaemonExecutor(concurrent.futures.ThreadPoolExecutor):
    """An executor whose work runs on daemon threads, at most `max_workers` at once.

    Threads are never joined at interpreter exit, so a hung resolver call cannot hang
    `dxagent check`; the bound keeps a flood of hung calls from exhausting threads.
    """

    def __init__(self, max_workers: int = 32) -> None:
        super().__init__(max_workers=1)  # base state only; submit() below never uses its workers
        self._slots = threading.BoundedSemaphore(max_workers)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def work() -> None:
            with self._slots:
                if not future.set_running_or_notify_cancel():
                    return
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # handed to the awaiting side
                    future.set_exception(exc)

        threading.Thread(target=work, daemon=True, name="dxagent-blocking").start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to join: threads are daemons."""


_EXECUTOR = DaemonExecutor()


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

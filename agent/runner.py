"""Runs checks: bounded concurrency, one timeout per attempt, retries, and the crash barrier.

Nothing a probe does can escape: an exception becomes an UNKNOWN result with the reason, a
probe that outlives its timeout is abandoned (not awaited) and reported CRIT/timeout, so one
hostile target never holds up the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dxagent import checks as registry
from dxagent.config.check import CheckConfig
from dxagent.config.types import format_duration
from dxagent.model import Reason, Result, Status, t
from dxagent.probe import ProbeContext, probe_budget

__all__ = ["Runner", "SelectionError", "probe_budget", "select"]

log = logging.getLogger(__name__)


class SelectionError(ValueError):
    """`--only` named something that is neither a check id, a kind nor a group."""


def select(checks: Sequence[CheckConfig], only: Iterable[str] = ()) -> list[CheckConfig]:
    """The enabled checks matching any of `only` by id, kind or group (all when empty)."""
    wanted = [w for w in only if w]
    enabled = [c for c in checks if c.enabled]
    if not wanted:
        return enabled
    chosen = [c for c in enabled if c.id in wanted or c.kind in wanted or set(c.groups) & set(wanted)]
    known = {c.id for c in checks} | {c.kind for c in checks} | {g for c in checks for g in c.groups}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise SelectionError(
            f"--only {', '.join(unknown)}: no check, kind or group of that name; known: {', '.join(sorted(known))}"
        )
    return chosen


class Runner:
    """Runs check configs into Results; keeps per-check state between runs."""

    def __init__(self, site: Any = None, concurrency: int = 16, services: Mapping[str, Any] | None = None) -> None:
        self.site = site
        self.concurrency = concurrency
        self.services = dict(services or {})
        self.states: dict[str, dict[str, Any]] = {}
        self._sem: asyncio.Semaphore | None = None

    async def run_all(self, checks: Sequence[CheckConfig]) -> list[Result]:
        """Run checks concurrently (at most `concurrency` at once); results in config order."""
        groups = await asyncio.gather(*(self.run(c) for c in checks))
        return [r for g in groups for r in g]

    async def run(self, cfg: CheckConfig) -> list[Result]:
        """One check with its retries, under the concurrency bound."""
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.concurrency)
        async with self._sem:
            attempt = 1
            while True:
                results = await self._attempt(cfg)
                failed = any(r.status >= Status.CRIT for r in results)
                if not failed or attempt > cfg.retries:
                    return [r.replace(attempts=attempt) for r in results]
                log.debug("check %s failed attempt %d, retrying", cfg.id, attempt)
                attempt += 1
                await asyncio.sleep(cfg.retry_delay)

    async def _attempt(self, cfg: CheckConfig) -> list[Result]:
        ctx = ProbeContext(
            check_id=cfg.id,
            kind=cfg.kind,
            site=self.site,
            state=self.states.setdefault(cfg.id, {}),
            timeout=probe_budget(cfg.timeout),
            services=self.services,
        )
        t0 = time.monotonic()
        task: asyncio.Task[Any] | None = None
        try:
            probe = registry.probe_fn(cfg.kind)
            task = asyncio.ensure_future(probe(cfg, ctx))
            done, _ = await asyncio.wait({task}, timeout=cfg.timeout)
            if not done:
                task.cancel()  # not awaited: a probe that ignores cancellation cannot stall us
                task.add_done_callback(_consume)
                results = [self._timeout(cfg, ctx)]
            else:
                results = _normalise(task.result(), cfg, ctx)
        except asyncio.CancelledError:
            if task is not None:
                task.cancel()
            raise
        except Exception as exc:  # the crash barrier: every failure becomes a result
            log.warning("check %s (%s) raised %s: %s", cfg.id, cfg.kind, type(exc).__name__, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            results = [self._crashed(cfg, ctx, exc)]
        duration = time.monotonic() - t0
        return [r.replace(duration=duration) for r in results]

    @staticmethod
    def _timeout(cfg: CheckConfig, ctx: ProbeContext) -> Result:
        return ctx.result(
            Status.CRIT,
            t("no answer within the {timeout} timeout", "không có phản hồi trong thời hạn {timeout}",
              timeout=format_duration(cfg.timeout)),
            target=cfg.target_label(),
            reason=Reason.TIMEOUT,
            hint=t("The target or the path to it is too slow or down; check the link, then raise `timeout` if it is merely slow.",
                   "Đích hoặc đường truyền quá chậm hoặc bị gián đoạn; kiểm tra đường truyền, nếu chỉ chậm thì tăng `timeout`."),
        )

    @staticmethod
    def _crashed(cfg: CheckConfig, ctx: ProbeContext, exc: BaseException) -> Result:
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return ctx.result(
            Status.UNKNOWN,
            t("check could not run: {what}", "không chạy được kiểm tra: {what}", what=what),
            target=cfg.target_label(),
            reason=Reason.INTERNAL,
            hint=t("This is a fault in dxagent or its environment; run with -v and report it.",
                   "Lỗi của dxagent hoặc môi trường chạy; chạy lại với -v và báo cáo lỗi."),
        )


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _normalise(value: Any, cfg: CheckConfig, ctx: ProbeContext) -> list[Result]:
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items or not all(isinstance(r, Result) for r in items):
        raise TypeError(f"probe for kind {cfg.kind!r} returned {type(value).__name__}, not Result(s)")
    return list(items)

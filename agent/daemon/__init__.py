"""`dxagent run`: config → scheduler → Runner → Latest/History → exporters, plus reload and shutdown.

One asyncio loop carries everything: scheduled checks, the HTTP listener, pushes, snapshot
writes. Blocking work (SQLite, file writes, bcrypt, pushes) goes to daemon threads through
`run_blocking`, so a slow disk or gateway never delays a probe or a scrape. A reload swaps the
config only after the new file validated completely; until then the old one keeps running.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dxagent import __version__
from dxagent.config import Config, ConfigError, resolve
from dxagent.daemon.http import HttpApi
from dxagent.daemon.scheduler import Scheduler
from dxagent.daemon.server import HTTPServer, parse_listen
from dxagent.daemon.webconfig import WebConfig, load_web_config
from dxagent.exporters import prometheus as prom
from dxagent.history.writer import FaultState, HistoryWriter
from dxagent.latest import Latest
from dxagent.model import Sample, Status
from dxagent.probe import install_executor, run_blocking
from dxagent.runner import Runner

if TYPE_CHECKING:
    from dxagent.alerts import notifier as notify

__all__ = ["Daemon", "HISTORY_FILE", "SNAPSHOT_FILE", "history_path", "snapshot_path", "load_config"]

log = logging.getLogger(__name__)

HISTORY_FILE = "history.sqlite"
SNAPSHOT_FILE = "snapshot.json"
SHUTDOWN_GRACE = 10.0
HISTORY_FLUSH = 1.0


def history_path(cfg: Config) -> Path:
    return cfg.state_dir / HISTORY_FILE


def snapshot_path(cfg: Config) -> Path:
    return cfg.snapshot.path or cfg.state_dir / SNAPSHOT_FILE


def load_config(path: Path | None) -> Config:
    """The same lookup as `dxagent check` (`dxagent.config.resolve`); raises ConfigError."""
    return resolve(path)


def _log_problems(exc: ConfigError, what: str) -> None:
    log.error("%s: the configuration has %d problem(s); keeping the running configuration", what, len(exc.problems))
    for p in exc.problems:
        log.error("  %s", p)


class Daemon(HttpApi):
    """The running agent. `run()` returns the exit code; `stop()`/`reload()` may be called any time."""

    def __init__(self, cfg: Config, config_path: Path | None = None, listen: str | None = None,
                 web: WebConfig | None = None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.listen_override = listen
        self.web = web or WebConfig()
        self.latest = Latest(c.id for c in cfg.checks if c.enabled)
        self.exporter = prom.Exporter()
        self.store: HistoryWriter | None = None  # the way into the History (buffers while it cannot be written)
        self.snapshot_fault = FaultState("snapshot", "the snapshot")
        self.notifier: notify.Notifier | None = None
        self.readiness: tuple[Any, ...] = ()  # the latest readiness Results (metrics only)
        self.runner = Runner(site=cfg.site, concurrency=cfg.concurrency)
        self.scheduler: Scheduler | None = None
        self.server: HTTPServer | None = None
        self.generation = 0
        self.started = time.time()
        self.reload_ok = True
        self.reload_ts = time.time()
        self._stop = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._flush_task: asyncio.Task[None] | None = None
        self._snapshot_dirty = False
        self._push_failing = False
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- the current config, as the jobs and the exporter see it --------------------------------

    @property
    def cfg(self) -> Config:
        return self._cfg

    @cfg.setter
    def cfg(self, value: Config) -> None:
        self._cfg = value
        self.checks: dict[str, Any] = {c.id: c for c in value.checks if c.enabled}

    @property
    def history(self) -> Any:
        """The open History, or None (not opened yet, or not openable: results wait in `store`)."""
        return self.store.history if self.store is not None else None

    @property
    def listen(self) -> str:
        return self.listen_override or self.cfg.server.listen

    def view(self) -> prom.ScrapeView:
        checks = self.checks
        skipped = self.scheduler.skipped if self.scheduler else {}
        agent: dict[str, list[Sample]] = {
            "dxagent_check_interval_seconds": [Sample.of("x", c.interval, check=c.id, kind=c.kind) for c in checks.values()],
            "dxagent_check_skipped_runs_total": [
                Sample.of("x", skipped.get(c.id, 0), check=c.id, kind=c.kind) for c in checks.values()],
            "dxagent_checks_configured": [Sample("x", float(len(checks)))],
            "dxagent_config_last_reload_successful": [Sample("x", 1.0 if self.reload_ok else 0.0)],
            "dxagent_config_last_reload_success_timestamp_seconds": [Sample("x", round(self.reload_ts, 3))],
            **self.state_samples(),
        }
        results = self.latest.snapshot()
        if self.readiness:
            from dxagent.daemon.readiness_job import CHECK_ID, pseudo_check

            checks = {**checks, CHECK_ID: pseudo_check(self.cfg)}
            results = results + self.readiness
        return prom.ScrapeView(results, checks, self.cfg.site, self.cfg.labels, self.generation, agent)

    def state_samples(self) -> dict[str, list[Sample]]:
        """The state folder's series (dxagent.history.writer.METRICS): writable, failures, buffered, dropped."""
        out: dict[str, list[Sample]] = {}
        for part in ((self.store,) if self.store is not None else ()):
            for name, samples in part.samples().items():
                out.setdefault(name, []).extend(samples)
        if self.cfg.snapshot.enabled:
            for name, samples in self.snapshot_fault.samples().items():
                out.setdefault(name, []).extend(samples)
        return out

    @property
    def lang(self) -> str:
        from dxagent.i18n import detect_lang
        return detect_lang(self.cfg.lang)

    # --- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        install_executor(loop)
        await self._open_history()
        self._sync_notifier(self.cfg)
        self.scheduler = Scheduler(self._run_check)
        self.scheduler.sync(self.checks.values())
        self._schedule_housekeeping()
        if not await self._start_server(self.listen, self.web):
            return 1
        for sig, fn in ((signal.SIGTERM, self.stop), (signal.SIGINT, self.stop), (signal.SIGHUP, self._on_hup)):
            loop.add_signal_handler(sig, fn)
        self.scheduler.start()
        log.info("dxagent %s started: site %s, %d checks, config %s", __version__, self.cfg.site.id,
                 len(self.checks), self.cfg.source)
        await self._stop.wait()
        return await self._shutdown()

    def _sync_notifier(self, cfg: Config) -> None:
        """Start, reconfigure or stop the local notifier; its module (and smtplib, email) is imported
        only by configs that have one, as most sites leave alerting to Prometheus."""
        if cfg.notify is None and self.notifier is None:
            return
        from dxagent.alerts import notifier as notify

        self.notifier = notify.sync(self.notifier, cfg)

    def stop(self) -> None:
        """Ask the daemon to finish (signal handler safe)."""
        if not self._stop.is_set():
            log.info("stopping: no new checks; waiting up to %.0f s for running ones", SHUTDOWN_GRACE)
        self._stop.set()

    def _on_hup(self) -> None:
        self._spawn(self.reload("SIGHUP"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _shutdown(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        assert self.scheduler is not None
        await self.scheduler.stop(SHUTDOWN_GRACE)
        if self.notifier is not None:
            await self.notifier.close()
        if self.server is not None:
            await self.server.close()
        await self._flush_history(final=True)
        if self.history is not None:
            await self._heartbeat()  # alive until now: the last results are credited up to the stop
        if self.cfg.snapshot.enabled and self._snapshot_dirty:
            await self._write_snapshot()
        if self.history is not None:
            await run_blocking(self.history.close)
        log.info("stopped")
        return 0

    async def _open_history(self) -> None:
        """Open the history; if that fails (state folder read-only, full, missing), results are kept in
        memory and the open is retried with every flush, so the history starts as soon as it can."""
        from dxagent.history import History, HistoryError

        store = self.cfg.store
        path = history_path(self.cfg)

        def opener() -> History:
            return History.open(path, raw_retention=store.raw_retention, retention=store.retention,
                                max_bytes=store.max_size)

        self.store = HistoryWriter(path, run_blocking, opener=opener, on_open=self._history_opened)
        try:
            self.store.history = await run_blocking(opener)
        except (HistoryError, OSError, ValueError) as exc:
            self.store.opening_failed(exc)
            return
        self._history_opened(self.store.history)

    def _history_opened(self, history: Any) -> None:
        self.runner.services["history"] = history
        log.info("history in %s", history.path)
        if self.scheduler is not None:
            self._schedule_housekeeping()  # the jobs that need a history

    async def _start_server(self, listen: str, web: WebConfig) -> bool:
        if parse_listen(listen)[1] == 0:
            log.info("HTTP listener disabled (port 0)")
            self.server = None
            return True
        server = HTTPServer(self._routes(), web)
        try:
            await server.start(listen)
        except (OSError, ConfigError) as exc:
            log.error("cannot listen on %s: %s", listen, exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)
            return False
        self.server = server
        return True

    def _schedule_housekeeping(self) -> None:
        assert self.scheduler is not None
        sch, cfg = self.scheduler, self.cfg
        sch.every("trim", 3600, self._trim_memory, first=30)
        if self.history is not None:
            sch.every("heartbeat", 60, self._heartbeat, first=1)
            sch.every("compact", 3600, self._compact, first=300)
        if cfg.snapshot.enabled:
            sch.every("snapshot", cfg.snapshot.interval, self._snapshot_job)
        else:
            sch.cancel("snapshot")
        if cfg.push.url:
            sch.every("push", cfg.push.interval, self._push_job, first=min(cfg.push.interval, 3))
        else:
            sch.cancel("push")
        if cfg.readiness.enabled and self.history is not None:
            sch.every("readiness", cfg.readiness.interval, self._readiness_job, first=min(cfg.readiness.interval, 5))
        else:
            sch.cancel("readiness")
            self.readiness = ()

    async def _readiness_job(self) -> None:
        """Readiness Results live beside Latest, not in it: they are metrics, not check results for
        /api/results and the snapshot (reports recompute readiness from the history)."""
        from dxagent.daemon import readiness_job

        results = await readiness_job.evaluate(self.cfg, self.history)
        if results:
            self.readiness = tuple(results)

    # --- checks ------------------------------------------------------------------------------------

    async def _run_check(self, check_id: str) -> None:
        cfg = self.checks.get(check_id)
        if cfg is None:
            return
        runner = self.runner
        results = await runner.run(cfg)
        current = self.checks.get(check_id)
        if current is not cfg and current != cfg:  # identity first: comparing models field by field costs
            return  # reloaded meanwhile with another config: its results are not the truth any more
        before = {r.target: r.status for r in self.latest.get(check_id)}
        self.latest.update(results)
        if self.notifier is not None:
            self.notifier.feed(results)  # queues only: delivery runs in the notifier's own tasks
        for r in results:
            old = before.get(r.target)
            if old is not None and old != r.status:
                level = logging.INFO if r.status <= Status.WARN else logging.WARNING
                log.log(level, "%s %s: %s → %s: %s", check_id, r.target, old.name, r.status.name, r.summary.en,
                        extra={"check": check_id, "target": r.target, "reason": r.reason.value if r.reason else None})
        self._snapshot_dirty = True
        if self.store is not None:
            self.store.add(results, {check_id: cfg.interval})
            if self._flush_task is None or self._flush_task.done():
                self._flush_task = asyncio.ensure_future(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(HISTORY_FLUSH)  # batch the results of checks finishing together
        await self._flush_history()

    async def _flush_history(self, final: bool = False) -> None:
        if self.store is None:
            return
        if final and not self.store.fault.ok:
            self.store.retry_now()  # one last try at exit; what still cannot be written is reported
        await self.store.flush()
        if final and self.store.buffered:
            log.error("exiting with %d result(s) not written to the history: %s", self.store.buffered,
                      self.store.fault.reason)

    async def _trim_memory(self) -> None:
        """Give the heap freed since start-up (config parsing, imports, first runs) back to the OS.

        glibc keeps freed memory in its arenas; `malloc_trim` releases the unused pages, about 1 MiB
        of steady RSS here (bench/bench_daemon.py), which counts against the agent's 45 MiB budget.
        Once 30 s after start, then hourly; a no-op where the C library has no malloc_trim (musl).
        """
        import ctypes
        import gc

        gc.collect()
        try:
            ctypes.CDLL(None).malloc_trim(0)  # the process's own symbols, which include the C library's
        except (OSError, AttributeError) as exc:
            log.debug("malloc_trim not available: %s", exc)

    async def _heartbeat(self) -> None:
        if self.store is not None and self.history is not None:
            await self.store.maintain(self.history.heartbeat, "heartbeat")

    async def _compact(self) -> None:
        if self.store is not None and self.history is not None:
            await self.store.maintain(self.history.compact, "compaction")

    # --- exporters ---------------------------------------------------------------------------------

    async def _snapshot_job(self) -> None:
        if self._snapshot_dirty:
            await self._write_snapshot()

    async def _write_snapshot(self) -> None:
        from dxagent.exporters.snapshot import write_snapshot

        self._snapshot_dirty = False
        path = snapshot_path(self.cfg)
        try:
            await run_blocking(write_snapshot, path, self.latest.snapshot(), self.cfg.site, self.lang)
        except (OSError, ValueError) as exc:
            from dxagent.history.writer import describe

            self._snapshot_dirty = True
            self.snapshot_fault.what = f"the snapshot {path}"
            self.snapshot_fault.failed(describe(exc), "; retrying at the next snapshot interval")
            return
        self.snapshot_fault.recovered()

    async def _push_job(self) -> None:
        from dxagent.exporters.pushgateway import PushError, push

        cfg = self.cfg.push
        body = self.exporter.render(self.view())
        try:
            await asyncio.wait_for(run_blocking(push, cfg, self.cfg.site.id, body), cfg.timeout + 1)
        except (PushError, TimeoutError) as exc:
            msg = str(exc) or f"no answer within {cfg.timeout:g} s"
            log.log(logging.DEBUG if self._push_failing else logging.WARNING, "push failed: %s", msg)
            self._push_failing = True
            return
        if self._push_failing:
            log.info("push to the Pushgateway works again")
        self._push_failing = False

    # --- reload ------------------------------------------------------------------------------------

    async def reload(self, why: str = "reload") -> tuple[bool, list[str]]:
        """Re-read the config (and web config); apply it only if it is entirely valid."""
        async with self._reload_lock:
            try:
                new = await run_blocking(load_config, self.config_path)
                web = await run_blocking(load_web_config, new.server.web_config_file) \
                    if new.server.web_config_file else WebConfig()
            except ConfigError as exc:
                _log_problems(exc, why)
                self.reload_ok = False
                return False, [str(p) for p in exc.problems]
            old_listen, new_listen = self.listen, self.listen_override or new.server.listen
            # With TLS the listener restarts on every reload, so renewed certificate files take effect.
            if new_listen != old_listen or web != self.web or web.tls_server_config is not None:
                if self.server is not None:
                    await self.server.close()
                    self.server = None
                if not await self._start_server(new_listen, web):
                    log.error("%s: keeping the previous configuration and listener", why)
                    await self._start_server(old_listen, self.web)
                    self.reload_ok = False
                    return False, [f"cannot listen on {new_listen}"]
            self._apply(new, web)
            log.info("%s: configuration reloaded: %d checks", why, len(self.checks))
            return True, []

    def _apply(self, new: Config, web: WebConfig) -> None:
        old_checks, self.cfg, self.web = self.checks, new, web
        new_checks = self.checks
        changed = {cid for cid, c in new_checks.items() if cid in old_checks and old_checks[cid] != c}
        kept = {cid: st for cid, st in self.runner.states.items() if cid in new_checks and cid not in changed}
        runner = Runner(site=new.site, concurrency=new.concurrency, services=self.runner.services)
        runner.states.update(kept)
        self.runner = runner
        # Results of changed checks may carry old targets: drop them until the check runs again.
        self.latest.retain(cid for cid in new_checks if cid not in changed)
        self.latest.retain(new_checks)
        assert self.scheduler is not None
        self.scheduler.sync(new_checks.values(), changed)
        self._schedule_housekeeping()
        self._sync_notifier(new)
        self.generation += 1
        self.reload_ok = True
        self.reload_ts = time.time()

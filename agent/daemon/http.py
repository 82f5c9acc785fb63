"""The daemon's HTTP API: /metrics, /healthz, /api/results, /api/inventory (+ self-reports), /-/reload.

A mixin of `dxagent.daemon.Daemon`, kept in its own module so each stays small; the handlers
only read the daemon's state (config, Latest, History) and never block the loop.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dxagent.daemon import statuspage
from dxagent.daemon.server import Request, Response, Route
from dxagent.exporters import prometheus as prom
from dxagent.probe import run_blocking

if TYPE_CHECKING:
    from dxagent.daemon import Daemon

__all__ = ["HttpApi", "JSON"]

log = logging.getLogger("dxagent.daemon")
JSON = "application/json; charset=utf-8"


class HttpApi:
    """Route table and handlers; `self` is the running Daemon."""

    def _routes(self: Daemon) -> dict[str, Route]:
        return {
            "/metrics": Route(self._metrics),
            "/healthz": Route(self._healthz),
            "/api/results": Route(self._results),
            "/api/inventory": Route(self._inventory),
            "/api/inventory/report": Route(self._self_report, methods=("POST", "PUT"), own_auth=True),
            "/-/reload": Route(self._reload_http, methods=("POST", "PUT"), loopback_only=True),
            **statuspage.routes(self),  # /, /api/run, /report: the technician's status page
        }

    async def _metrics(self, req: Request) -> Response:
        om = prom.wants_openmetrics(req.headers.get("accept", ""))
        body = self.exporter.render(self.view(), openmetrics=om)
        return Response(200, body, prom.CONTENT_TYPE_OPENMETRICS if om else prom.CONTENT_TYPE_TEXT)

    def health(self: Daemon, now: float | None = None) -> tuple[bool, dict[str, Any]]:
        """Healthy = the scheduler runs, every enabled check has a result younger than its allowance,
        and the state folder takes writes (history, snapshot). `reasons` says what is wrong, in words."""
        now = time.time() if now is None else now
        stale = []
        for cid, c in self.checks.items():
            allowance = 2 * c.interval + c.timeout * (c.retries + 1) + 10
            results = self.latest.get(cid)
            last = max((r.started + r.duration for r in results), default=self.started)
            if now - last > allowance:
                stale.append(cid)
        alive = self.scheduler is not None and self.scheduler.alive
        reasons = [] if alive else ["the scheduler is not running"]
        if stale:
            reasons.append(f"no fresh results from {len(stale)} check(s)")
        state: dict[str, Any] = {}
        if self.store is not None:
            state["history"] = self.store.health()
        if self.cfg.snapshot.enabled:
            state["snapshot"] = self.snapshot_fault.health()
        reasons += [f"{name}: {part['reason']}" for name, part in state.items() if not part["writable"]]
        return not reasons, {"scheduler": alive, "stale_checks": stale, "checks": len(self.checks),
                             "reasons": reasons, "state": state}

    async def _healthz(self, req: Request) -> Response:
        ok, detail = self.health()
        body = json.dumps({"status": "ok" if ok else "unhealthy", **detail}).encode()
        return Response(200 if ok else 503, body + b"\n", JSON)

    def _lang(self, req: Request) -> str:
        wanted = (req.query.get("lang") or [""])[0]
        return wanted if wanted in ("vi", "en") else self.lang

    async def _results(self, req: Request) -> Response:
        from dxagent.render import document

        doc = document(self.latest.snapshot(), self.cfg.site, self._lang(req))
        return Response(200, json.dumps(doc, ensure_ascii=False, allow_nan=False).encode(), JSON)

    async def _inventory(self, req: Request) -> Response:
        lang = self._lang(req)
        results = [r.to_dict(lang) for r in self.latest.snapshot() if r.kind in ("inventory", "discovery")]
        devices: Sequence[Any] = []
        if self.history is not None:
            devices = await run_blocking(self.history.devices)
        doc = {"site": self.cfg.site.model_dump(mode="json"), "results": results,
               "devices": [{"key": d.key, "first_seen": d.first_seen, "last_seen": d.last_seen, "facts": dict(d.facts)}
                           for d in devices]}
        return Response(200, json.dumps(doc, ensure_ascii=False, default=str).encode(), JSON)

    async def _self_report(self, req: Request) -> Response:
        """A workstation's `dxagent inventory --push`: site token, size and schema checked, saved for discovery."""
        from dxagent import selfreport

        where = selfreport.receiver(self.cfg.checks)
        if where is None:
            return Response(404, b"self-reports are not configured (discovery self_reports.folder and token)\n")
        folder, token, max_bytes = where
        try:
            report = selfreport.accept_report(req.body, req.headers.get("authorization"), token, max_bytes)
            saved = await run_blocking(selfreport.save_report, report, folder)
        except selfreport.ReportRejected as exc:
            return Response(exc.status, exc.message.encode() + b"\n")
        except OSError as exc:
            log.error("cannot save a self-report in %s: %s", folder, exc.strerror or exc)
            return Response(500, b"cannot save the report\n")
        log.info("self-report from %s saved as %s", req.peer, saved.name)
        return Response(202, json.dumps({"saved": saved.name}).encode() + b"\n", JSON)

    async def _reload_http(self, req: Request) -> Response:
        ok, problems = await self.reload("HTTP /-/reload")
        body = json.dumps({"ok": ok, "checks": len(self.checks), "problems": problems}, ensure_ascii=False)
        return Response(200 if ok else 400, body.encode() + b"\n", JSON)

"""The daemon's status page for the site technician: `/`, `POST /api/run` and `/report`.

`/` is one self-contained HTML page (Vietnamese by default, `?lang=en` or the browser's
Accept-Language) rendered on the server and kept current by a small script polling
`/api/results`; `/api/run` brings a check's next run forward; `/report` is the site readiness
report from the same code as `dxagent report`. The routes sit behind the listener's own TLS and
basic auth like every other route; state that must outlive a listener restart (rate limits,
caches) lives in one StatusPage per daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from dxagent.daemon.server import Request, Response, Route
from dxagent.daemon.statuspage import lookups, runnow, view
from dxagent.daemon.statuspage.words import pick
from dxagent.probe import run_blocking

if TYPE_CHECKING:
    from dxagent.daemon import Daemon

__all__ = ["StatusPage", "choose_lang", "routes"]

log = logging.getLogger(__name__)

HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"
OUTAGE_WINDOW = 7 * 86400
READINESS_MAX_AGE = 300.0
REPORT_MAX_AGE = 60.0
OUTAGES_MAX_AGE = 60.0
FIRST_READINESS_WAIT = 3.0
MAX_OUTAGES = 20  # the newest ones; /report has them all


def choose_lang(req: Request, default: str | None = None) -> str:
    """`?lang=vi|en`, else the browser's Accept-Language (by q-value), else the config's `lang`, else Vietnamese."""
    wanted = (req.query.get("lang") or [""])[0]
    if wanted in ("vi", "en"):
        return wanted
    best: tuple[float, str] | None = None
    for i, item in enumerate(req.headers.get("accept-language", "").split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in ("vi", "en") and q > 0 and (best is None or q > best[0]):
            best = (q - i * 1e-6, primary)
    if best is not None:
        return best[1]
    return default if default in ("vi", "en") else "vi"


def _config_age(source: str, now: float, lang: str) -> str:
    if not source or source.startswith("<"):
        return pick("builtin_config", lang)
    try:
        mtime = os.stat(source).st_mtime
    except OSError:
        return "—"
    return pick("ago", lang, age=view.fmt_age(now - mtime, lang))


class StatusPage:
    """Handlers plus what they remember between requests (caches, the run limiter)."""

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = weakref.proxy(daemon)
        self.limiter = runnow.RunLimiter()
        self.since = lookups.SinceCache()
        self.readiness = lookups.TimedCache(READINESS_MAX_AGE)
        self.report = lookups.TimedCache(REPORT_MAX_AGE)
        self.outages = lookups.TimedCache(OUTAGES_MAX_AGE)
        self._refreshing: Any = None

    def routes(self) -> dict[str, Route]:
        return {
            "/": Route(self.page),
            "/api/run": Route(self.run, methods=("POST",)),
            "/report": Route(self.report_page),
        }

    # --- the page ---------------------------------------------------------------------------------

    async def page(self, req: Request) -> Response:
        d = self._daemon
        lang = choose_lang(req, d.cfg.lang)
        now = time.time()
        results = d.latest.snapshot()
        missing = self.since.missing(results, now)
        if missing:
            await run_blocking(self.since.lookup, missing, d.history, now)
        readiness = await self._readiness_doc(now)
        outages = await self._outages(now)
        page = view.build(
            results, d.checks, now=now, lang=lang, site=d.cfg.site.model_dump(mode="json"),
            header=self.header(now, lang), since=self.since.since(), known_window=self.since.window,
            readiness=lookups.readiness_summary(readiness, lang),
            outages=lookups.outage_rows(outages, now, lang)[:MAX_OUTAGES] if outages is not None else None,
            notice=self._notice(req, lang))
        from dxagent.daemon.statuspage.render import SECURITY_HEADERS, csp, render_page

        # Rendering 200 rows takes ~15 ms of pure Python: on a worker thread the loop keeps its
        # turns (the GIL switches every 5 ms), so probe timings are not stretched by a page view.
        html = await run_blocking(render_page, page)
        headers = {**SECURITY_HEADERS, "Content-Security-Policy": csp(), "Content-Language": lang,
                   "Vary": "Accept-Language, Accept-Encoding"}
        return Response(200, html.encode(), HTML, headers=headers)

    def header(self, now: float, lang: str) -> dict[str, str]:
        d = self._daemon
        return {"uptime": view.fmt_age(now - d.started, lang), "config_age": _config_age(d.cfg.source, now, lang),
                "updated": view.fmt_clock(now, now)}

    def _notice(self, req: Request, lang: str) -> str:
        """After a form post without JavaScript: say what was asked (only real check ids are echoed)."""
        ran = (req.query.get("ran") or [""])[0]
        if not ran:
            return ""
        ids, _ = runnow.resolve([ran], self._daemon.checks.values())
        if not ids:
            return ""
        wait = (req.query.get("wait") or [""])[0]
        if wait.isdigit():
            return pick("refused", lang, why=pick("limited", lang, what=", ".join(ids), secs=wait))
        return pick("requested", lang, what=", ".join(ids))

    async def _readiness_doc(self, now: float) -> Mapping[str, Any] | None:
        """The site report document for the default period: cached, refreshed in the background."""
        key = self._report_key(None)
        if self.readiness.fresh(key, now):
            return self.readiness.get()  # type: ignore[no-any-return]
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(
                run_blocking(self.readiness.compute, key, lambda: self._build_report(None, now), now))
        if self.readiness.get() is None:  # the first view waits a little for it
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._refreshing), FIRST_READINESS_WAIT)
        return self.readiness.get()  # type: ignore[no-any-return]

    def _report_key(self, period: float | None) -> tuple[Any, ...]:
        d = self._daemon
        return (d.generation, d.cfg.readiness.profile, period)

    def _build_report(self, period: float | None, now: float) -> dict[str, Any] | None:
        """`dxagent report`'s document from the daemon's own history and snapshot file (blocking)."""
        from dxagent.daemon import snapshot_path
        from dxagent.reports import site
        from dxagent.reports.profile import load_profile

        d = self._daemon
        cfg = d.cfg
        snap: Path | None = snapshot_path(cfg)
        if snap is None or not snap.exists():
            snap = None
        if d.history is None and snap is None:
            return None
        profile = load_profile(cfg.readiness.profile)
        return site.build(profile, until=now, period=period, cfg=cfg, history=d.history, snapshot_path=snap)

    async def _outages(self, now: float) -> list[Any] | None:
        d = self._daemon
        ids = view.outage_check_ids(d.checks.values())
        key = (d.generation, tuple(ids))
        if d.history is None or not ids:
            return None
        if not self.outages.fresh(key, now):
            from dxagent.history.outages import outages

            history = d.history
            await run_blocking(self.outages.compute, key, lambda: outages(history, now - OUTAGE_WINDOW, now, ids), now)
        return self.outages.get()  # type: ignore[no-any-return]

    # --- run now ----------------------------------------------------------------------------------

    async def run(self, req: Request) -> Response:
        d = self._daemon
        lang = choose_lang(req, d.cfg.lang)
        if not runnow.allowed(req):
            return Response(401, b"run now: from this address only with credentials (configure basic auth)\n",
                            headers={"WWW-Authenticate": 'Basic realm="dxagent"'})
        if not runnow.same_origin(req):
            return Response(403, b"run now: cross-site request refused\n")
        only = list(req.query.get("only") or [])
        if req.body and "form" in req.headers.get("content-type", ""):
            only += parse_qs(req.body.decode("utf-8", "replace")).get("only", [])
        if not only:
            return self._answer(req, lang, 400, {"error": "give only=CHECK_ID or only=GROUP"})
        ids, unknown = runnow.resolve(only, d.checks.values())
        if not ids:
            return self._answer(req, lang, 404, {"error": f"no enabled check, group or kind named {', '.join(unknown)}"})
        scheduler = d.scheduler
        if scheduler is None:
            return self._answer(req, lang, 503, {"error": "the scheduler is not running"})
        queued, running, limited = [], [], {}
        for cid in ids:
            wait = self.limiter.wait(cid)
            if cid in scheduler.running:
                running.append(cid)
            elif wait > 0:
                limited[cid] = round(wait, 1)
            elif scheduler.run_now(cid):
                self.limiter.take(cid)
                queued.append(cid)
            else:
                running.append(cid)
        if queued:
            log.info("run now of %s requested by %s", ", ".join(queued), req.user or req.peer)
        doc: dict[str, Any] = {"queued": queued, "running": running, "limited": limited, "unknown": unknown}
        if queued or running:
            doc["message"] = pick("requested", lang, what=", ".join(queued + running))
            return self._answer(req, lang, 202, doc)
        retry = max(limited.values())
        doc["message"] = pick("refused", lang, why=pick("limited", lang, what=", ".join(limited), secs=f"{retry:.0f}"))
        return self._answer(req, lang, 429, doc, {"Retry-After": str(max(1, round(retry)))})

    def _answer(self, req: Request, lang: str, status: int, doc: dict[str, Any],
                headers: dict[str, str] | None = None) -> Response:
        """JSON for scripts and the page's script; a redirect back to the page for a plain form post."""
        accept = req.headers.get("accept", "")
        if "text/html" in accept and "application/json" not in accept and status in (202, 429):
            ran = ",".join(doc.get("queued", []) + doc.get("running", []) + list(doc.get("limited", {})))
            wait = "" if status == 202 else f"&wait={max(1, round(max(doc['limited'].values())))}"
            return Response(303, b"", headers={"Location": f"/?lang={lang}&ran={quote(ran, safe=',')}{wait}"})
        if "message" not in doc:
            doc["message"] = doc.get("error", "")
        body = json.dumps(doc, ensure_ascii=False).encode() + b"\n"
        return Response(status, body, JSON, headers=headers or {})

    # --- the full report --------------------------------------------------------------------------

    async def report_page(self, req: Request) -> Response:
        """The site report as `dxagent report --format html` writes it (optional `?period=30d`)."""
        from dxagent.config.types import parse_duration

        lang = choose_lang(req, None)
        raw = (req.query.get("period") or [""])[0]
        period: float | None = None
        if raw:
            try:
                period = parse_duration(raw)
            except Exception:
                return Response(400, b"period: give a duration such as 7d or 30d\n")
        now = time.time()
        key = self._report_key(period)
        if self.report.fresh(key, now):
            doc = self.report.get()
        else:
            doc = await run_blocking(self.report.compute, key, lambda: self._build_report(period, now), now)
        if doc is None:
            return Response(503, b"no history or snapshot yet: the report needs the agent's data\n")
        from dxagent.daemon.statuspage.render import SECURITY_HEADERS
        from dxagent.reports.render_html import render_site

        html = await run_blocking(render_site, doc, lang)
        policy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; frame-ancestors 'none'"
        return Response(200, html.encode(), HTML, headers={**SECURITY_HEADERS, "Content-Security-Policy": policy})


_PAGES: weakref.WeakKeyDictionary[Any, StatusPage] = weakref.WeakKeyDictionary()


def routes(daemon: Daemon) -> dict[str, Route]:
    """The page's routes for `daemon` (one StatusPage per daemon, kept across listener restarts)."""
    page = _PAGES.get(daemon)
    if page is None:
        page = _PAGES[daemon] = StatusPage(daemon)
    return page.routes()

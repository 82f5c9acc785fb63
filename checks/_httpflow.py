"""The I/O half of the `http` kind: one bounded request chain with httpx, turned into a Measurement.

Redirects are followed here rather than by httpx, for three reasons: httpx reads every redirect
body whole into memory (a hostile 3xx could send gigabytes), credentials must stay with the
first origin, and each hop's URL is kept (without userinfo) for the details. Everything runs
under one `asyncio.timeout(ctx.timeout)`, and the timeline says which phase was running when it
fired.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ssl
import time
from typing import TYPE_CHECKING, Any

import httpx

from dxagent.checks._httpconn import DirectTransport
from dxagent.checks._httpjudge import Failure, Measurement, redact_url
from dxagent.checks._httptrace import (
    BodyReader,
    ResolveError,
    TimedBackend,
    Timeline,
    cert_not_after,
    clean_text,
    html_title,
    tls_failure,
)
from dxagent.model import Reason
from dxagent.probe import ProbeContext

if TYPE_CHECKING:
    from dxagent.checks.http import Config

__all__ = ["run"]

USER_AGENT = "dxagent-http/0.1"
_REDIRECT_DRAIN = 65536
# What httpx.AsyncClient would send by default; the transport is called directly (see _exchange).
_BASE_HEADERS = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate", "Connection": "keep-alive",
                 "User-Agent": USER_AGENT}


@functools.lru_cache(maxsize=1024)
def _parsed(url: str) -> httpx.URL:
    """The config's URL parsed once (httpx.URL is immutable; parsing cost ~0.04 ms per probe)."""
    return httpx.URL(url)


class RedirectError(Exception):
    """The redirect chain cannot be followed (limit exceeded, loop, or a non-http Location)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _transport(cfg: Config, timeline: Timeline) -> tuple[httpx.AsyncBaseTransport, TimedBackend]:
    from dxagent.checks.http import _FAMILY, _ssl_context

    if cfg.proxy is None:
        backend = TimedBackend(None, timeline, _FAMILY[cfg.ip_family])
        return DirectTransport(_ssl_context(cfg), backend), backend
    auth = (cfg.proxy_auth.username, cfg.proxy_auth.password.reveal()) if cfg.proxy_auth else None
    transport = httpx.AsyncHTTPTransport(verify=_ssl_context(cfg), http2=cfg.http2, proxy=httpx.Proxy(cfg.proxy, auth=auth),
                                         trust_env=False, retries=0,
                                         limits=httpx.Limits(max_connections=4, max_keepalive_connections=4))
    pool = transport._pool  # httpx offers no public way to pass httpcore a network backend
    backend = TimedBackend(pool._network_backend, timeline, _FAMILY[cfg.ip_family])
    pool._network_backend = backend
    return transport, backend


def _auth_headers(cfg: Config) -> dict[str, str]:
    if cfg.basic_auth is not None:
        pair = f"{cfg.basic_auth.username}:{cfg.basic_auth.password.reveal()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    if cfg.bearer_token is not None:
        return {"Authorization": f"Bearer {cfg.bearer_token.reveal()}"}
    return {}


async def _exchange(cfg: Config, ctx: ProbeContext, timeline: Timeline, m: Measurement, extra: dict[str, Any],
                    transport: httpx.AsyncBaseTransport, backend: TimedBackend) -> None:
    from dxagent.checks.http import _same_origin_or_upgrade

    base = httpx.Headers(_BASE_HEADERS)
    base.update(cfg.headers)
    origin = _parsed(cfg.url)
    secret_headers = _auth_headers(cfg)
    # No per-operation timeouts: each would equal ctx.timeout, so the one asyncio.timeout in run() always fires
    # first (with the same classification), and every read and write would pay for a timer it never needs.
    extensions = {"trace": timeline.trace}
    cookies: httpx.Cookies | None = None  # kept along one redirect chain (a login that sets a cookie, then redirects)
    async with transport:
        url, method, body = origin, cfg.method, cfg.body
        seen = {str(url)}
        while True:
            headers = base.copy()
            if _same_origin_or_upgrade(origin, url):
                headers.update(secret_headers)
            request = httpx.Request(method, url, content=body, headers=headers, extensions=extensions)
            if cookies is not None:
                cookies.set_cookie_header(request)
            response = await transport.handle_async_request(request)
            response.request = request
            try:
                m.address = _address(response) or backend.address
                location = response.headers.get("location")
                if "set-cookie" in response.headers:
                    cookies = cookies if cookies is not None else httpx.Cookies()
                    cookies.extract_cookies(response)
                if not (cfg.follow_redirects and response.is_redirect and location is not None):
                    await _final(cfg, response, timeline, m, extra)
                    return
                timeline.begin("transfer")
                async for _ in response.aiter_raw():  # drain a little so the connection may be reused
                    if response.num_bytes_downloaded >= _REDIRECT_DRAIN:
                        break
                timeline.end("transfer")
            finally:
                await response.aclose()
            try:
                url = response.url.join(location)
            except httpx.InvalidURL as exc:
                raise RedirectError("bad_redirect", f"invalid redirect Location ({exc})") from None
            if url.scheme not in ("http", "https"):
                raise RedirectError("bad_redirect", f"redirect to a non-http URL ({url.scheme}:)")
            m.redirects += 1
            m.final_url = redact_url(str(url))
            if m.redirects > cfg.max_redirects:
                loop = str(url) in seen
                raise RedirectError("redirect_loop" if loop else "redirect_limit",
                                    "redirect loop" if loop else f"more than {cfg.max_redirects} redirects")
            seen.add(str(url))
            if (response.status_code == 303 and method != "HEAD") or (response.status_code in (301, 302) and method == "POST"):
                method, body = "GET", None


def _address(response: httpx.Response) -> str | None:
    stream = response.extensions.get("network_stream")
    addr = stream.get_extra_info("server_addr") if stream is not None else None
    return str(addr[0]) if addr else None


async def _final(cfg: Config, response: httpx.Response, timeline: Timeline, m: Measurement,
                 extra: dict[str, Any]) -> None:
    """Record the final response and read its body within max_body_bytes."""
    m.status_code = response.status_code
    m.http_version = response.http_version
    m.final_url = redact_url(str(response.url))
    m.tls = response.url.scheme == "https"
    location = response.headers.get("location")
    m.location = clean_text(redact_url(location), 300) if location is not None else None
    m.headers = {k.lower(): v for k, v in response.headers.items()}
    ctype = response.headers.get("content-type", "")
    extra["headers"] = {k: clean_text(response.headers[k]) for k in ("server", "content-type") if k in response.headers}
    if m.tls:
        stream = response.extensions.get("network_stream")
        ssl_object: ssl.SSLObject | None = stream.get_extra_info("ssl_object") if stream is not None else None
        extra["cert_not_after"] = cert_not_after(ssl_object)
        if ssl_object is not None:
            extra["tls_version"] = ssl_object.version()
    if cfg.method == "HEAD" or cfg.max_body_bytes == 0:
        return
    reader = BodyReader(cfg.max_body_bytes, response.headers.get("content-encoding", "identity"))
    timeline.begin("transfer")
    async for chunk in response.aiter_raw():
        if not reader.feed(chunk):
            break
    timeline.end("transfer")
    m.body_read, m.body_bytes, m.body_limit_hit = True, len(reader.decoded), reader.limit_hit
    m.body_text = reader.text(ctype)
    if "html" in ctype.lower():
        title = html_title(m.body_text)
        if title:
            extra["title"] = title


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def classify(exc: BaseException, timeline: Timeline) -> Failure:
    """Map an exception from the request chain to a Failure with its phase (see module docstring)."""
    phase = timeline.where()
    chain = _chain(exc)
    text = str(exc) or type(exc).__name__
    if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
        return Failure(Reason.TIMEOUT, phase, "timeout", "no answer in time")
    resolve = next((e for e in chain if isinstance(e, ResolveError)), None)
    if resolve is not None:
        return Failure(Reason.DNS, "dns", "dns", str(resolve))
    if isinstance(exc, RedirectError):
        return Failure(Reason.STATUS, phase, exc.code, text)
    if isinstance(exc, httpx.ProxyError):
        return Failure(Reason.CONNECT, phase, "proxy", text)
    tls = tls_failure(exc)
    if tls is not None:
        return Failure(Reason.TLS, "tls", tls[0], tls[1])
    if phase == "tls" and isinstance(exc, (httpx.ConnectError, httpx.ReadError)):
        return Failure(Reason.TLS, "tls", "handshake", f"connection closed during the TLS handshake ({text})")
    if isinstance(exc, httpx.ConnectError):
        refused = any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in text.lower()
        return Failure(Reason.CONNECT, phase, "refused" if refused else "connect", "connection refused" if refused else text)
    if isinstance(exc, httpx.RemoteProtocolError):
        if "without sending" in text or "disconnected" in text.lower() or "peer closed" in text.lower():
            return Failure(Reason.CONNECT, phase, "closed", text)
        return Failure(Reason.CONTENT, phase, "protocol", text)
    if isinstance(exc, (httpx.ProtocolError, httpx.DecodingError)):
        return Failure(Reason.CONTENT, phase, "protocol", text)
    if isinstance(exc, (httpx.NetworkError, OSError)):
        return Failure(Reason.CONNECT, phase, "closed", text)
    raise exc


async def run(cfg: Config, ctx: ProbeContext) -> tuple[Timeline, Measurement, dict[str, Any]]:
    """Probe once within ctx.timeout; never raises for network trouble (only for bugs)."""
    timeline = Timeline()
    m = Measurement(host=_parsed(cfg.url).host)
    extra: dict[str, Any] = {}
    transport, backend = _transport(cfg, timeline)  # set-up (CA store load on first use) is not the target's time
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(ctx.timeout):
            await _exchange(cfg, ctx, timeline, m, extra, transport, backend)
    except (TimeoutError, httpx.HTTPError, OSError, RedirectError) as exc:
        m.failure = classify(exc, timeline)
        ctx.log.debug("%s failed in phase %s: %s", redact_url(cfg.url), m.failure.phase, m.failure.message)
    m.total = time.monotonic() - t0
    if timeline.current is not None:
        timeline.end(timeline.current)
    return timeline, m, extra

"""The I/O half of the `http` kind: one bounded request chain, turned into a Measurement.

Redirects are followed here rather than by a client library, for three reasons: httpx read every
redirect body whole into memory (a hostile 3xx could send gigabytes), credentials must stay with
the first origin, and each hop's URL is kept (without userinfo) for the details. Everything runs
under one `asyncio.timeout(ctx.timeout)`, and the timeline says which phase was running when it
fired. This loop is the only one: it drives either transport through `_httpwire` — h11 on our
socket stream for direct requests (`_httph11`), httpx for a proxy or HTTP/2 (`_httpxport`,
imported only then) — and classifies both transports' errors the same way.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import time
from typing import TYPE_CHECKING, Any

from dxagent.checks.http import wire as wire
from dxagent.checks.http.judge import Failure, Measurement, redact_url
from dxagent.checks.http.trace import (
    BodyReader,
    Connector,
    ResolveError,
    Timeline,
    cert_not_after,
    clean_text,
    html_title,
    tls_failure,
)
from dxagent.checks.http.url import URL, InvalidURL
from dxagent.model import Reason
from dxagent.probe import ProbeContext

if TYPE_CHECKING:
    from dxagent.checks.http import Config
    from dxagent.checks.http.cookies import Cookies

__all__ = ["run"]

USER_AGENT = "dxagent-http/0.1"
_REDIRECT_DRAIN = 65536
# What httpx.AsyncClient would send by default (the headers every dxagent release has sent).
_BASE_HEADERS = [(b"Accept", b"*/*"), (b"Accept-Encoding", b"gzip, deflate"), (b"Connection", b"keep-alive"),
                 (b"User-Agent", USER_AGENT.encode())]


@functools.lru_cache(maxsize=1024)
def _parsed(url: str) -> URL:
    """The config's URL parsed once (URL is immutable)."""
    return URL(url)


class RedirectError(Exception):
    """The redirect chain cannot be followed (limit exceeded, loop, or a non-http Location)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _transport(cfg: Config, timeline: Timeline) -> wire.Transport:
    """h11 for a direct request; httpx (imported now, lean) only through a proxy or with HTTP/2 offered."""
    from dxagent.checks.http import _FAMILY, _ssl_context

    if cfg.proxy is None and not cfg.http2:
        from dxagent.checks.http.h11 import H11Transport

        return H11Transport(_ssl_context(cfg), Connector(timeline, _FAMILY[cfg.ip_family]))
    from dxagent.leanimport import lean_http

    with lean_http():  # the first import of httpx: without its CLI, and without h2 until ALPN picks it
        from dxagent.checks.http.xport import HttpxTransport
    auth = (cfg.proxy_auth.username, cfg.proxy_auth.password.reveal()) if cfg.proxy_auth else None
    return HttpxTransport(_ssl_context(cfg), timeline, _FAMILY[cfg.ip_family], cfg.proxy, auth, cfg.http2)


def _auth_headers(cfg: Config) -> dict[str, str]:
    if cfg.basic_auth is not None:
        pair = f"{cfg.basic_auth.username}:{cfg.basic_auth.password.reveal()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    if cfg.bearer_token is not None:
        return {"Authorization": f"Bearer {cfg.bearer_token.reveal()}"}
    return {}


async def _exchange(cfg: Config, timeline: Timeline, m: Measurement, extra: dict[str, Any],
                    transport: wire.Transport) -> None:
    from dxagent.checks.http import _same_origin_or_upgrade

    base = list(_BASE_HEADERS)
    wire.update_headers(base, cfg.headers)
    origin = _parsed(cfg.url)
    secret_headers = _auth_headers(cfg)
    cookies: Cookies | None = None  # kept along one redirect chain (a login that sets a cookie, then redirects)
    try:
        url, method, body = origin, cfg.method, cfg.body
        seen = {str(url)}
        while True:
            headers = list(base)
            if _same_origin_or_upgrade(origin, url):
                wire.update_headers(headers, secret_headers)
            content = None if body is None else body.encode("utf-8")
            request = wire.Request(method, url, wire.prepare_headers(headers, method, url, content), content)
            if cookies is not None:
                cookies.set_cookie_header(request)
            response = await transport.send(request)
            try:
                m.address = response.address or transport.address
                location = response.headers.get("location")
                if "set-cookie" in response.headers:
                    if cookies is None:
                        from dxagent.checks.http.cookies import Cookies  # http.cookiejar only when a cookie comes

                        cookies = Cookies()
                    cookies.extract(request, response.headers)
                if not (cfg.follow_redirects and response.status_code in wire.REDIRECT_CODES and location is not None):
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
            except InvalidURL as exc:
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
    finally:
        await transport.aclose()


async def _final(cfg: Config, response: wire.Response, timeline: Timeline, m: Measurement,
                 extra: dict[str, Any]) -> None:
    """Record the final response and read its body within max_body_bytes."""
    m.status_code = response.status_code
    m.http_version = response.http_version
    m.final_url = redact_url(str(response.url))
    m.tls = response.url.scheme == "https"
    location = response.headers.get("location")
    m.location = clean_text(redact_url(location), 300) if location is not None else None
    m.headers = {k.lower(): v for k, v in response.headers.items()}
    ctype = response.headers.get("content-type", "") or ""
    extra["headers"] = {k: clean_text(response.headers[k]) for k in ("server", "content-type") if k in response.headers}
    if m.tls:
        ssl_object = response.ssl_object
        extra["cert_not_after"] = cert_not_after(ssl_object)
        if ssl_object is not None:
            extra["tls_version"] = ssl_object.version()
    if cfg.method == "HEAD" or cfg.max_body_bytes == 0:
        return
    reader = BodyReader(cfg.max_body_bytes, response.headers.get("content-encoding", "identity") or "identity")
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
    if isinstance(exc, (TimeoutError, wire.TimeoutException)):
        return Failure(Reason.TIMEOUT, phase, "timeout", "no answer in time")
    resolve = next((e for e in chain if isinstance(e, ResolveError)), None)
    if resolve is not None:
        return Failure(Reason.DNS, "dns", "dns", str(resolve))
    if isinstance(exc, RedirectError):
        return Failure(Reason.STATUS, phase, exc.code, text)
    if isinstance(exc, wire.ProxyError):
        return Failure(Reason.CONNECT, phase, "proxy", text)
    tls = tls_failure(exc)
    if tls is not None:
        return Failure(Reason.TLS, "tls", tls[0], tls[1])
    if phase == "tls" and isinstance(exc, (wire.ConnectError, wire.ReadError)):
        return Failure(Reason.TLS, "tls", "handshake", f"connection closed during the TLS handshake ({text})")
    if isinstance(exc, wire.ConnectError):
        refused = any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in text.lower()
        return Failure(Reason.CONNECT, phase, "refused" if refused else "connect", "connection refused" if refused else text)
    if isinstance(exc, wire.RemoteProtocolError):
        if "without sending" in text or "disconnected" in text.lower() or "peer closed" in text.lower():
            return Failure(Reason.CONNECT, phase, "closed", text)
        return Failure(Reason.CONTENT, phase, "protocol", text)
    if isinstance(exc, (wire.ProtocolError, wire.DecodingError)):
        return Failure(Reason.CONTENT, phase, "protocol", text)
    if isinstance(exc, (wire.NetworkError, OSError)):
        return Failure(Reason.CONNECT, phase, "closed", text)
    raise exc


async def run(cfg: Config, ctx: ProbeContext) -> tuple[Timeline, Measurement, dict[str, Any]]:
    """Probe once within ctx.timeout; never raises for network trouble (only for bugs)."""
    timeline = Timeline()
    m = Measurement(host=_parsed(cfg.url).host)
    extra: dict[str, Any] = {}
    transport = _transport(cfg, timeline)  # set-up (CA store load on first use) is not the target's time
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(ctx.timeout):
            await _exchange(cfg, timeline, m, extra, transport)
    except (TimeoutError, wire.TransportError, OSError, RedirectError) as exc:
        m.failure = classify(exc, timeline)
        ctx.log.debug("%s failed in phase %s: %s", redact_url(cfg.url), m.failure.phase, m.failure.message)
    m.total = time.monotonic() - t0
    if timeline.current is not None:
        timeline.end(timeline.current)
    return timeline, m, extra

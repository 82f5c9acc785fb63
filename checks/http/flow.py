"""The I/O half of the `http` kind: one bounded request chain on httpx, turned into a Measurement.

Redirects are followed here, not by httpx, for three reasons: httpx reads every redirect body
whole into memory (a hostile 3xx could send gigabytes), credentials must stay with the first
origin, and each hop's URL is kept (without userinfo) for the details. Cookies set along the chain
stay in the probe's client (httpx's jar). Everything runs under one `asyncio.timeout(ctx.timeout)`,
and the timeline says which phase was running when it (or httpx's own timeout) fired.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import TYPE_CHECKING, Any

import httpx

from dxagent.checks.http.client import ResolveError, Resolving, make_client, same_origin_or_upgrade
from dxagent.checks.http.judge import Failure, Measurement, redact_url
from dxagent.checks.http.trace import BodyReader, Timeline, cert_not_after, clean_text, html_title, tls_failure
from dxagent.model import Reason
from dxagent.probe import ProbeContext

if TYPE_CHECKING:
    from dxagent.checks.http import Config

__all__ = ["classify", "run"]

_REDIRECT_DRAIN = 65536
_REDIRECT_CODES = frozenset((301, 302, 303, 307, 308))
_TIMEOUT_MARGIN = 0.05  # httpx's per-operation timeouts end this much before the check's deadline
_CLOSE_WAIT = 1.0  # seconds the closing of a probe's connections may take after its deadline


class RedirectError(Exception):
    """The redirect chain cannot be followed (limit exceeded, loop, or a non-http Location)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def redirect_target(url: httpx.URL, location: str) -> httpx.URL:
    """Where a redirect's Location leads from `url`; RedirectError when it is no usable http(s) URL."""
    try:
        target = url.join(location)
    except httpx.InvalidURL as exc:
        raise RedirectError("bad_redirect", f"invalid redirect Location ({exc})") from None
    if target.scheme not in ("http", "https"):
        raise RedirectError("bad_redirect", f"redirect to a non-http URL ({target.scheme}:)")
    return target


def _auth_headers(cfg: Config) -> dict[str, str]:
    if cfg.basic_auth is not None:
        pair = f"{cfg.basic_auth.username}:{cfg.basic_auth.password.reveal()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    if cfg.bearer_token is not None:
        return {"Authorization": f"Bearer {cfg.bearer_token.reveal()}"}
    return {}


async def _exchange(cfg: Config, client: httpx.AsyncClient, resolving: Resolving | None, timeline: Timeline,
                    m: Measurement, extra: dict[str, Any], deadline: float) -> None:
    origin = httpx.URL(cfg.url)
    url, method, body = origin, cfg.method, cfg.body
    seen = {str(url)}
    while True:
        headers = dict(cfg.headers)
        if same_origin_or_upgrade(origin, url):
            headers.update(_auth_headers(cfg))
        # httpx's own timeouts end each operation just before the overall deadline: a task cancelled
        # inside httpcore's TLS handshake would leave its socket to the garbage collector.
        left = max(deadline - time.monotonic() - _TIMEOUT_MARGIN, 0.001)
        request = client.build_request(method, url, headers=headers, content=None if body is None else body.encode(),
                                       timeout=httpx.Timeout(left), extensions={"trace": timeline.trace})
        response = await client.send(request, stream=True)
        try:
            if resolving is None:  # through a proxy: the proxy's address (direct: the one asked for, below)
                m.address = _address(response) or m.address
            location = response.headers.get("location")
            if not (cfg.follow_redirects and response.status_code in _REDIRECT_CODES and location is not None):
                await _final(cfg, response, timeline, m, extra)
                return
            timeline.begin("transfer")
            async for _ in response.aiter_raw():  # drain a little so the connection may be reused
                if response.num_bytes_downloaded >= _REDIRECT_DRAIN:
                    break
            timeline.end("transfer")
        finally:
            await response.aclose()
        url = redirect_target(url, location)
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
    """The address the response came from (the proxy's, through a proxy)."""
    stream = response.extensions.get("network_stream")
    addr = stream.get_extra_info("server_addr") if stream is not None else None
    return str(addr[0]) if addr else None


async def _final(cfg: Config, response: httpx.Response, timeline: Timeline, m: Measurement,
                 extra: dict[str, Any]) -> None:
    """Record the final response and read its body within max_body_bytes."""
    m.status_code = response.status_code
    m.http_version = response.http_version
    m.final_url = redact_url(str(response.request.url))
    m.tls = response.request.url.scheme == "https"
    location = response.headers.get("location")
    m.location = clean_text(redact_url(location), 300) if location is not None else None
    m.headers = {k.lower(): v for k, v in response.headers.items()}
    ctype = response.headers.get("content-type", "")
    extra["headers"] = {k: clean_text(response.headers[k]) for k in ("server", "content-type") if k in response.headers}
    if m.tls:
        stream = response.extensions.get("network_stream")
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
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
    """Map an exception from the request chain to a Failure with its phase."""
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
    if isinstance(exc, httpx.HTTPError):  # e.g. UnsupportedProtocol from a proxy URL httpx cannot use
        return Failure(Reason.CONNECT, phase, "connect", text)
    raise exc


async def run(cfg: Config, ctx: ProbeContext) -> tuple[Timeline, Measurement, dict[str, Any]]:
    """Probe once within ctx.timeout; never raises for network trouble (only for bugs)."""
    timeline = Timeline()
    m = Measurement(host=httpx.URL(cfg.url).host)
    extra: dict[str, Any] = {}
    client, resolving = make_client(cfg, timeline)  # set-up (CA store load on first use) is not the target's time
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(ctx.timeout):
            await _exchange(cfg, client, resolving, timeline, m, extra, t0 + ctx.timeout)
    except (TimeoutError, httpx.HTTPError, OSError, RedirectError) as exc:
        m.failure = classify(exc, timeline)
        ctx.log.debug("%s failed in phase %s: %s", redact_url(cfg.url), m.failure.phase, m.failure.message)
    finally:
        m.total = time.monotonic() - t0
        if timeline.current is not None:
            timeline.end(timeline.current)
        await _close(client, ctx)
    if resolving is not None:
        m.address = resolving.address
    return timeline, m, extra


async def _close(client: httpx.AsyncClient, ctx: ProbeContext) -> None:
    """Close the probe's connections; a peer that stalls the TLS close_notify gets `_CLOSE_WAIT` at most."""
    try:
        async with asyncio.timeout(_CLOSE_WAIT):
            await client.aclose()
    except (TimeoutError, httpx.HTTPError, OSError) as exc:
        ctx.log.debug("closing the connections: %s", exc)

"""The httpx client of one `http` or `throughput` probe: TLS context, proxy, HTTP/2, and the timed name lookup.

One code path for every request: an `httpx.AsyncClient` per probe (so each probe opens its own
connections, like blackbox_exporter, and closes them all when it ends), over httpx's own
`AsyncHTTPTransport`. httpx's `trace` extension times connect, TLS, request and response
(checks/http/trace.py) but cannot see the name lookup, which happens inside the connect; so a
direct request resolves the host first (`Resolving`, timed as `dns`) and connects to the address,
with the host name kept for the Host header, SNI and certificate checks (the `sni_hostname`
extension). Through a proxy the proxy resolves the target: no `dns` phase there.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import time
from typing import TYPE_CHECKING, Any

import httpx

from dxagent.checks.http.trace import Timeline
from dxagent.probe import run_blocking

if TYPE_CHECKING:
    from dxagent.checks.http import Config

__all__ = ["USER_AGENT", "ResolveError", "Resolving", "build_client", "make_client", "same_origin_or_upgrade", "ssl_context"]

USER_AGENT = "dxagent-http/0.1"
_FAMILY = {"any": socket.AF_UNSPEC, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}
_LOCAL = {"any": None, "ipv4": "0.0.0.0", "ipv6": "::"}  # httpx's public way to pick the family of a connection
_SSL_CACHE: dict[tuple[Any, ...], ssl.SSLContext] = {}
_STAMP_EVERY = 10.0


def ssl_context(ca_file: os.PathLike[str] | str | None, insecure: bool) -> ssl.SSLContext:
    """A verifying client context (system roots, plus `ca_file`), cached per trust and its files' mtimes."""
    from dxagent.checks.tls.client import system_trust

    try:
        ca_mtime = os.stat(ca_file).st_mtime if ca_file is not None else None
    except OSError:
        ca_mtime = None
    key = (str(ca_file) if ca_file else None, ca_mtime, insecure, _trust_stamp())
    ctx = _SSL_CACHE.get(key)
    if ctx is None:
        ctx = ssl.create_default_context(**system_trust())
        if ca_file is not None:
            ctx.load_verify_locations(cafile=str(ca_file))
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if len(_SSL_CACHE) > 64:
            _SSL_CACHE.clear()
        _SSL_CACHE[key] = ctx
    return ctx


_STAMP: list[Any] = [-1e9, None]  # when the system store's stamp was last read, and its value


def _trust_stamp() -> Any:
    """`trust_stamp()` read at most every `_STAMP_EVERY` seconds (its three stat calls cost more than a cached probe)."""
    from dxagent.checks.tls.client import trust_stamp

    now = time.monotonic()
    if now - _STAMP[0] > _STAMP_EVERY:
        _STAMP[:] = [now, trust_stamp()]
    return _STAMP[1]


def same_origin_or_upgrade(a: httpx.URL, b: httpx.URL) -> bool:
    """Credentials may follow a redirect only to the same origin, or its http → https upgrade."""
    if a.host != b.host:
        return False
    if a.scheme == b.scheme and a.port == b.port:
        return True
    return a.scheme == "http" and b.scheme == "https" and a.port in (None, 80) and b.port in (None, 443)


class ResolveError(OSError):
    """The host name did not resolve (or not to the requested address family)."""

    def __init__(self, host: str, message: str) -> None:
        super().__init__(message)
        self.host = host


class Resolving(httpx.AsyncBaseTransport):
    """Wraps httpx's transport: resolves the host (timed as `dns`), then asks for the address.

    The request's URL is given back its host name before the response leaves, so the client's
    cookie jar and the redirect loop see the URL as configured. Addresses are tried in resolver
    order while the TCP connect itself fails (as `socket.create_connection` does); the lookups of
    one probe are kept, so a redirect to the same host reuses the address and its connection.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, timeline: Timeline, family: int) -> None:
        self.inner = inner
        self.timeline = timeline
        self.family = family
        self.address: str | None = None
        self._known: dict[tuple[str, int], list[str]] = {}

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of `host`, in resolver order; an address literal is its own answer."""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            if self.family not in (socket.AF_UNSPEC, socket.AF_INET if ip.version == 4 else socket.AF_INET6):
                raise ResolveError(host, f"{host} is not an address of the requested family")
            return [str(ip)]
        known = self._known.get((host, port))
        if known is not None:
            return known
        self.timeline.begin("dns")
        try:
            infos = await run_blocking(socket.getaddrinfo, host, port, self.family, socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            self.timeline.end("dns", failed=True)
            raise ResolveError(host, getattr(exc, "strerror", None) or str(exc)) from None
        except BaseException:
            self.timeline.end("dns", failed=True)
            raise
        self.timeline.end("dns")
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        self._known[(host, port)] = addresses
        return addresses

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await self.resolve(url.host, port)
        request.extensions = {**request.extensions, "sni_hostname": url.host}
        try:
            for i, address in enumerate(addresses):
                self.address = address
                request.url = url.copy_with(host=address)
                try:
                    response = await self.inner.handle_async_request(request)
                except httpx.ConnectError:
                    if i + 1 == len(addresses) or self.timeline.failed != "connect":
                        raise
                    continue
                return response
        finally:
            request.url = url
        raise AssertionError("getaddrinfo returned no address")  # it raises instead

    async def aclose(self) -> None:
        await self.inner.aclose()


def build_client(timeline: Timeline, verify: ssl.SSLContext, *, http2: bool = False, proxy: httpx.Proxy | None = None,
                 ip_family: str = "any", headers: dict[str, str] | None = None,
                 ) -> tuple[httpx.AsyncClient, Resolving | None]:
    """A client for one probe of `http` or `throughput`, and its resolver when the request is direct.

    Redirects, credentials and cookies are the caller's business; no proxy variables from the
    environment; no per-operation timeouts here (the caller passes them per request).
    """
    transport = httpx.AsyncHTTPTransport(verify=verify, http2=http2, proxy=proxy, retries=0,
                                         local_address=_LOCAL[ip_family] if proxy is not None else None)
    resolving = None if proxy is not None else Resolving(transport, timeline, _FAMILY[ip_family])
    client = httpx.AsyncClient(transport=resolving or transport, timeout=None, follow_redirects=False,
                               trust_env=False, headers={"User-Agent": USER_AGENT, **(headers or {})})
    return client, resolving


def make_client(cfg: Config, timeline: Timeline) -> tuple[httpx.AsyncClient, Resolving | None]:
    """The `http` kind's client for `cfg` (see `build_client`).

    Accept-Encoding offers only what `BodyReader` decodes within its bound (httpx would add br
    and zstd when those packages are installed).
    """
    proxy = None
    if cfg.proxy is not None:
        auth = (cfg.proxy_auth.username, cfg.proxy_auth.password.reveal()) if cfg.proxy_auth else None
        proxy = httpx.Proxy(cfg.proxy, auth=auth)
    return build_client(timeline, ssl_context(cfg.ca_file, cfg.insecure_skip_verify), http2=cfg.http2, proxy=proxy,
                        ip_family=cfg.ip_family, headers={"Accept-Encoding": "gzip, deflate"})

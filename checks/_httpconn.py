"""The `http` kind's direct connections: httpcore connections per origin, without httpcore's pool.

Why not `httpx.AsyncHTTPTransport` for direct requests: its connection pool is built for many
tasks sharing keep-alive connections, and pays for that on every request (anyio events and
shielded cancel scopes, assignment of queued requests, a close of the whole pool). A probe is one
task with one request chain, and every probe opens its own connections (as blackbox_exporter
does), so a dict of `httpcore.AsyncHTTPConnection` by origin is all the pooling it needs: a
redirect to the same origin reuses the connection (as the pool did), another origin opens one.
Requests and responses stay httpx objects and httpcore's exceptions are mapped by httpx's own
mapping, so the flow and its failure classification see exactly what the transport gave them.
Proxied requests still go through httpx's transport (checks/_httpflow.py).
"""

from __future__ import annotations

import ssl
import typing

import httpcore
import httpx
from httpx._transports.default import AsyncResponseStream, map_httpcore_exceptions  # httpx's own mapping

from dxagent.checks._httptrace import TimedBackend
from dxagent.leanimport import http2_connection

__all__ = ["DirectTransport"]


class _NoLock:
    """Stands in for httpcore's per-connection anyio lock: a probe's connection serves one task only."""

    async def __aenter__(self) -> _NoLock:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()


class DirectTransport(httpx.AsyncBaseTransport):
    """httpx transport over one httpcore connection per origin (see module docstring)."""

    def __init__(self, ssl_context: ssl.SSLContext, backend: TimedBackend) -> None:
        self._ssl_context = ssl_context  # ALPN set when the context was built (checks/http.py)
        self._backend = backend
        self._connections: dict[tuple[bytes, bytes, int], httpcore.AsyncConnectionInterface] = {}

    async def _open(self, origin: httpcore.Origin) -> httpcore.AsyncConnectionInterface:
        """Connect (DNS and TCP timed by the backend), TLS for https, then HTTP/2 if ALPN chose it."""
        host = origin.host.decode("ascii")
        stream = await self._backend.connect_tcp(host, origin.port)
        if origin.scheme == b"https":
            timeline = self._backend.timeline
            timeline.begin("tls")
            try:
                stream = await stream.start_tls(self._ssl_context, server_hostname=host)
            except BaseException:
                timeline.end("tls", failed=True)
                raise
            timeline.end("tls")
            ssl_object = stream.get_extra_info("ssl_object")
            if ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2":
                return http2_connection()(origin, stream)  # h2 is imported on first use (dxagent.leanimport)
        conn = httpcore.AsyncHTTP11Connection(origin, stream)
        conn._state_lock = _NO_LOCK  # type: ignore[assignment]  # were it renamed, httpcore's own lock stays: slower, still right
        return conn

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        req = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,  # type: ignore[arg-type]  # an async byte stream, as httpx passes it
            extensions=request.extensions,
        )
        with map_httpcore_exceptions():
            origin = req.url.origin
            key = (origin.scheme, origin.host, origin.port)  # httpcore.Origin compares but does not hash
            conn = self._connections.pop(key, None)
            if conn is not None and (conn.has_expired() or not conn.is_available()):
                await conn.aclose()  # a redirect to the same origin reuses the connection only while it is usable
                conn = None
            if conn is None:
                conn = await self._open(origin)
            self._connections[key] = conn
            resp = await conn.handle_async_request(req)
        assert isinstance(resp.stream, typing.AsyncIterable)
        return httpx.Response(status_code=resp.status, headers=resp.headers,
                              stream=AsyncResponseStream(resp.stream), extensions=resp.extensions)

    async def aclose(self) -> None:
        connections, self._connections = self._connections, {}
        for conn in connections.values():
            await conn.aclose()

"""httpcore's side of the `http` kind, for the requests that go through httpx (HTTP/2 offered, or a proxy).

Imported only then (checks/http/xport.py). `CoreStream` is our socket stream raising httpcore's
exception types, and `TimedBackend` hands it to httpcore with DNS and connect timed apart
(checks/_httptrace.Connector). `DirectTransport` serves a direct request with `http2: true`: an
httpcore connection per origin, without httpcore's pool. Why not `httpx.AsyncHTTPTransport`
there: its pool is built for many tasks sharing keep-alive connections and pays for that on every
request (anyio events and shielded cancel scopes, a close of the whole pool), while a probe is one
task with one request chain; a redirect to the same origin reuses the connection, another origin
opens one. httpcore's exceptions are mapped by httpx's own mapping. Proxied requests use httpx's
transport with `TimedBackend` as its network backend.
"""

from __future__ import annotations

import asyncio
import ssl
import typing
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from httpx._transports.default import AsyncResponseStream, map_httpcore_exceptions  # httpx's own mapping

from dxagent.checks.http.stream import SocketStream
from dxagent.checks.http.trace import Connector, Timeline
from dxagent.leanimport import http2_connection

__all__ = ["CoreStream", "DirectTransport", "TimedBackend"]


class CoreStream(SocketStream, httpcore.AsyncNetworkStream):
    """Our socket stream for httpcore: the same code, httpcore's exception types."""

    errors = httpcore


class TimedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that times DNS and TCP connect separately (checks/_httptrace.Connector)."""

    def __init__(self, timeline: Timeline, family: int) -> None:
        self.connector = Connector(timeline, family, CoreStream)
        self.timeline = timeline

    @property
    def address(self) -> str | None:
        return self.connector.address

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None, socket_options: Iterable[Any] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        # httpx passes neither a local address nor socket options (we never set them)
        return typing.cast(CoreStream, await self.connector.connect_tcp(host, port, timeout))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not probed")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


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
        self._ssl_context = ssl_context  # ALPN set when the context was built (checks/http/__init__.py)
        self._backend = backend
        self._connections: dict[tuple[bytes, bytes, int], httpcore.AsyncConnectionInterface] = {}

    async def _open(self, origin: httpcore.Origin) -> httpcore.AsyncConnectionInterface:
        """Connect (DNS and TCP timed by the backend), TLS for https, then HTTP/2 if ALPN chose it."""
        host = origin.host.decode("ascii")
        stream = typing.cast(CoreStream, await self._backend.connector.open(origin.scheme.decode("ascii"), host,
                                                                             origin.port, self._ssl_context))
        if origin.scheme == b"https":
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

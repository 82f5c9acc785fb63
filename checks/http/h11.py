"""The `http` kind's direct transport: h11 over our socket stream, one connection per origin.

Why not httpx/httpcore for direct requests: importing them (with anyio, sniffio, urllib.request,
http.cookiejar and idna) costs the daemon about 2.5 MiB of RSS (issue #3), and each request
passes through httpx's and httpcore's layers (~0.25 ms per probe, docs/checks/http.md). What a
probe needs from them is HTTP/1.1 framing, and that is h11, the parser httpcore itself uses, so
the wire behaviour is httpcore's: the same h11 settings (a 100 KiB limit on an incomplete event,
64 KiB reads), 1xx responses skipped (101 ends the head), "Server disconnected without sending
a response." when the peer closes before answering, a write error while sending the request
swallowed so that an early error response is still read, and a connection kept for the next
request of the chain only when h11 finished both sides cleanly and the server has not closed it.
Phases are timed as httpcore's trace events timed them (request, ttfb; transfer by the flow).
A proxy or HTTP/2 goes through httpx instead (checks/http/xport.py).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import h11

from dxagent.checks.http.stream import SocketStream, is_socket_readable
from dxagent.checks.http.trace import Connector, Timeline
from dxagent.checks.http.url import URL
from dxagent.checks.http.wire import LocalProtocolError, RemoteProtocolError, Request, ResponseHeaders, WriteError

__all__ = ["H11Transport"]

READ_NUM_BYTES = 64 * 1024
MAX_INCOMPLETE_EVENT_SIZE = 100 * 1024  # httpcore's: a larger header block is a protocol error


class _Connection:
    """One HTTP/1.1 connection: h11's state machine over a socket stream."""

    __slots__ = ("closed", "h11", "stream", "write_failed")

    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_INCOMPLETE_EVENT_SIZE)
        self.closed = False
        self.write_failed = False

    def reusable(self) -> bool:
        """Both sides finished the last exchange, and the server has not closed (a readable idle socket)."""
        conn = self.h11
        return (not self.closed and conn.our_state is h11.IDLE and conn.their_state is h11.IDLE
                and not is_socket_readable(self.stream.get_extra_info("socket")))

    def _request_bytes(self, request: Request) -> bytes:
        conn = self.h11
        try:
            data = conn.send(h11.Request(method=request.method, target=request.url.raw_path, headers=request.headers))
            if request.body:
                data = (data or b"") + (conn.send(h11.Data(data=request.body)) or b"")
            return (data or b"") + (conn.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(exc) from exc

    async def next_event(self) -> h11.Event | type[h11.PAUSED]:
        conn = self.h11
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise RemoteProtocolError(exc) from exc
            if event is not h11.NEED_DATA:
                return event
            data = await self.stream.read(READ_NUM_BYTES)
            if data == b"" and conn.their_state is h11.SEND_RESPONSE:
                raise RemoteProtocolError("Server disconnected without sending a response.")
            conn.receive_data(data)

    async def exchange(self, request: Request, timeline: Timeline) -> H11Response:
        try:
            timeline.begin("request")
            data = self._request_bytes(request)
            try:
                await self.stream.write(data)
            except WriteError:
                self.write_failed = True
                timeline.fail()  # as httpcore: read on, the server may have answered early (and closed)
            else:
                timeline.end("request")
            timeline.begin("ttfb")
            while True:
                event = await self.next_event()
                if isinstance(event, h11.Response) or (isinstance(event, h11.InformationalResponse)
                                                       and event.status_code == 101):
                    break
            timeline.end("ttfb")
        except BaseException:
            timeline.fail()
            await self.response_closed()
            raise
        return H11Response(self, request.url, event, timeline)

    async def response_closed(self) -> None:
        """After a response: keep the connection for the next request if h11 says it can be, else close it."""
        conn = self.h11
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE and not self.write_failed:
            conn.start_next_cycle()
        else:
            await self.aclose()

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            await self.stream.aclose()


class H11Response:
    """A response whose head has arrived; `aiter_raw()` reads the body (see `_httpwire.Response`)."""

    def __init__(self, conn: _Connection, url: URL, event: h11.Response | h11.InformationalResponse,
                 timeline: Timeline) -> None:
        self.url = url
        self.status_code = event.status_code
        self.http_version = "HTTP/" + event.http_version.decode("ascii", "ignore")
        self.headers = ResponseHeaders(event.headers.raw_items())
        peer = conn.stream.get_extra_info("server_addr")
        self.address: str | None = str(peer[0]) if peer else None
        self.ssl_object: ssl.SSLSocket | None = conn.stream.get_extra_info("ssl_object")
        self.num_bytes_downloaded = 0
        self._conn = conn
        self._timeline = timeline
        self._closed = False
        self._done = False

    def aiter_raw(self) -> AsyncIterator[bytes]:
        return self

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        """The next raw body chunk (an iterator, not a generator: leaving it early needs no finaliser)."""
        if self._done or self._closed:
            raise StopAsyncIteration
        try:
            while True:
                event = await self._conn.next_event()
                if isinstance(event, h11.Data):
                    if event.data:
                        self.num_bytes_downloaded += len(event.data)
                        return bytes(event.data)
                elif isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
                    break
        except BaseException:
            self._timeline.fail()
            await self.aclose()
            raise
        self._done = True
        await self.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._conn.response_closed()


class H11Transport:
    """Direct requests of one probe (see module docstring): a connection per (scheme, host, port)."""

    def __init__(self, ssl_context: ssl.SSLContext, connector: Connector) -> None:
        self._ssl_context = ssl_context  # ALPN (http/1.1) set when the context was built (checks/http/__init__.py)
        self._connector = connector
        self._connections: dict[tuple[str, str, int], _Connection] = {}

    @property
    def address(self) -> str | None:
        return self._connector.address

    async def _open(self, scheme: str, host: str, port: int) -> _Connection:
        """Connect (DNS and TCP timed by the connector), then TLS for https."""
        return _Connection(await self._connector.open(scheme, host, port, self._ssl_context))

    async def send(self, request: Request) -> H11Response:
        key = request.url.origin()
        conn = self._connections.pop(key, None)
        if conn is not None and not conn.reusable():
            await conn.aclose()  # a redirect to the same origin reuses the connection only while it is usable
            conn = None
        if conn is None:
            conn = await self._open(*key)
        self._connections[key] = conn
        return await conn.exchange(request, self._connector.timeline)

    async def aclose(self) -> None:
        connections, self._connections = self._connections, {}
        for conn in connections.values():
            await conn.aclose()

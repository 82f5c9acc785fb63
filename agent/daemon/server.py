"""The daemon's HTTP listener: a small HTTP/1.1 server on the agent's own event loop.

It serves a handful of GET endpoints to Prometheus and technicians, so it is written on
asyncio streams rather than pulling in a web framework (memory, see bench/). Being on the
internet-facing side of a commune machine, it is strict: header size and read-time limits, TLS
handshake timeout, Basic auth checked against bcrypt hashes off the loop, and routes that can be
restricted to loopback peers (`/-/reload`).

One host must not be able to hide the agent from Prometheus by holding connections open: each
client address gets at most `MAX_PER_CLIENT` connections (more are reset at once, before any TLS
work), a new connection must send its request head within `HEADER_TIMEOUT`, and when all
`MAX_CONNECTIONS` slots are taken the oldest connection idling between requests gives way.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import gzip
import ipaddress
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dxagent.daemon.webconfig import BasicAuth, WebConfig
from dxagent.probe import run_blocking

__all__ = ["Request", "Response", "Route", "HTTPServer", "parse_listen", "is_loopback"]

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 256 * 1024  # the largest default workstation self-report
HEADER_TIMEOUT = 5.0        # a new connection must send its request head (and finish TLS) within this
IDLE_TIMEOUT = 90.0         # keep-alive: wait this long for the next request (yields its slot when full)
MAX_CONNECTIONS = 256       # open connections in all
MAX_PER_CLIENT = 32         # per client address: Prometheus needs 1, a browser ~6, a script in parallel more
BACKLOG = 1024              # the kernel's accept queue: a burst of connects must not crowd out a scrape
GZIP_MIN_BYTES = 1024
REFUSAL_LOG_EVERY = 600.0   # one warning per client address at most this often


@dataclasses.dataclass(eq=False)
class _Conn:
    """One admitted connection: its client address, and whether it waits for a request (evictable)."""

    client: str
    opened: float
    task: asyncio.Task[Any] | None = None
    idle: bool = True
    released: bool = False


class _Gate(asyncio.Protocol):
    """Admission at `connection_made`, before any stream, writer or task exists for the connection.

    A refused connection then costs an accept and a reset only, so a host reconnecting as fast as
    it can (thousands a second) keeps the loop free for scrapes. An admitted one is handed to an
    `asyncio.StreamReaderProtocol` running `HTTPServer._accept`.
    """

    def __init__(self, server: HTTPServer) -> None:
        self._server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        conn = self._server._admit(client_key(str(peer[0]) if peer else "?"))
        if conn is None:
            assert isinstance(transport, asyncio.Transport)
            transport.abort()  # a reset frees the slot at once, without a FIN handshake
            return
        reader = asyncio.StreamReader(limit=MAX_HEADER_BYTES)

        async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await self._server._accept(r, w, conn)

        proto = asyncio.StreamReaderProtocol(reader, serve)
        transport.set_protocol(proto)
        proto.connection_made(transport)


@dataclasses.dataclass(frozen=True)
class Request:
    """One parsed request; header names are lower-case."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    peer: str
    body: bytes = b""
    user: str | None = None


@dataclasses.dataclass
class Response:
    """What a handler returns; the server adds length, encoding and connection headers."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]


@dataclasses.dataclass(frozen=True)
class Route:
    """A path's handler, its allowed methods, and whether only loopback peers may call it."""

    handler: Handler
    methods: tuple[str, ...] = ("GET", "HEAD")
    loopback_only: bool = False
    own_auth: bool = False  # the handler checks its own credential (workstation self-reports: a site token)


def parse_listen(listen: str) -> tuple[str | None, int]:
    """`0.0.0.0:10190`, `[::1]:10190`, `:10190` (all addresses) → (host or None, port)."""
    host, _, port = listen.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return (host or None), int(port)


def client_key(peer: str) -> str:
    """The address a connection limit applies to: IPv4-mapped IPv6 folded to IPv4, zone dropped."""
    try:
        addr = ipaddress.ip_address(peer.split("%")[0])
    except ValueError:
        return peer
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def is_loopback(peer: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback peers."""
    try:
        addr = ipaddress.ip_address(peer.split("%")[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _text(status: int, message: str | None = None) -> Response:
    phrase = HTTPStatus(status).phrase
    return Response(status, f"{message or phrase}\n".encode())


class HTTPServer:
    """Routes requests to handlers; TLS and Basic auth come from a WebConfig."""

    def __init__(self, routes: Mapping[str, Route], web: WebConfig | None = None) -> None:
        self.routes = dict(routes)
        self.web = web or WebConfig()
        self.auth = BasicAuth(self.web.basic_auth_users)
        self._server: asyncio.Server | None = None
        self._ssl: ssl.SSLContext | None = None
        self._connections: dict[_Conn, _Conn] = {}  # insertion-ordered set
        self._per_client: dict[str, int] = {}
        self._refusal_logged: dict[str, float] = {}
        self.refused = 0   # connections reset because their client address had too many
        self.evicted = 0   # idle connections closed to make room for a new one
        self.address: tuple[str, int] | None = None

    async def start(self, listen: str) -> None:
        """Bind and serve; OSError (port in use, bad address) propagates to the caller."""
        host, port = parse_listen(listen)
        ctx = self._ssl = self.web.ssl_context()
        # Admission happens first (`_Gate`), TLS per connection afterwards (`_accept`): the limits
        # apply before any handshake or stream object.
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Gate(self), host, port, reuse_address=True,
                                                backlog=BACKLOG)
        sock = self._server.sockets[0].getsockname()
        self.address = (sock[0], sock[1])
        log.info("listening on %s (%s%s)", listen, "https" if ctx else "http",
                 ", basic auth" if self.auth.enabled else "")

    async def close(self) -> None:
        """Stop accepting and drop open connections (scrapes are retried by Prometheus)."""
        if self._server is not None:
            self._server.close()
            for conn in list(self._connections):
                if conn.task is not None:
                    conn.task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def _admit(self, client: str) -> _Conn | None:
        """A slot for one more connection of `client`, or None; evicts an idle one when all are taken."""
        if self._per_client.get(client, 0) >= MAX_PER_CLIENT:
            self.refused += 1
            now = time.monotonic()
            if now - self._refusal_logged.get(client, -REFUSAL_LOG_EVERY) >= REFUSAL_LOG_EVERY:
                self._refusal_logged[client] = now
                log.warning("HTTP client %s holds %d connections: refusing more (at most one warning per %d min)",
                            client, MAX_PER_CLIENT, REFUSAL_LOG_EVERY // 60)
            return None
        if len(self._connections) >= MAX_CONNECTIONS:
            idle = [c for c in self._connections.values() if c.idle and c.task is not None and not c.released]
            if not idle:
                self.refused += 1
                return None
            # the client holding the most connections gives way first, with its oldest idle one
            victim = min(idle, key=lambda c: (-self._per_client.get(c.client, 0), c.opened))
            self._release(victim)
            assert victim.task is not None
            victim.task.cancel()
            self.evicted += 1
        conn = _Conn(client, time.monotonic())
        self._connections[conn] = conn
        self._per_client[client] = self._per_client.get(client, 0) + 1
        return conn

    def _release(self, conn: _Conn) -> None:
        if conn.released:
            return
        conn.released = True
        self._connections.pop(conn, None)
        left = self._per_client.get(conn.client, 1) - 1
        if left > 0:
            self._per_client[conn.client] = left
        else:
            self._per_client.pop(conn.client, None)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: _Conn) -> None:
        conn.task = asyncio.current_task()
        peer = str((writer.get_extra_info("peername") or ("?",))[0])
        if conn.released:  # evicted before it started
            writer.transport.abort()
            return
        try:
            if self._ssl is not None:
                await writer.start_tls(self._ssl, ssl_handshake_timeout=HEADER_TIMEOUT)
            await self._serve(reader, writer, peer, conn)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("HTTP connection failed")
        finally:
            self._release(conn)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str,
                     conn: _Conn) -> None:
        first = True
        while True:
            conn.idle = True
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEADER_TIMEOUT if first else IDLE_TIMEOUT)
            except asyncio.LimitOverrunError:
                await self._write(writer, _text(431), head_only=False, keep=False)
                return
            except asyncio.IncompleteReadError:
                return
            conn.idle = False
            first = False
            try:
                request = await self._parse(head, reader, peer)
            except _BadRequest as exc:
                await self._write(writer, _text(exc.status, str(exc)), head_only=False, keep=False)
                return
            keep = request.headers.get("connection", "").lower() != "close"
            response = await self._dispatch(request, writer)
            response.headers.setdefault("Vary", "Accept-Encoding")
            if "gzip" in request.headers.get("accept-encoding", "") and len(response.body) >= GZIP_MIN_BYTES:
                response.body = gzip.compress(response.body, compresslevel=1, mtime=0)
                response.headers["Content-Encoding"] = "gzip"
            await self._write(writer, response, head_only=request.method == "HEAD", keep=keep)
            if not keep:
                return

    async def _parse(self, head: bytes, reader: asyncio.StreamReader, peer: str) -> Request:
        try:
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ")
        except ValueError:
            raise _BadRequest(400, "malformed request line") from None
        if not version.startswith("HTTP/1."):
            raise _BadRequest(505, "HTTP/1.x only")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise _BadRequest(400, "malformed header")
            headers[name.lower()] = value.strip()
        if version == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
            headers["connection"] = "close"
        if "transfer-encoding" in headers:
            raise _BadRequest(501, "chunked request bodies are not supported")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise _BadRequest(400, "bad Content-Length") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise _BadRequest(413, "request body too large")
        body = await asyncio.wait_for(reader.readexactly(length), HEADER_TIMEOUT) if length else b""
        url = urlsplit(target)
        return Request(method, url.path or "/", parse_qs(url.query), headers, peer, body)

    async def _dispatch(self, request: Request, writer: asyncio.StreamWriter) -> Response:
        route = self.routes.get(request.path)
        if route is None:
            return _text(404)
        if route.loopback_only and not is_loopback(request.peer):
            return _text(403, "this endpoint answers on loopback only")
        if request.method not in route.methods:
            return Response(405, b"method not allowed\n", headers={"Allow": ", ".join(route.methods)})
        if not self._client_san_ok(writer):
            return _text(403, "client certificate not allowed")
        if self.auth.enabled and not route.loopback_only and not route.own_auth:
            user = await self._authenticate(request)
            if user is None:
                return Response(401, b"unauthorized\n", headers={"WWW-Authenticate": 'Basic realm="dxagent"'})
            request = dataclasses.replace(request, user=user)
        try:
            return await route.handler(request)
        except Exception:
            log.exception("handler for %s failed", request.path)
            return _text(500)

    async def _authenticate(self, request: Request) -> str | None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if not sep:
            return None
        return user if await run_blocking(self.auth.check, user, password) else None

    def _client_san_ok(self, writer: asyncio.StreamWriter) -> bool:
        tls = self.web.tls_server_config
        if tls is None or not tls.client_allowed_sans:
            return True
        cert = writer.get_extra_info("peercert") or {}
        sans = {value for _, value in cert.get("subjectAltName", ())}
        return bool(sans & set(tls.client_allowed_sans))

    async def _write(self, writer: asyncio.StreamWriter, response: Response, head_only: bool, keep: bool) -> None:
        phrase = HTTPStatus(response.status).phrase
        headers = {"Content-Type": response.content_type, "Content-Length": str(len(response.body)),
                   **self.web.http_server_config.headers, **response.headers,
                   "Connection": "keep-alive" if keep else "close"}
        head = f"HTTP/1.1 {response.status} {phrase}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(head.encode("latin-1") + b"\r\n" + (b"" if head_only else response.body))
        await asyncio.wait_for(writer.drain(), HEADER_TIMEOUT)

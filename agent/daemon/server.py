"""The daemon's HTTP listener: a small HTTP/1.1 server on the agent's own event loop.

It serves a handful of GET endpoints to Prometheus and technicians, so it is written on
asyncio streams rather than pulling in a web framework (memory, see bench/). Being on the
internet-facing side of a commune machine, it is strict: header size and read-time limits, a
cap on open connections, TLS handshake timeout, Basic auth checked against bcrypt hashes off
the loop, and routes that can be restricted to loopback peers (`/-/reload`).
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
HEADER_TIMEOUT = 10.0
IDLE_TIMEOUT = 90.0
MAX_CONNECTIONS = 64
GZIP_MIN_BYTES = 1024


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
        self._connections: set[asyncio.Task[Any]] = set()
        self.address: tuple[str, int] | None = None

    async def start(self, listen: str) -> None:
        """Bind and serve; OSError (port in use, bad address) propagates to the caller."""
        host, port = parse_listen(listen)
        ctx = self.web.ssl_context()
        self._server = await asyncio.start_server(
            self._accept, host, port, ssl=ctx, limit=MAX_HEADER_BYTES, reuse_address=True,
            ssl_handshake_timeout=HEADER_TIMEOUT if ctx else None,
        )
        sock = self._server.sockets[0].getsockname()
        self.address = (sock[0], sock[1])
        log.info("listening on %s (%s%s)", listen, "https" if ctx else "http",
                 ", basic auth" if self.auth.enabled else "")

    async def close(self) -> None:
        """Stop accepting and drop open connections (scrapes are retried by Prometheus)."""
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._connections) >= MAX_CONNECTIONS:
            writer.close()
            return
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("HTTP connection failed")
        finally:
            self._connections.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str((writer.get_extra_info("peername") or ("?",))[0])
        first = True
        while True:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEADER_TIMEOUT if first else IDLE_TIMEOUT)
            except asyncio.LimitOverrunError:
                await self._write(writer, _text(431), head_only=False, keep=False)
                return
            except asyncio.IncompleteReadError:
                return
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

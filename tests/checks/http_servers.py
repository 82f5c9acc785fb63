"""Real loopback servers for the `http` kind's tests: a router of well-behaved pages, hostile servers, and HTTP/2.

Hostile servers are raw asyncio handlers on one background event loop (`RawServers`): each does
one nasty thing (stall the TLS handshake, trickle the body, loop redirects, send 50 MB or a 200 KB
header line, a gzip bomb). `RouteHandler` is a `http.server` handler for the ordinary cases, used
with `tests.pki.serve_https`. `h2_handler` speaks just enough HTTP/2 (with the `h2` library that
httpx itself uses) to answer GETs over TLS with ALPN "h2".
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

USER, PASSWORD, TOKEN = "giamsat", "mật-khẩu-bí-mật-42", "tok-3f9c2e7a"
PAGE = ("<!doctype html><html><head><meta charset='utf-8'><title> Cổng Dịch vụ công\n &amp; thử </title></head>"
        "<body><h1>Cổng dịch vụ công tỉnh</h1><p>Trạng thái: hoạt động</p></body></html>").encode()
SEEN_AUTH: list[str | None] = []  # Authorization headers received on /echo-auth (credential-leak test)


class RouteHandler(BaseHTTPRequestHandler):
    """Ordinary pages selected by path (see `_route`); HTTP/1.1 with keep-alive."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        hdrs = {"Content-Type": "text/html; charset=utf-8", **(headers or {})}
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        posted = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = parse_qs(url.query)
        head = parts[0] if parts else ""
        if head == "status":
            self._send(int(parts[1]), b"status page")
        elif head == "login":  # sets a session cookie and redirects, as SSO portals do
            self._send(302, b"", {"Location": "/home", "Set-Cookie": "sid=abc123; Path=/; HttpOnly"})
        elif head == "home":  # needs the cookie set by /login
            cookie = self.headers.get("Cookie") or ""
            self._send(200, b"welcome") if "sid=abc123" in cookie else self._send(401, b"no session")
        elif head == "redirect":  # /redirect/N → … → /redirect/0 (200)
            n = int(parts[1])
            if n == 0:
                self._send(200, PAGE)
            else:
                self._send(302, b"", {"Location": f"/redirect/{n - 1}"})
        elif head == "goto":  # /goto?to=URL → 302 there (cross-origin and http→https tests)
            self._send(int(query.get("code", ["302"])[0]), b"moved", {"Location": query["to"][0]})
        elif head == "creds-redirect":  # a Location with user:password@ must not reach output
            self._send(302, b"", {"Location": "http://u:leaked-pw@portal.example/"})
        elif head == "auth":
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            ok = self.headers.get("Authorization") == expected
            self._send(200 if ok else 401, b"welcome" if ok else b"who are you",
                       {} if ok else {"WWW-Authenticate": 'Basic realm="tthc"'})
        elif head == "bearer":
            ok = self.headers.get("Authorization") == f"Bearer {TOKEN}"
            self._send(200 if ok else 403, b"welcome" if ok else b"forbidden")
        elif head == "echo-auth":
            SEEN_AUTH.append(self.headers.get("Authorization"))
            self._send(200, b"seen")
        elif head == "slow":
            time.sleep(float(query.get("s", ["0.3"])[0]))
            self._send(200, PAGE)
        elif head == "gzip":
            self._send(200, gzip.compress(PAGE), {"Content-Encoding": "gzip"})
        elif head == "echo":
            self._send(200, f"{self.command} {posted.decode()}".encode(), {"Content-Type": "text/plain"})
        else:
            self._send(200, PAGE, {"X-Frame-Options": "DENY"})

    do_GET = do_HEAD = do_POST = _route

    def version_string(self) -> str:
        return "test-portal/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class RawServers:
    """A background asyncio loop hosting raw TCP/TLS servers; `add()` returns the port."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._servers: list[asyncio.Server] = []
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def add(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> int:
        async def start() -> asyncio.Server:
            async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                with contextlib.suppress(Exception, asyncio.CancelledError):  # clients hang up; close() cancels
                    await handler(reader, writer)
                with contextlib.suppress(Exception):
                    writer.close()

            return await asyncio.start_server(guarded, "127.0.0.1", 0, ssl=ssl_context,
                                              ssl_handshake_timeout=30 if ssl_context else None)

        server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    def close(self) -> None:
        async def stop() -> None:
            for s in self._servers:
                s.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


async def _read_request(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


async def stall_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept TCP and never say anything (for https: the TLS handshake never completes)."""
    await reader.read(65536)
    await asyncio.sleep(3600)


async def close_after_hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the client's first flight (a TLS ClientHello) and hang up without a word."""
    await reader.read(65536)


async def stall_response(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request, then never answer."""
    await _read_request(reader)
    await asyncio.sleep(3600)


async def trickle_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send headers promptly, then the body at 1 byte per second."""
    await _read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n")
    await writer.drain()
    for _ in range(100000):
        writer.write(b"x")
        await writer.drain()
        await asyncio.sleep(1)


async def redirect_loop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Every request is redirected to the same path, forever (keep-alive)."""
    while True:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()


async def big_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A 50 MB body, written as fast as the client reads."""
    await _read_request(reader)
    size = 50 * 1024 * 1024
    writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {size}\r\n\r\n".encode())
    chunk = b"a" * 65536
    sent = 0
    while sent < size:
        writer.write(chunk[: size - sent])
        sent += len(chunk)
        await writer.drain()


async def huge_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A 200 KB header line (more than httpcore's 100 KiB limit for an incomplete event)."""
    await _read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nX-Huge: " + b"h" * 200_000 + b"\r\nContent-Length: 2\r\n\r\nok")
    await writer.drain()
    await asyncio.sleep(30)


async def proxy_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A forward proxy that answers itself with the request head it got (absolute URI, Proxy-Authorization)."""
    head = await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + str(len(head)).encode()
                 + b"\r\nConnection: close\r\n\r\n" + head)
    await writer.drain()


GZIP_BOMB = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)  # ~64 KB on the wire → 64 MiB


async def gzip_bomb(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """64 MiB of zeros compressed to ~64 KB: the reader must stop decompressing at its limit."""
    await _read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n"
                 b"Content-Length: " + str(len(GZIP_BOMB)).encode() + b"\r\n\r\n" + GZIP_BOMB)
    await writer.drain()


async def h2_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer every HTTP/2 request with 200 and a small HTML page."""
    import h2.config
    import h2.connection
    import h2.events

    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    writer.write(conn.data_to_send())
    body = b"<html><head><title>h2 portal</title></head><body>ok over h2</body></html>"
    while True:
        data = await reader.read(65536)
        if not data:
            return
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                conn.send_headers(event.stream_id, [(":status", "200"), ("content-type", "text/html"),
                                                    ("content-length", str(len(body))), ("server", "h2-test")])
                conn.send_data(event.stream_id, body, end_stream=True)
        writer.write(conn.data_to_send())
        await writer.drain()


def server_context(cert: str, key: str, alpn: list[str] | None = None) -> ssl.SSLContext:
    """A TLS server context for RawServers (optionally with ALPN, e.g. ["h2"])."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


# --- servers for the transport-parity tests (test_http_wire.py): each odd but legal, or broken in one way ---

RECORDED: list[bytes] = []  # request heads (and bodies) received by `record_request`
CONNECTIONS: list[int] = []  # one entry per connection accepted by `keepalive_redirects`


async def record_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Keep the request's bytes exactly as sent (head and body), answer 200."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
    RECORDED.append(head + (await reader.readexactly(length) if length else b""))
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    await writer.drain()


async def informational(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """100 Continue and 103 Early Hints before the real answer (both must be skipped)."""
    await _read_request(reader)
    writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                 b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 21\r\n\r\n<title>hints</title>!")
    await writer.drain()


async def http10_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """HTTP/1.0, no Content-Length: the body ends when the server closes."""
    await _read_request(reader)
    writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n<title>C\xf4ng c\xfc</title>")
    await writer.drain()


async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A chunked, gzip-encoded body, with repeated and Latin-1 headers."""
    await _read_request(reader)
    body = gzip.compress(b"<title>chunked</title>" + b"y" * 5000)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000]) for i in range(0, len(body), 1000))
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"
                 b"X-Multi: a\r\nX-Multi: b\r\nServer: caf\xe9/1\r\n\r\n" + chunks + b"0\r\n\r\n")
    await writer.drain()


async def disconnect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request and hang up without a word."""
    await _read_request(reader)


async def short_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Promise 100 bytes, send 10, hang up."""
    await _read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
    await writer.drain()


async def not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Something that is not an HTTP response at all."""
    await _read_request(reader)
    writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(30)


async def keepalive_redirects(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """/hop/N → /hop/N-1 on one keep-alive connection; /close/N the same with `Connection: close`.

    Counts connections (CONNECTIONS), so a test can see whether the client reused one.
    """
    CONNECTIONS.append(1)
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1].decode()
        kind, n = path.strip("/").split("/")
        close = kind == "close"
        if int(n) == 0:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
        else:
            writer.write(f"HTTP/1.1 302 Found\r\nLocation: /{kind}/{int(n) - 1}\r\nContent-Length: 5\r\n"
                         f"{'Connection: close' if close else 'X-Keep: 1'}\r\n\r\nmoved".encode())
        await writer.drain()
        if close or int(n) == 0:
            return

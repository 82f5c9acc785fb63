"""A network stream straight on a non-blocking socket, for the `http` kind's connections.

Why not httpcore's anyio stream or asyncio's streams: both put layers of Python between the
socket and h11. anyio wraps every read and write in a cancel scope and runs OpenSSL's memory BIO
from Python record by record; asyncio's `start_tls` runs its SSL protocol (asyncio/sslproto.py,
pure Python in 3.11) on every record, builds the `getpeercert()` dict after each handshake and
waits for a close_notify exchange. Profiling the https probe loop (bench/bench_http.py --profile)
put those layers at about a third of the probe's CPU. Here the socket itself is the stream: a read
is one `recv` (OpenSSL's `SSL_read` for TLS) and, only when nothing is there, one wait for
readability through the event loop's selector; the handshake is `SSLSocket.do_handshake()` driven
the same way. Errors are raised as `errors.X(exc) from exc`, where `errors` is our own
checks/http/wire.py for the h11 transport and httpcore itself for the stream httpcore drives
(proxy, HTTP/2: `_httpxport.CoreStream`), so either side sees its own types and
`_httpflow.classify` the same chain, including the `ssl.SSLError` a failed handshake raises.
Nothing here imports httpcore.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import ssl
from types import ModuleType
from typing import Any, TypeVar

from dxagent.checks.http import wire as _httpwire

__all__ = ["SocketStream", "connect", "is_socket_readable"]

_WOULD_BLOCK = (BlockingIOError, InterruptedError)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():  # the waiter may have been cancelled (timeout) before the selector fired
        fut.set_result(None)


async def _ready(loop: asyncio.AbstractEventLoop, sock: socket.socket, write: bool, timeout: float | None) -> None:
    """Wait until the socket is readable (or writable): the only place a stream yields to the loop."""
    fd = sock.fileno()
    fut = loop.create_future()
    if write:
        loop.add_writer(fd, _wake, fut)
    else:
        loop.add_reader(fd, _wake, fut)
    try:
        if timeout is None:  # the flow's one asyncio.timeout bounds the whole probe
            await fut
        else:
            async with asyncio.timeout(timeout):
                await fut
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


def is_socket_readable(sock: socket.socket) -> bool:
    """Whether a read would return at once: for an idle keep-alive connection, that the server closed it.

    (httpcore's check: a closed socket counts as readable, as its next read is the final b"".)
    """
    fd = sock.fileno()
    if fd < 0:
        return True
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))


class SocketStream:
    """A stream (httpcore.AsyncNetworkStream's methods) over a connected non-blocking socket, plain or TLS."""

    errors: ModuleType = _httpwire  # where ConnectError, ReadError, … come from (see module docstring)

    def __init__(self, sock: socket.socket, peer: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._sock = sock
        self._peer = peer
        self._loop = loop

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        sock = self._sock
        try:
            while True:
                try:
                    return sock.recv(max_bytes)
                except (*_WOULD_BLOCK, ssl.SSLWantReadError):
                    await _ready(self._loop, sock, False, timeout)
                except ssl.SSLWantWriteError:  # renegotiation or a key update wants to send first
                    await _ready(self._loop, sock, True, timeout)
        except TimeoutError as exc:
            raise self.errors.ReadTimeout(exc) from exc
        except OSError as exc:  # reset, or an ssl.SSLError from the TLS layer
            raise self.errors.ReadError(exc) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        sock = self._sock
        view = memoryview(buffer)
        try:
            while view:
                try:
                    view = view[sock.send(view):]
                except (*_WOULD_BLOCK, ssl.SSLWantWriteError):
                    await _ready(self._loop, sock, True, timeout)  # OpenSSL wants the same buffer again: kept as is
                except ssl.SSLWantReadError:
                    await _ready(self._loop, sock, False, timeout)
        except TimeoutError as exc:
            raise self.errors.WriteTimeout(exc) from exc
        except OSError as exc:
            raise self.errors.WriteError(exc) from exc

    async def aclose(self) -> None:
        sock = self._sock
        if isinstance(sock, ssl.SSLSocket) and sock.fileno() >= 0:
            # A polite close_notify, sent without waiting for the server's (what the probe needs is in hand).
            with contextlib.suppress(OSError, ValueError):
                sock.unwrap()
        sock.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> SocketStream:
        sock = self._sock
        try:
            tls = ssl_context.wrap_socket(sock, server_hostname=server_hostname, do_handshake_on_connect=False)
        except BaseException:
            sock.close()
            raise
        try:
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    await _ready(self._loop, tls, False, timeout)
                except ssl.SSLWantWriteError:
                    await _ready(self._loop, tls, True, timeout)
        except TimeoutError as exc:
            tls.close()
            raise self.errors.ConnectTimeout(exc) from exc
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            # Classified like asyncio's start_tls reported it: the connection closed mid-handshake.
            tls.close()
            closed = ConnectionResetError("server closed the connection during the TLS handshake")
            raise self.errors.ConnectError(closed) from closed
        except OSError as exc:  # ssl.SSLError (verification included) is an OSError
            tls.close()
            raise self.errors.ConnectError(exc) from exc
        except BaseException:
            tls.close()
            raise
        return type(self)(tls, self._peer, self._loop)

    def get_extra_info(self, info: str) -> Any:
        sock = self._sock
        if info == "ssl_object":
            return sock if isinstance(sock, ssl.SSLSocket) else None
        if info == "server_addr":
            return self._peer
        if info == "client_addr":
            with contextlib.suppress(OSError):
                return sock.getsockname()
            return None
        if info == "socket":
            return sock
        if info == "is_readable":
            return sock.fileno() < 0 or is_socket_readable(sock)
        return None


S = TypeVar("S", bound=SocketStream)


async def connect(addr: str, port: int, timeout: float | None, stream_class: type[S]) -> S:
    """Connect to an IP address (no resolver step: the caller resolved it).

    Raises `stream_class.errors`' ConnectTimeout / ConnectError, like httpcore's own backends.
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if timeout is None:
            await loop.sock_connect(sock, (addr, port))
        else:
            async with asyncio.timeout(timeout):
                await loop.sock_connect(sock, (addr, port))
    except TimeoutError:
        sock.close()
        raise stream_class.errors.ConnectTimeout(f"connect to {addr}:{port} timed out") from None
    except OSError as exc:
        sock.close()
        raise stream_class.errors.ConnectError(str(exc)) from exc
    except BaseException:
        sock.close()
        raise
    return stream_class(sock, (addr, port), loop)

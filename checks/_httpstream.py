"""An httpcore network stream on plain asyncio streams, for the `http` kind's direct connections.

Why not httpcore's anyio stream: every read and write there goes through an anyio cancel scope
and attribute lookups, and its TLS layer runs OpenSSL's memory BIO from Python record by record.
Profiling one probe loop on loopback (bench/bench_http.py) put those layers at about a fifth of
the probe's CPU. asyncio's StreamReader/StreamWriter and its native `start_tls` do the same work
with less Python per byte. Errors are mapped to httpcore's exception types exactly as the anyio
stream maps them (`raise httpcore.X(exc) from exc`), so `_httpflow.classify` sees the same chain,
including the `ssl.SSLError` a failed handshake raises.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

import httpcore
from httpcore._utils import is_socket_readable

__all__ = ["AsyncioStream", "connect"]

_READ_LIMIT = 65536


class AsyncioStream(httpcore.AsyncNetworkStream):
    """httpcore.AsyncNetworkStream over an asyncio StreamReader/StreamWriter pair."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            if timeout is None:
                return await self._reader.read(max_bytes)
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(exc) from exc
        except OSError as exc:  # reset, or an ssl.SSLError from the TLS layer
            raise httpcore.ReadError(exc) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            if timeout is None:
                await self._writer.drain()
            else:
                async with asyncio.timeout(timeout):
                    await self._writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(exc) from exc
        except (OSError, RuntimeError) as exc:  # RuntimeError: write on a closed transport
            raise httpcore.WriteError(exc) from exc

    async def aclose(self) -> None:
        self._writer.close()  # no wait for close_notify's answer: the probe has what it needs

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                # The outer timeout bounds the handshake; asyncio's own default (60 s) never fires first.
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname,
                                             ssl_handshake_timeout=max(timeout or 60.0, 1.0) + 1.0)
        except TimeoutError as exc:
            self._writer.close()
            raise httpcore.ConnectTimeout(exc) from exc
        except (OSError, EOFError) as exc:  # ssl.SSLError is an OSError; EOF: closed mid-handshake
            self._writer.close()
            raise httpcore.ConnectError(exc) from exc
        except BaseException:
            self._writer.close()
            raise
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        if info == "is_readable":
            sock = self._writer.get_extra_info("socket")
            return sock is None or is_socket_readable(sock)
        return None


async def connect(addr: str, port: int, timeout: float | None) -> AsyncioStream:
    """Connect to an IP address (no resolver step: the caller resolved it) and wrap the socket.

    Raises httpcore.ConnectTimeout / ConnectError like httpcore's own backends.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, (addr, port))
        reader = asyncio.StreamReader(limit=_READ_LIMIT, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        transport, _ = await loop.create_connection(lambda: protocol, sock=sock)
    except TimeoutError:
        sock.close()
        raise httpcore.ConnectTimeout(f"connect to {addr}:{port} timed out") from None
    except OSError as exc:
        sock.close()
        raise httpcore.ConnectError(str(exc)) from exc
    except BaseException:
        sock.close()
        raise
    return AsyncioStream(reader, asyncio.StreamWriter(transport, protocol, reader, loop))

"""A real TCP server on loopback in a thread, for tests and benches (banners, silent or closing peers).

    with serve_tcp(handler) as port:      # handler(conn) -> True to keep the connection open
        ...

Why one helper: several tests need a tiny real TCP peer; the listening socket, the accept loop
and the clean stop (every held connection closed) are the same each time, only the reaction to a
connection differs. The companion for UDP is tests/udpserver.py.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

__all__ = ["serve_tcp", "close", "hold", "greet"]


def close(conn: socket.socket) -> bool:
    """Accept and close at once (a port that is open and nothing more)."""
    return False


def hold(conn: socket.socket) -> bool:
    """Accept and keep the connection open in silence (a hung service)."""
    return True


def greet(banner: bytes) -> Callable[[socket.socket], bool]:
    """Send `banner`, then close (an SMTP-like greeting)."""

    def handler(conn: socket.socket) -> bool:
        with contextlib.suppress(OSError):
            conn.sendall(banner)
        return False

    return handler


@contextlib.contextmanager
def serve_tcp(handler: Callable[[socket.socket], bool], host: str = "127.0.0.1", backlog: int = 128) -> Iterator[int]:
    """Accept connections, hand each to `handler` (True keeps it open until exit); yield the port."""
    srv = socket.create_server((host, 0), backlog=backlog)
    srv.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            if handler(conn):
                held.append(conn)
            else:
                conn.close()

    thread = threading.Thread(target=accept, daemon=True, name="tcp-test-server")
    thread.start()
    try:
        yield int(srv.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        srv.close()

"""A real UDP server on loopback in a thread, for tests and benches (DNS, SNTP, silent peers).

    with serve_udp(handler) as port:      # handler(data, peer) -> reply bytes, or None to stay silent
        ...

Why one helper: several tests need a tiny real UDP responder; the socket, the thread and the
clean stop are the same each time, only the answer differs.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["serve_udp"]


@contextlib.contextmanager
def serve_udp(handler: Callable[[bytes, Any], bytes | list[bytes] | None], host: str = "127.0.0.1") -> Iterator[int]:
    """Answer each datagram with `handler(data, peer)` (one reply, several, or None for silence);
    yield the bound port; stop on exit."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            reply = handler(data, peer)
            for datagram in [reply] if isinstance(reply, bytes) else reply or []:
                with contextlib.suppress(OSError):
                    sock.sendto(datagram, peer)

    thread = threading.Thread(target=serve, daemon=True, name="udp-test-server")
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join(1)
        sock.close()

"""Shared fixtures: fake check kinds for runner/CLI tests and a loopback TCP listener."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from dxagent import checks
from tests import netguard

netguard.install()


@pytest.fixture
def fake_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the test-only kinds from tests/fakekinds.py (sleep, crash, status…)."""
    for kind in ("fake",):
        monkeypatch.setitem(checks.KINDS, kind, "fakekinds")


@pytest.fixture
def tcp_listener() -> Iterator[tuple[str, int]]:
    """A real TCP server on 127.0.0.1 that greets with a banner and closes."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            with conn, contextlib.suppress(OSError):
                conn.sendall(b"220 test.local ESMTP ready\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield "127.0.0.1", srv.getsockname()[1]
    stop.set()
    thread.join(1)
    srv.close()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

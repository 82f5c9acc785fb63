"""Shared fixtures: fake check kinds for runner/CLI tests and a loopback TCP listener."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from dxagent import checks
from tests import netguard
from tests.tcpserver import greet, serve_tcp

netguard.install()


@pytest.fixture
def fake_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the test-only kinds from tests/fakekinds.py (sleep, crash, status…)."""
    for kind in ("fake",):
        monkeypatch.setitem(checks.KINDS, kind, "fakekinds")


@pytest.fixture
def tcp_listener() -> Iterator[tuple[str, int]]:
    """A real TCP server on 127.0.0.1 that greets with a banner and closes."""
    with serve_tcp(greet(b"220 test.local ESMTP ready\r\n")) as port:
        yield "127.0.0.1", port


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

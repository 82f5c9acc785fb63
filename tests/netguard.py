"""A guard that keeps the test process off every network but loopback and the test namespaces.

The network rule for tests: traffic only to 127.0.0.0/8, ::1, or hosts in namespaces the test
creates (tests/netns.py uses 10.203.0.0/16 and fd00:203::/32). This guard enforces it inside the
pytest process: a name that is neither an IP literal nor in /etc/hosts fails to resolve (as on a
machine without internet, which is what DNS-failure tests need), and connect/sendto to any other
address raises. Subprocesses are not covered; they are given loopback-only configs or run inside
an offline namespace.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from typing import Any

ALLOWED = [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128", "10.203.0.0/16", "fd00:203::/32", "::/128", "0.0.0.0/32")]
_real_getaddrinfo = socket.getaddrinfo


class NetworkGuardError(OSError):
    """A test tried to reach an address outside loopback and the test namespaces."""


@functools.cache
def _hosts_names() -> frozenset[str]:
    names = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
    try:
        with open("/etc/hosts", encoding="utf-8") as f:
            for line in f:
                parts = line.split("#")[0].split()
                if len(parts) > 1 and _allowed_ip(parts[0]):
                    names.update(p.lower() for p in parts[1:])
    except OSError:
        pass
    return frozenset(names)


def _allowed_ip(value: str) -> bool:
    try:
        ip = ipaddress.ip_address(value.split("%")[0])
    except ValueError:
        return False
    return any(ip in net for net in ALLOWED)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.split("%")[0])
    except ValueError:
        return False
    return True


def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host is None:
        return _real_getaddrinfo(host, *args, **kwargs)
    name = host.decode() if isinstance(host, bytes) else str(host)
    if _is_ip(name) or name.lower().rstrip(".") in _hosts_names():
        return _real_getaddrinfo(host, *args, **kwargs)
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (tests have no public DNS)")


def _check(address: Any) -> None:
    if isinstance(address, tuple) and address and isinstance(address[0], str) and not _allowed_ip(address[0]):
        raise NetworkGuardError(f"test network guard: {address[0]} is outside loopback and the test namespaces")


def install() -> None:
    """Patch the socket module once for this process."""
    if getattr(socket.getaddrinfo, "_dxagent_guard", False):
        return
    guarded_getaddrinfo._dxagent_guard = True  # type: ignore[attr-defined]
    socket.getaddrinfo = guarded_getaddrinfo
    real_connect, real_connect_ex, real_sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto

    def connect(self: socket.socket, address: Any) -> None:
        _check(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(address)
        return real_connect_ex(self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> int:
        _check(args[-1])
        return real_sendto(self, data, *args)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = sendto  # type: ignore[method-assign]

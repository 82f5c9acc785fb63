"""What the host's own network setup says: default gateways and configured DNS resolvers.

The `ping` kind's symbolic targets `gateway` and `dns` come from here. Everything reads plain
files whose paths are parameters, so tests point them at fixtures, and reading the kernel's
`/proc/net/route` from inside a network namespace gives that namespace's routes (the files under
`/proc/net` belong to the reader's namespace). No subprocesses, no sockets: cheap and pure-ish.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from pathlib import Path

__all__ = ["Gateway", "default_gateways", "resolvers", "ROUTE_PATH", "IPV6_ROUTE_PATH", "RESOLV_CONF",
           "RESOLVED_UPSTREAM"]

ROUTE_PATH = Path("/proc/net/route")
IPV6_ROUTE_PATH = Path("/proc/net/ipv6_route")
RESOLV_CONF = Path("/etc/resolv.conf")
# systemd-resolved keeps the real upstream servers here when resolv.conf points at its 127.0.0.53 stub
RESOLVED_UPSTREAM = Path("/run/systemd/resolve/resolv.conf")

_RTF_UP = 0x0001
_RTF_GATEWAY = 0x0002
_RTF_REJECT = 0x0200
_STUBS = {"127.0.0.53", "127.0.0.54"}


@dataclasses.dataclass(frozen=True, slots=True)
class Gateway:
    """A default route's next hop. `address` carries `%iface` for IPv6 link-local next hops."""

    address: str
    interface: str
    family: int          # socket.AF_INET or socket.AF_INET6
    metric: int

    @property
    def version(self) -> int:
        return 4 if self.family == socket.AF_INET else 6


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None


def _ipv4_gateways(text: str) -> list[Gateway]:
    """Parse /proc/net/route: hex fields in host (little-endian) byte order, header on line 1."""
    out = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 8:
            continue
        try:
            dest, gw, flags, metric, mask = int(f[1], 16), int(f[2], 16), int(f[3], 16), int(f[6]), int(f[7], 16)
        except ValueError:
            continue
        if dest or mask or not flags & _RTF_UP or not flags & _RTF_GATEWAY or flags & _RTF_REJECT or not gw:
            continue
        address = str(ipaddress.IPv4Address(gw.to_bytes(4, "little")))
        out.append(Gateway(address, f[0], socket.AF_INET, metric))
    return out


def _ipv6_gateways(text: str) -> list[Gateway]:
    """Parse /proc/net/ipv6_route: dest, plen, src, splen, next hop, metric, refcnt, use, flags, iface."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 10:
            continue
        try:
            plen, metric, flags = int(f[1], 16), int(f[5], 16), int(f[8], 16)
            dest, hop = int(f[0], 16), ipaddress.IPv6Address(bytes.fromhex(f[4]))
        except ValueError:
            continue
        if dest or plen or not flags & _RTF_UP or not flags & _RTF_GATEWAY or flags & _RTF_REJECT or hop.is_unspecified:
            continue
        address = f"{hop.compressed}%{f[9]}" if hop.is_link_local else hop.compressed
        out.append(Gateway(address, f[9], socket.AF_INET6, metric))
    return out


def default_gateways(route_path: Path | str = ROUTE_PATH, ipv6_route_path: Path | str = IPV6_ROUTE_PATH,
                     family: int = socket.AF_UNSPEC) -> list[Gateway]:
    """The next hops of the default routes, IPv4 first, each family by metric (lowest = preferred).

    Missing files (no IPv6 in the kernel) simply contribute nothing. Duplicates (ECMP entries to
    the same hop) are kept once.
    """
    found: list[Gateway] = []
    if family in (socket.AF_UNSPEC, socket.AF_INET):
        found += sorted(_ipv4_gateways(_read(Path(route_path)) or ""), key=lambda g: g.metric)
    if family in (socket.AF_UNSPEC, socket.AF_INET6):
        found += sorted(_ipv6_gateways(_read(Path(ipv6_route_path)) or ""), key=lambda g: g.metric)
    seen: set[str] = set()
    unique = []
    for g in found:
        if g.address not in seen:
            seen.add(g.address)
            unique.append(g)
    return unique


def _nameservers(text: str) -> list[str]:
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        parts = line.split()
        if len(parts) < 2 or parts[0] != "nameserver":
            continue
        addr, _, scope = parts[1].partition("%")
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            continue  # glibc ignores what it cannot parse, so do we
        value = f"{ip.compressed}%{scope}" if scope else ip.compressed
        if value not in out:
            out.append(value)
    return out


def resolvers(path: Path | str = RESOLV_CONF, upstream_path: Path | str | None = RESOLVED_UPSTREAM) -> list[str]:
    """The `nameserver` addresses of resolv.conf, in order, without duplicates.

    When every server is systemd-resolved's local stub (127.0.0.53), the upstream servers from
    `upstream_path` are returned instead: pinging the stub says nothing about the network.
    A missing file gives an empty list (the caller reports "no resolver configured").
    """
    servers = _nameservers(_read(Path(path)) or "")
    if servers and upstream_path is not None and all(s in _STUBS for s in servers):
        upstream = _nameservers(_read(Path(upstream_path)) or "")
        if upstream:
            return upstream
    return servers

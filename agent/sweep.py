"""LAN discovery primitives: a fast ICMP echo sweep, the kernel neighbour table and reverse DNS.

Why our own sweeper: pinging a /24 host by host (or one icmplib socket per host) costs a socket
and a coroutine each, and fping spaces packets 10 ms apart. Here one socket sends every echo
request at a bounded rate and one reader collects the replies: a host counts as alive on its
first reply, non-answering hosts get exactly `retries` more requests, and the whole sweep lasts
about `addresses / rate + (retries + 1) × wait`. A raw socket needs CAP_NET_RAW; without it the
unprivileged ICMP datagram socket is used when `net.ipv4.ping_group_range` allows it, else
`SweepPermissionError` says how to fix it.

Hosts that drop ICMP (the Windows firewall's default) still answer ARP, which our echo request
triggers, so the neighbour table read after the sweep shows them as REACHABLE: merging both is
what finds them.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import errno
import ipaddress
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

__all__ = [
    "SweepResult", "SweepPermissionError", "SubnetTooLarge", "sweep", "expand", "Neighbour",
    "neighbours", "parse_ip_neigh", "parse_proc_arp", "reverse_names", "normalise_mac", "tcp_ports",
]

_ECHO_REQUEST, _ECHO_REPLY = 8, 0
_HEADER = struct.Struct("!BBHHH")
# neighbour state that proves the host answered ARP/NDP recently (the kernel's 15-45 s, not hours)
FRESH_STATES = frozenset({"REACHABLE"})


class SweepPermissionError(PermissionError):
    """Neither a raw ICMP socket nor an unprivileged ICMP datagram socket may be opened."""


class SubnetTooLarge(ValueError):
    """A configured subnet has more addresses than the sweep limit allows."""


@dataclasses.dataclass
class SweepResult:
    """Which addresses answered and how fast; `errors` maps an address to a send error."""

    alive: dict[str, float]          # address → round-trip time of the first reply (s)
    swept: int                       # addresses probed
    sent: int                        # echo requests sent (first round + retries)
    duration: float                  # wall time of the sweep (s)
    mode: str                        # "raw" or "dgram"
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    truncated: bool = False          # the deadline stopped the sweep before it finished


def expand(subnets: Iterable[str], max_hosts: int) -> list[ipaddress.IPv4Address]:
    """The host addresses of IPv4 subnets (no network/broadcast address), deduplicated, in order.

    Raises SubnetTooLarge naming the subnet when one alone exceeds `max_hosts`, or when
    together they do, so a typo such as /16 for /24 cannot flood a site LAN.
    """
    seen: dict[ipaddress.IPv4Address, None] = {}
    for text in subnets:
        net = ipaddress.ip_network(text, strict=False)
        if not isinstance(net, ipaddress.IPv4Network):
            raise ValueError(f"{text}: only IPv4 subnets can be swept (IPv6 neighbours are read from NDP)")
        if net.num_addresses - (2 if net.prefixlen < 31 else 0) > max_hosts:
            raise SubnetTooLarge(f"{text} has {net.num_addresses} addresses, above the sweep limit of {max_hosts}")
        for addr in (net.hosts() if net.prefixlen < 32 else [net.network_address]):
            seen[addr] = None
        if len(seen) > max_hosts:
            raise SubnetTooLarge(f"the subnets together have {len(seen)}+ addresses, above the sweep limit of {max_hosts}")
    return list(seen)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _packet(ident: int, seq: int, token: bytes) -> bytes:
    payload = token + struct.pack("!d", time.monotonic())
    header = _HEADER.pack(_ECHO_REQUEST, 0, 0, ident, seq)
    return _HEADER.pack(_ECHO_REQUEST, 0, _checksum(header + payload), ident, seq) + payload


def _open_socket() -> tuple[socket.socket, str]:
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        mode = "raw"
    except PermissionError:
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
            mode = "dgram"
        except (PermissionError, OSError) as exc:
            raise SweepPermissionError(
                "no permission for ICMP: run as root (or with CAP_NET_RAW), or allow unprivileged ping with "
                "`sysctl net.ipv4.ping_group_range='0 2147483647'`"
            ) from exc
    sock.setblocking(False)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    return sock, mode


async def sweep(
    addresses: Sequence[ipaddress.IPv4Address | str],
    *,
    rate: float = 2000.0,
    wait: float = 0.25,
    retries: int = 1,
    deadline: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> SweepResult:
    """Send one echo request per address at most `rate` per second, retry the silent ones.

    `wait` is how long to listen after a round's last request; `deadline` (a `time.monotonic()`
    value) stops sending and listening early so a scheduled check keeps to its budget.
    `progress(n)` is called with the number of addresses settled since the last call.
    """
    sock, mode = _open_socket()
    loop = asyncio.get_running_loop()
    t0 = time.monotonic()
    token = os.urandom(8)
    ident = int.from_bytes(os.urandom(2), "big")
    targets = [str(a) for a in addresses]
    index = {a: i for i, a in enumerate(targets)}
    sent_at: dict[str, float] = {}              # address → last send (a reply needs a request)
    alive: dict[str, float] = {}
    errors: dict[str, str] = {}
    all_done = asyncio.Event()
    sent = 0

    def on_readable() -> None:
        while True:
            try:
                data, addr = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if mode == "raw":
                data = data[(data[0] & 0x0F) * 4:] if data else data
            if len(data) < _HEADER.size + 16:
                continue
            kind, _code, _sum, rid, _seq = _HEADER.unpack_from(data)
            if kind != _ECHO_REPLY or data[_HEADER.size:_HEADER.size + 8] != token:
                continue
            if mode == "raw" and rid != ident:
                continue
            src = addr[0]
            if src in index and src not in alive and src in sent_at:
                (stamp,) = struct.unpack_from("!d", data, _HEADER.size + 8)
                alive[src] = max(0.0, time.monotonic() - stamp)
                if progress:
                    progress(1)
                if len(alive) + len(errors) >= len(targets):
                    all_done.set()

    loop.add_reader(sock.fileno(), on_readable)
    truncated = False
    try:
        pending = list(targets)
        for round_no in range(retries + 1):
            if not pending:
                break
            interval = 1.0 / rate
            next_send = time.monotonic()
            for addr in pending:
                if addr in alive:
                    continue
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    truncated = True
                    break
                if next_send > now:
                    await asyncio.sleep(next_send - now)
                next_send = max(next_send + interval, time.monotonic() - 0.01)
                seq = (index[addr] + round_no * len(targets)) & 0xFFFF
                while True:
                    try:
                        sock.sendto(_packet(ident, seq, token), (addr, 0))
                        sent_at[addr] = time.monotonic()
                        sent += 1
                        break
                    except (BlockingIOError, InterruptedError):
                        await asyncio.sleep(0.002)       # send buffer full: let it drain
                    except OSError as exc:
                        if exc.errno == errno.ENOBUFS:
                            await asyncio.sleep(0.002)
                            continue
                        errors[addr] = exc.strerror or str(exc)
                        break
            if truncated:
                break
            limit = wait if deadline is None else max(0.0, min(wait, deadline - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_done.wait(), limit)
            pending = [a for a in targets if a not in alive and a not in errors]
        if progress:
            progress(len(targets) - len(alive))
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()
    return SweepResult(alive=alive, swept=len(targets), sent=sent, duration=time.monotonic() - t0,
                       mode=mode, errors=errors, truncated=truncated)


# --- the neighbour (ARP / NDP) table -------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Neighbour:
    """One kernel neighbour entry: `state` is the kernel's (REACHABLE, STALE, …, or PROC for /proc).

    `confirmed` is how many seconds ago the host last proved it is there (ARP/NDP reply or
    traffic), whole seconds as the kernel reports them; None when unknown (/proc/net/arp).
    """

    ip: str
    mac: str
    state: str
    dev: str
    confirmed: float | None = None

    def confirmed_within(self, seconds: float) -> bool:
        """Did the host answer within the last `seconds` (e.g. since our sweep started)?"""
        if self.confirmed is None:
            return False
        return self.confirmed <= seconds + 1          # the kernel truncates to whole seconds


def normalise_mac(text: str) -> str | None:
    """`AA-BB-CC-DD-EE-FF`, `aabb.ccdd.eeff`, `aabbccddeeff` → `aa:bb:cc:dd:ee:ff`; None if not a MAC."""
    hexes = "".join(ch for ch in text.lower() if ch in "0123456789abcdef")
    stripped = text.strip().lower().replace(":", "").replace("-", "").replace(".", "").replace(" ", "")
    if len(hexes) != 12 or stripped != hexes:
        return None
    return ":".join(hexes[i:i + 2] for i in range(0, 12, 2))


def parse_ip_neigh(text: str) -> list[Neighbour]:
    """Entries with a link-layer address from `ip -s -j neigh show` output."""
    out = []
    for item in json.loads(text or "[]"):
        mac = normalise_mac(item.get("lladdr", "") or "")
        if not mac or mac == "00:00:00:00:00:00":
            continue
        states = item.get("state") or ["UNKNOWN"]
        confirmed = item.get("confirmed")
        out.append(Neighbour(item.get("dst", ""), mac, str(states[0]), item.get("dev", ""),
                             float(confirmed) if isinstance(confirmed, int | float) else None))
    return out


def parse_proc_arp(text: str) -> list[Neighbour]:
    """Entries from /proc/net/arp (IPv4 only); flags 0x2 = complete. The state is reported as PROC."""
    out = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 6:
            continue
        mac = normalise_mac(parts[3])
        if mac and mac != "00:00:00:00:00:00" and int(parts[2], 16) & 0x2:
            out.append(Neighbour(parts[0], mac, "PROC", parts[5]))
    return out


def neighbours(proc_arp: Path = Path("/proc/net/arp")) -> list[Neighbour]:
    """The kernel's neighbour table: `ip -s -j neigh` (IPv4 + IPv6, states, ages), else /proc/net/arp.

    Other platforms return an empty list: discovery then relies on ICMP replies alone.
    """
    if sys.platform != "linux":
        return []
    ip = shutil.which("ip")
    if ip:
        try:
            proc = subprocess.run([ip, "-s", "-j", "neigh", "show"], capture_output=True, text=True, timeout=5)
            if proc.returncode == 0:
                return parse_ip_neigh(proc.stdout)
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
    try:
        return parse_proc_arp(proc_arp.read_text())
    except OSError:
        return []


# --- reverse DNS -------------------------------------------------------------------------------

async def reverse_names(ips: Iterable[str], *, server: str | None = None, timeout: float = 1.0,
                        concurrency: int = 32, out: dict[str, str] | None = None) -> dict[str, str]:
    """PTR names of addresses, bounded in time and concurrency; unknown names are left out.

    `server` ("host" or "host:port") asks that DNS server directly (dnspython); None uses the
    system resolver (getnameinfo, so /etc/hosts and nsswitch apply). Names found so far stay in
    `out` even if the caller cancels the lookup at its deadline.
    """
    sem = asyncio.Semaphore(concurrency)
    names: dict[str, str] = {} if out is None else out

    async def one(ip: str) -> None:
        async with sem:
            try:
                name = await asyncio.wait_for(_ptr(ip, server, timeout), timeout)
            except (TimeoutError, OSError, ValueError):
                return
            except Exception:
                return
            if name:
                names[ip] = name.rstrip(".").lower()

    await asyncio.gather(*(one(ip) for ip in ips))
    return names


async def _ptr(ip: str, server: str | None, timeout: float) -> str | None:
    if server is None:
        loop = asyncio.get_running_loop()
        host, _ = await loop.getnameinfo((ip, 0), socket.NI_NAMEREQD)
        return host
    import dns.asyncresolver
    import dns.resolver
    import dns.reversename

    host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [host or server]
    resolver.port = int(port) if port else 53
    resolver.lifetime = timeout
    try:
        answer = await resolver.resolve(dns.reversename.from_address(ip), "PTR")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
        return None
    return str(answer[0].target)


# --- TCP port fingerprint ----------------------------------------------------------------------

async def tcp_ports(hosts: Iterable[str], ports: Sequence[int], *, timeout: float = 0.5, concurrency: int = 64,
                    out: dict[str, dict[str, list[int]]] | None = None) -> dict[str, dict[str, list[int]]]:
    """Per host: `open` ports (connect succeeded) and `closed` ones (refused: the host is up).

    Ports that time out are left out. Connections are closed at once; nothing is sent. Partial
    results stay in `out` if the caller cancels at its deadline.
    """
    sem = asyncio.Semaphore(concurrency)
    out = {} if out is None else out

    async def one(host: str, port: int) -> None:
        async with sem:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            except ConnectionRefusedError:
                bisect.insort(out.setdefault(host, {"open": [], "closed": []})["closed"], port)
                return
            except (TimeoutError, OSError):
                return
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 0.2)
            bisect.insort(out.setdefault(host, {"open": [], "closed": []})["open"], port)

    await asyncio.gather(*(one(h, p) for h in hosts for p in ports))
    return out

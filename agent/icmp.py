"""A small concurrent ICMP echo engine on icmplib's sockets: fping-style pacing, exact accounting.

icmplib's own `async_ping` waits for each reply (or its timeout) before sending the next request,
so 40 lost packets at a 1 s timeout take 40 s. Here requests go out every `interval` whatever
happens, a reader callback timestamps replies on arrival, and the run ends one `packet_timeout`
after the last request. Used by the `ping` kind; any other kind needing ICMP (discovery) may reuse
`ping_address`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import os
import socket
import struct
import time
from typing import Any

from icmplib import ICMPLibError, ICMPRequest, ICMPv4Socket, ICMPv6Socket, SocketPermissionError
from icmplib.utils import unique_identifier

__all__ = ["Measurement", "SocketPermission", "parse_packet", "ping_address"]

class SocketPermission(Exception):
    """Neither a raw nor a datagram ICMP socket may be opened by this process."""


@dataclasses.dataclass
class Measurement:
    """What one target's run saw; `rtts` maps sequence number → round-trip seconds."""

    address: str
    mode: str = ""
    sent: int = 0
    rtts: dict[int, float] = dataclasses.field(default_factory=dict)
    send_errors: int = 0
    duplicates: int = 0
    icmp_errors: list[str] = dataclasses.field(default_factory=list)
    last_error: str = ""


_ECHO_REPLY = {socket.AF_INET: 0, socket.AF_INET6: 129}
_ECHO_REQUEST = {socket.AF_INET: 8, socket.AF_INET6: 128}
_ERRORS = {socket.AF_INET: {3: "destination unreachable", 11: "time exceeded"},
           socket.AF_INET6: {1: "destination unreachable", 3: "time exceeded"}}


def parse_packet(data: bytes, family: int, ip_header: bool) -> tuple[str, int, int, int] | None:
    """An ICMP packet as read from the socket → (what, code, id, seq), or None if not about an echo.

    `what` is "reply" for an echo reply, or the error's name ("destination unreachable") when an
    ICMP error quotes one of our echo requests. Raw IPv4 sockets deliver the IP header (its length
    read from IHL); IPv6 and datagram sockets deliver the ICMP message alone (pure).
    """
    if ip_header and data:
        data = data[(data[0] & 0x0F) * 4:]
    if len(data) < 8:
        return None
    kind, code = data[0], data[1]
    if kind == _ECHO_REPLY[family]:
        ident, seq = struct.unpack("!HH", data[4:8])
        return "reply", code, ident, seq
    name = _ERRORS[family].get(kind)
    if name is None:
        return None
    inner = data[8:]
    skip = (inner[0] & 0x0F) * 4 if family == socket.AF_INET and inner else 40
    inner = inner[skip:]
    if len(inner) < 8 or inner[0] != _ECHO_REQUEST[family]:
        return None
    ident, seq = struct.unpack("!HH", inner[4:8])
    return name, code, ident, seq


_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)   # Linux asm-generic value; Python lacks the name
_CMSG_SPACE = socket.CMSG_SPACE(16)


def _kernel_rtt(ancillary: list[tuple[int, int, bytes]], sent: float, limit: float) -> float | None:
    """RTT from the SCM_TIMESTAMPNS control message; None when absent or implausible (clock step)."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack("@qq", data[:16])
            rtt = sec + nsec / 1e9 - sent
            return rtt if 0 <= rtt <= limit + 1 else None
    return None


def _open(family: int, mode: str) -> tuple[Any, str]:
    """An icmplib socket: raw (CAP_NET_RAW) or datagram (ping_group_range), as `mode` allows."""
    cls = ICMPv4Socket if family == socket.AF_INET else ICMPv6Socket
    tried = []
    for privileged in {"raw": (True,), "datagram": (False,)}.get(mode, (True, False)):
        try:
            return cls(privileged=privileged), "raw" if privileged else "datagram"
        except SocketPermissionError:
            tried.append("raw socket needs CAP_NET_RAW" if privileged
                         else f"datagram socket needs group {os.getgid()} in net.ipv4.ping_group_range")
    raise SocketPermission("; ".join(tried))


async def ping_address(address: str, family: int, *, count: int, interval: float, packet_timeout: float,
                       size: int = 56, mode: str = "auto", deadline: float | None = None) -> Measurement:
    """Send `count` echo requests `interval` apart and collect replies until the last one's timeout.

    A reply counts when it is an echo reply from `address` with our id and a sequence we sent,
    within `packet_timeout` of its request. Its round-trip time is the kernel's receive timestamp
    (SO_TIMESTAMPNS) minus the send time, so a busy event loop does not inflate it; without a
    kernel timestamp, the time the callback ran is used. `deadline` (loop time) caps the whole run.
    """
    loop = asyncio.get_running_loop()
    deadline = deadline if deadline is not None else float("inf")
    m = Measurement(address)
    sock, m.mode = _open(family, mode)
    sock.blocking = False
    raw = sock.sock
    with contextlib.suppress(OSError):
        raw.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    ip_header = m.mode == "raw" and family == socket.AF_INET
    want = ipaddress.ip_address(address.partition("%")[0])
    ident = unique_identifier()
    sent_at: dict[int, float] = {}     # perf_counter after sendto: fallback clock
    sent_wall: dict[int, float] = {}   # time.time() just before sendto (icmplib's request.time)
    complete = asyncio.Event()

    def on_readable() -> None:
        for _ in range(1000):
            try:
                data, anc, _, src = raw.recvmsg(65535, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # datagram sockets report ICMP errors this way
                m.last_error = exc.strerror or str(exc)
                continue
            now = time.perf_counter()
            parsed = parse_packet(data, family, ip_header)
            if parsed is None or parsed[2] != ident or parsed[3] not in sent_at:
                continue
            what, code, _, seq = parsed
            if what != "reply":
                if len(m.icmp_errors) < 20:
                    m.icmp_errors.append(f"{what} (code {code}) from {src[0]}")
                continue
            if ipaddress.ip_address(str(src[0]).partition("%")[0]) != want:
                continue
            if seq in m.rtts:
                m.duplicates += 1
                continue
            rtt = _kernel_rtt(anc, sent_wall[seq], packet_timeout)
            rtt = now - sent_at[seq] if rtt is None else rtt
            if rtt <= packet_timeout:
                m.rtts[seq] = rtt
                if len(m.rtts) == len(sent_at) and m.sent == count:
                    complete.set()

    loop.add_reader(raw.fileno(), on_readable)
    try:
        start = loop.time()
        for seq in range(count):
            delay = start + seq * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if loop.time() >= deadline:
                break
            request = ICMPRequest(address, ident, seq, payload_size=size)
            m.sent += 1
            try:
                sock.send(request)
            except ICMPLibError as exc:
                m.send_errors += 1
                m.last_error = str(exc)
                continue
            sent_at[seq] = time.perf_counter()
            sent_wall[seq] = request.time
            ident = request.id  # datagram sockets: the kernel chose the id
        if sent_at and len(m.rtts) < len(sent_at):
            wait = min(loop.time() + packet_timeout, deadline) - loop.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(complete.wait(), wait)
        return m
    finally:
        loop.remove_reader(raw.fileno())
        sock.close()


"""`clock`: how far this machine's clock is from NTP servers (SNTP, RFC 4330), judged on |offset|.

Digital signatures and timestamps fail quietly when a PC's clock is wrong, and certificates look
"not yet valid" or "expired", so the offset is worth a check of its own. The small SNTP client
below asks every configured server at once over asyncio UDP; the offset is the median over the
servers that answered, so one bad server cannot move it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import socket
import statistics
import struct
import time
from typing import Any, Literal

from pydantic import Field, field_validator

from dxagent.config.check import CheckConfig
from dxagent.limits import TimeLimit, defaults
from dxagent.model import Reason, Result, Sample, Status, Text, t
from dxagent.probe import ProbeContext

__all__ = ["Config", "probe", "judge", "build_request", "parse_reply", "Reply", "SntpError",
           "split_server", "EXAMPLE", "METRICS"]

METRICS: dict[str, str] = {
    "clock_offset_seconds": "Median offset of the NTP servers' time from the local clock (positive: local clock behind).",
    "clock_servers_answered": "Number of configured NTP servers that gave a usable answer.",
    "clock_server_offset_seconds": "Offset of one NTP server's time from the local clock.",
    "clock_server_delay_seconds": "Round-trip delay to one NTP server.",
    "clock_server_stratum": "Stratum reported by one NTP server (1 = next to a reference clock).",
}

EXAMPLE = """\
# Is this PC's clock right? (signatures and timestamps fail quietly when it is not)
- id: clock
  kind: clock
  servers: ["time.example.gov.vn", "0.vn.pool.ntp.org", "10.0.0.1:123"]   # host[:port]
  interval: 5m
  timeout: 5s
  thresholds: {warn: 500ms, crit: 1s}   # |offset|
"""

NTP_EPOCH = 2208988800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
_SERVER = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:\[\]]+))(?::(?P<port>\d{1,5}))?$")


def split_server(text: str) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]:port` or a bare IPv6 address → (host, port); ValueError if malformed."""
    if text.count(":") > 1 and not text.startswith("["):
        return text, 123  # a bare IPv6 address
    m = _SERVER.match(text)
    if not m:
        raise ValueError(f"{text!r} is not host[:port]")
    port = int(m.group("port") or 123)
    if not 1 <= port <= 65535:
        raise ValueError(f"{text!r}: port must be 1-65535")
    return m.group("v6") or m.group("host"), port


class Config(CheckConfig):
    """Query SNTP servers and judge the median offset of the local clock."""

    kind: Literal["clock"] = "clock"
    servers: tuple[str, ...] = Field(min_length=1, max_length=16, description="NTP servers as `host[:port]` (port 123 by default).")
    ip_family: Literal["any", "ipv4", "ipv6"] = Field("any", description="Address family to use.")
    thresholds: TimeLimit = defaults(TimeLimit(warn=0.5, crit=1.0), "Limits on |offset| (default warn 0.5 s, crit 1 s).")

    @field_validator("servers")
    @classmethod
    def _well_formed(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for server in value:
            split_server(server)
        if len(set(value)) != len(value):
            raise ValueError("a server is listed twice")
        return value

    def target_label(self) -> str:
        return ",".join(self.servers)


@dataclasses.dataclass(frozen=True)
class Reply:
    """What one server said, already validated: offset and delay in seconds."""

    offset: float
    delay: float
    stratum: int
    leap: int
    root_delay: float
    root_dispersion: float
    refid: str


class SntpError(Exception):
    """No usable answer; `reason` is the Reason to report."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# ----------------------------------------------------------------------------- protocol (pure)


def to_ntp(ts: float) -> bytes:
    """Unix seconds → 64-bit NTP timestamp (32.32 fixed point since 1900)."""
    seconds = int(ts) + NTP_EPOCH
    fraction = int((ts - int(ts)) * 2**32) & 0xFFFFFFFF
    return struct.pack("!II", seconds & 0xFFFFFFFF, fraction)


def from_ntp(raw: bytes) -> float:
    seconds, fraction = struct.unpack("!II", raw)
    return seconds - NTP_EPOCH + fraction / 2**32


def build_request(transmit: bytes) -> bytes:
    """A client request (LI 0, version 4, mode 3); `transmit` is echoed back as the originate time."""
    return bytes([0x23]) + bytes(39) + transmit


def parse_reply(data: bytes, transmit: bytes, t1: float, t4: float) -> Reply:
    """Validate a server reply (RFC 4330 section 5) and compute offset and delay."""
    if len(data) < 48:
        raise SntpError(Reason.CONTENT, f"short reply ({len(data)} bytes)")
    leap, version, mode = data[0] >> 6, (data[0] >> 3) & 7, data[0] & 7
    stratum = data[1]
    refid_raw = data[12:16]
    if mode != 4 or not 1 <= version <= 4:
        raise SntpError(Reason.CONTENT, f"not a server reply (mode {mode}, version {version})")
    if data[24:32] != transmit:
        raise SntpError(Reason.CONTENT, "reply does not match the request (originate time differs)")
    if stratum == 0:
        code = refid_raw.decode("ascii", "replace").strip("\x00")
        raise SntpError(Reason.CONTENT, f"kiss-o'-death {code!r}: the server refuses to serve us")
    if leap == 3 or stratum > 15:
        raise SntpError(Reason.CONTENT, "server clock is not synchronised")
    if data[40:48] == bytes(8):
        raise SntpError(Reason.CONTENT, "reply without a transmit time")
    t2, t3 = from_ntp(data[32:40]), from_ntp(data[40:48])
    root_delay = struct.unpack("!i", data[4:8])[0] / 65536
    root_dispersion = struct.unpack("!I", data[8:12])[0] / 65536
    refid = refid_raw.decode("ascii", "replace").strip("\x00") if stratum == 1 else ".".join(str(b) for b in refid_raw)
    return Reply(offset=((t2 - t1) + (t3 - t4)) / 2, delay=(t4 - t1) - (t3 - t2), stratum=stratum, leap=leap,
                 root_delay=root_delay, root_dispersion=root_dispersion, refid=refid)


def judge(th: TimeLimit, offsets: list[float], errors: list[Reason]) -> tuple[Status, Reason | None, float | None]:
    """Offsets of the servers that answered → (status, reason, median); none answered → CRIT with the likeliest cause."""
    if not offsets:
        if errors and all(e == Reason.DNS for e in errors):
            return Status.CRIT, Reason.DNS, None
        if Reason.TIMEOUT in errors:
            return Status.CRIT, Reason.TIMEOUT, None
        if Reason.CONNECT in errors:
            return Status.CRIT, Reason.CONNECT, None
        return Status.CRIT, (errors[0] if errors else Reason.INTERNAL), None
    median = statistics.median(offsets)
    status = th.level(abs(median))
    return status, (Reason.THRESHOLD if status != Status.OK else None), median


# ----------------------------------------------------------------------------- I/O


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[tuple[bytes, float] | Exception] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.replies.put_nowait((data, time.time()))

    def error_received(self, exc: Exception) -> None:
        self.replies.put_nowait(exc)


_FAMILY = {"any": socket.AF_UNSPEC, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}


async def query(host: str, port: int, budget: float, family: int = socket.AF_UNSPEC, tries: int = 3) -> tuple[str, Reply]:
    """Ask one server, resending up to `tries` times within `budget` seconds → (address, reply)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM), budget)
    except (socket.gaierror, UnicodeError) as exc:
        raise SntpError(Reason.DNS, f"cannot resolve {host}: {getattr(exc, 'strerror', None) or exc}") from None
    except TimeoutError:
        raise SntpError(Reason.TIMEOUT, f"no DNS answer for {host}") from None
    fam, _, _, _, addr = infos[0]
    try:
        transport, client = await loop.create_datagram_endpoint(_Client, remote_addr=addr, family=fam)
    except OSError as exc:
        raise SntpError(Reason.CONNECT, f"{addr[0]}: {exc.strerror or exc}") from None
    try:
        step = max(budget / tries, 0.05)
        for _ in range(tries):
            t1 = time.time()
            transmit = to_ntp(t1)[:7] + os.urandom(1)  # ~60 ns of noise makes the echo hard to forge
            transport.sendto(build_request(transmit))
            wait_until = min(loop.time() + step, deadline)
            while (remaining := wait_until - loop.time()) > 0:
                try:
                    item = await asyncio.wait_for(client.replies.get(), remaining)
                except TimeoutError:
                    break
                if isinstance(item, ConnectionRefusedError):
                    raise SntpError(Reason.CONNECT, f"{addr[0]} port {port} unreachable (nothing listens)")
                if isinstance(item, OSError):
                    raise SntpError(Reason.CONNECT, f"{addr[0]}: {item.strerror or item}")
                data, t4 = item  # type: ignore[misc]
                try:
                    return addr[0], parse_reply(data, transmit, t1, t4)
                except SntpError as exc:
                    if "does not match" not in str(exc):
                        raise  # a late reply to an earlier try is skipped, anything else is final
            if loop.time() >= deadline:
                break
        raise SntpError(Reason.TIMEOUT, f"no answer from {addr[0]} port {port}")
    finally:
        transport.close()


async def probe(cfg: Config, ctx: ProbeContext) -> Result:
    """Ask every server at once; one Result with the median offset and each server's answer in details."""
    budget = max(ctx.timeout - 0.05, 0.1)
    servers = [split_server(s) for s in cfg.servers]
    outcomes = await asyncio.gather(*(query(h, p, budget, _FAMILY[cfg.ip_family]) for h, p in servers),
                                    return_exceptions=True)
    samples: list[Sample] = []
    rows: list[dict[str, Any]] = []
    offsets: list[float] = []
    errors: list[Reason] = []
    for name, outcome in zip(cfg.servers, outcomes, strict=True):
        if isinstance(outcome, SntpError):
            errors.append(outcome.reason)
            rows.append({"server": name, "error": str(outcome), "reason": outcome.reason.value})
            continue
        if isinstance(outcome, BaseException):
            raise outcome  # a bug, not a measurement: the runner's crash barrier reports it
        address, reply = outcome
        offsets.append(reply.offset)
        rows.append({"server": name, "address": address, "offset_seconds": round(reply.offset, 6),
                     "delay_seconds": round(reply.delay, 6), "stratum": reply.stratum, "refid": reply.refid,
                     "root_delay_seconds": reply.root_delay, "root_dispersion_seconds": reply.root_dispersion})
        samples += [Sample.of("clock_server_offset_seconds", reply.offset, server=name),
                    Sample.of("clock_server_delay_seconds", reply.delay, server=name),
                    Sample.of("clock_server_stratum", reply.stratum, server=name)]
    status, reason, median = judge(cfg.thresholds, offsets, errors)
    samples.append(Sample.of("clock_servers_answered", len(offsets)))
    details: dict[str, Any] = {"servers": rows, "answered": len(offsets)}
    if median is None:
        first = next(r["error"] for r in rows if "error" in r)
        return ctx.result(
            status, t("no NTP server answered ({n}): {first}", "không máy chủ NTP nào trả lời ({n}): {first}",
                      n=len(rows), first=first),
            target=cfg.target_label(), reason=reason, samples=samples, details=details,
            hint=_no_answer_hint(reason, servers, rows, ctx.timeout))
    samples.append(Sample.of("clock_offset_seconds", median))
    details["offset_seconds"] = round(median, 6)
    return ctx.result(status, _summary(median, len(offsets), len(rows)), target=cfg.target_label(), reason=reason,
                      samples=samples, details=details,
                      hint=_offset_hint(median, cfg.thresholds, status) if status != Status.OK else None)


def _label(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _no_answer_hint(reason: Reason | None, servers: list[tuple[str, int]], rows: list[dict[str, Any]],
                    timeout: float) -> Text:
    """What to do when no server answered, naming each server as host:port and what it did."""
    by_reason: dict[str, list[str]] = {}
    for (host, port), row in zip(servers, rows, strict=True):
        by_reason.setdefault(row.get("reason", ""), []).append(_label(host, port))
    silent = ", ".join(by_reason.get("timeout", []))
    closed = ", ".join(by_reason.get("connect", []))
    unknown = ", ".join(h.rsplit(":", 1)[0] for h in by_reason.get("dns", []))
    refused = ", ".join(by_reason.get("content", []))
    parts: list[Text] = []
    if silent:
        ports = ", ".join(sorted({h.rsplit(":", 1)[1] for h in by_reason["timeout"]}, key=int))
        parts.append(t("no answer within {s:g} s from {servers}: check that the NTP service runs there, allows this "
                       "machine, and that the firewall lets UDP port {ports} through both ways",
                       "{servers} không trả lời trong {s:g} giây: kiểm tra dịch vụ NTP đang chạy ở đó, cho phép máy "
                       "này truy vấn, và tường lửa mở cổng UDP {ports} hai chiều",
                       s=timeout, servers=silent, ports=ports))
    if closed:
        parts.append(t("nothing listens on {servers} (port unreachable): check the port in `servers` and that the "
                       "NTP service runs",
                       "không có dịch vụ nào nghe trên {servers} (cổng không tới được): kiểm tra cổng trong `servers` "
                       "và dịch vụ NTP có đang chạy", servers=closed))
    if unknown:
        parts.append(t("cannot resolve {names}: check the names and this machine's DNS servers (`dns` check)",
                       "không phân giải được {names}: kiểm tra tên và máy chủ DNS của máy này (kiểm tra `dns`)",
                       names=unknown))
    if refused:
        parts.append(t("{servers} refused to serve or is not synchronised itself: use another NTP server",
                       "{servers} từ chối phục vụ hoặc chính nó chưa đồng bộ: dùng máy chủ NTP khác", servers=refused))
    if not parts:  # pragma: no cover - every row carries a reason
        parts.append(t("check the servers in `servers`", "kiểm tra các máy chủ trong `servers`"))
    tail = t("without time sync, digital signatures and timestamps fail.",
             "không đồng bộ thời gian thì chữ ký số và dấu thời gian sẽ lỗi.")
    en = "; ".join(p.en for p in parts)
    vi = "; ".join(p.vi for p in parts)
    return Text(f"{en[0].upper()}{en[1:]}; {tail.en}", f"{vi[0].upper()}{vi[1:]}; {tail.vi}")


def _offset_hint(median: float, th: TimeLimit, status: Status) -> Text:
    """Synchronise, with the offset and the limit it crossed."""
    value = th.crit if status == Status.CRIT else th.warn
    limit = f"{value:g}" if value is not None else "?"
    return t("The clock is {off:.3f} s {en} (limit {limit} s): synchronise it (Windows: `w32tm /resync`; Linux: "
             "`chronyc makestep` or systemd-timesyncd) and check that its time service runs at boot; signatures fail "
             "quietly when it is wrong.",
             "Đồng hồ {vi} {off:.3f} giây (ngưỡng {limit} giây): đồng bộ lại (Windows: `w32tm /resync`; Linux: "
             "`chronyc makestep` hoặc systemd-timesyncd) và kiểm tra dịch vụ thời gian tự chạy khi khởi động; chữ ký "
             "số lỗi mà không báo khi đồng hồ sai.",
             off=abs(median), en="behind" if median > 0 else "ahead", vi="chậm" if median > 0 else "nhanh", limit=limit)


def _summary(median: float, answered: int, total: int) -> Text:
    if median > 0:
        en, vi = "behind", "chậm"
    else:
        en, vi = "ahead", "nhanh"
    return t("local clock {en} by {off:.3f} s (median of {n}/{total} servers)",
             "đồng hồ máy {vi} {off:.3f} giây (trung vị của {n}/{total} máy chủ)",
             en=en, vi=vi, off=abs(median), n=answered, total=total)

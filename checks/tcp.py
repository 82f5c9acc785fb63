"""`tcp`: can we open a TCP connection, how fast, and does the service greet as expected.

Used for any port-level service (SMTP 25, H.323 1720, SSH 22, a database) where speaking the
protocol is not needed. STARTTLS and certificates belong to the `tls` kind.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
import time
from typing import Any, Literal

from pydantic import Field

from dxagent.config.check import CheckConfig
from dxagent.config.types import ByteSize
from dxagent.limits import TimeLimit, defaults
from dxagent.model import Reason, Result, Sample, Status, t
from dxagent.probe import ProbeContext

__all__ = ["Config", "probe", "judge", "EXAMPLE", "METRICS"]

METRICS: dict[str, str] = {
    "tcp_connect_success": "1 if the TCP connection was opened, else 0.",
    "tcp_connect_seconds": "Time to open the TCP connection, after name resolution.",
}

EXAMPLE = """\
# Is the provincial mail server's SMTP port open and greeting?
- id: mail-smtp
  kind: tcp
  host: mail.example.gov.vn   # host name or IP address
  port: 25
  expect: "^220"              # regular expression the banner must match (optional)
  thresholds: {warn: 500ms, crit: 2s}   # connect time
"""


class Config(CheckConfig):
    """Open a TCP connection to `host:port`; optionally send a line and expect a reply."""

    kind: Literal["tcp"] = "tcp"
    host: str = Field(min_length=1, description="Host name or IP address.")
    port: int = Field(ge=1, le=65535, description="TCP port.")
    ip_family: Literal["any", "ipv4", "ipv6"] = Field("any", description="Address family to use.")
    send: str | None = Field(None, description="Text to send after connecting (`\\r\\n` escapes allowed).")
    expect: str | None = Field(None, description="Regular expression the first reply (banner) must match.")
    read_limit: ByteSize = Field(4096, ge=1, le=1048576, description="Bytes of the reply read at most.")
    thresholds: TimeLimit = defaults(TimeLimit(), "Limits on the connect time.")

    def target_label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def judge(cfg: Config, connect_s: float) -> tuple[Status, Reason | None]:
    """Connect time against the thresholds (pure)."""
    status = cfg.thresholds.level(connect_s)
    return status, (Reason.THRESHOLD if status != Status.OK else None)


_FAMILY = {"any": socket.AF_UNSPEC, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}


def _literal(cfg: Config) -> list[tuple[Any, ...]] | None:
    """An IP literal needs no resolver: skipping the executor round-trip saves the daemon real CPU."""
    return _literal_addr(cfg.host, cfg.port, cfg.ip_family)


@functools.lru_cache(maxsize=4096)
def _literal_addr(host: str, port: int, ip_family: str) -> list[tuple[Any, ...]] | None:
    """Parsed once per target (a daemon probes the same ones every interval); callers only read the list."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    if _FAMILY[ip_family] not in (socket.AF_UNSPEC, family):
        return None  # let getaddrinfo report the family mismatch as it always did
    return [(family, socket.SOCK_STREAM, 0, "", (str(ip), port))]


async def probe(cfg: Config, ctx: ProbeContext) -> Result:
    target = cfg.target_label()
    loop = asyncio.get_running_loop()
    t0 = time.monotonic()
    try:
        infos = _literal(cfg) or await asyncio.wait_for(
            loop.getaddrinfo(cfg.host, cfg.port, family=_FAMILY[cfg.ip_family], type=socket.SOCK_STREAM),
            ctx.timeout,
        )
    except (socket.gaierror, UnicodeError) as exc:
        return ctx.result(
            Status.CRIT, t("cannot resolve {host}: {err}", "không phân giải được {host}: {err}", host=cfg.host, err=_err(exc)),
            target=target, reason=Reason.DNS,
            hint=t("Check the name {host} and this machine's DNS servers (`dns` check).",
                   "Kiểm tra tên {host} và máy chủ DNS của máy này (kiểm tra `dns`).", host=cfg.host),
            samples=[Sample.of("tcp_connect_success", 0)],
        )
    except TimeoutError:
        return _timeout(ctx, cfg, target, "dns")
    dns_s = time.monotonic() - t0
    family, _, _, _, addr = infos[0]
    remaining = max(0.05, ctx.timeout - dns_s)
    t1 = time.monotonic()
    # A bare non-blocking socket and `sock_connect` under `asyncio.timeout` (no extra task, no
    # transport or stream objects): most tcp checks only connect, and the daemon runs hundreds.
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(remaining):
            await loop.sock_connect(sock, addr)
    except TimeoutError:
        sock.close()
        return _timeout(ctx, cfg, target, "connect")
    except OSError as exc:
        sock.close()
        refused = isinstance(exc, ConnectionRefusedError)
        return ctx.result(
            Status.CRIT,
            t("connection refused by {addr}", "{addr} từ chối kết nối", addr=addr[0]) if refused
            else t("cannot connect to {addr}: {err}", "không kết nối được tới {addr}: {err}", addr=addr[0], err=_err(exc)),
            target=target, reason=Reason.CONNECT,
            hint=t("Nothing listens on {addr} port {port}, or a firewall rejects it: check that the service runs and "
                   "listens on port {port}, then the firewall.",
                   "Không có dịch vụ nghe trên {addr} cổng {port} hoặc tường lửa chặn: kiểm tra dịch vụ đang chạy và "
                   "nghe trên cổng {port}, sau đó kiểm tra tường lửa.", addr=addr[0], port=cfg.port) if refused
            else t("{addr} cannot be reached ({err}): check the route and the link to it (`ping` check).",
                   "Không tới được {addr} ({err}): kiểm tra định tuyến và đường truyền tới đó (kiểm tra `ping`).",
                   addr=addr[0], err=_err(exc)),
            samples=[Sample.of("tcp_connect_success", 0)],
            details={"address": addr[0]},
        )
    except BaseException:  # cancelled (the runner's hard timeout): never leak the socket
        sock.close()
        raise
    connect_s = time.monotonic() - t1
    samples = [Sample.of("tcp_connect_success", 1), Sample.of("tcp_connect_seconds", connect_s)]
    details: dict[str, object] = {"address": addr[0], "dns_seconds": round(dns_s, 6)}
    if cfg.send is None and cfg.expect is None:
        sock.close()
    else:
        reader, writer = await asyncio.open_connection(sock=sock)
        try:
            outcome = await _converse(cfg, ctx, reader, writer, remaining - connect_s, details)
            if outcome is not None:
                status, summary, reason = outcome
                return ctx.result(status, summary, target=target, reason=reason, samples=samples, details=details,
                                  hint=_converse_hint(cfg, reason))
        finally:
            writer.close()
    status, reason = judge(cfg, connect_s)
    return ctx.result(
        status,
        t("connected to {addr} in {ms:.1f} ms", "kết nối tới {addr} trong {ms:.1f} ms", addr=addr[0], ms=connect_s * 1000),
        target=target, reason=reason, samples=samples, details=details,
        hint=_slow_hint(cfg, addr[0], connect_s, status) if status != Status.OK else None,
    )


async def _converse(cfg: Config, ctx: ProbeContext, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    budget: float, details: dict[str, object]) -> tuple[Status, object, Reason] | None:
    """Send `send`, read up to `read_limit`, match `expect`; None when all is as expected."""
    try:
        if cfg.send is not None:
            writer.write(cfg.send.encode().decode("unicode_escape").encode("latin-1"))
            await writer.drain()
        data = await asyncio.wait_for(reader.read(cfg.read_limit), max(0.05, budget))
    except TimeoutError:
        return Status.CRIT, t("connected, but no reply in time", "đã kết nối nhưng không nhận được phản hồi kịp thời"), Reason.TIMEOUT
    except OSError as exc:
        return Status.CRIT, t("connection dropped: {err}", "kết nối bị ngắt: {err}", err=_err(exc)), Reason.CONNECT
    text = data.decode("utf-8", "replace")
    details["banner"] = text[:200]
    if cfg.expect is not None and not re.search(cfg.expect, text):
        return (Status.CRIT, t("reply does not match {pattern!r}: {got!r}", "phản hồi không khớp {pattern!r}: {got!r}",
                               pattern=cfg.expect, got=text[:80]), Reason.CONTENT)
    return None


def _timeout(ctx: ProbeContext, cfg: Config, target: str, phase: str) -> Result:
    return ctx.result(
        Status.CRIT, t("timeout during {phase}", "hết thời gian chờ ở bước {phase}", phase=phase),
        target=target, reason=Reason.TIMEOUT, samples=[Sample.of("tcp_connect_success", 0)],
        hint=t("No answer from the DNS for {host} within {s:g} s: check this machine's DNS servers (`dns` check).",
               "DNS không trả lời cho {host} trong {s:g} giây: kiểm tra máy chủ DNS của máy này (kiểm tra `dns`).",
               host=cfg.host, s=ctx.timeout) if phase == "dns" else
        t("No answer from {target} within {s:g} s: the host is down, or a firewall drops the packets to port {port}.",
          "{target} không phản hồi trong {s:g} giây: máy đích tắt, hoặc tường lửa chặn gói tin tới cổng {port}.",
          target=target, s=ctx.timeout, port=cfg.port),
        details={"phase": phase},
    )


def _converse_hint(cfg: Config, reason: Reason) -> object:  # a Text
    """The port answered the connection, but the exchange went wrong."""
    if reason == Reason.TIMEOUT:
        return t("Port {port} accepts connections but sends nothing back: the service hangs, or waits for other "
                 "input than `send`.",
                 "Cổng {port} nhận kết nối nhưng không gửi lại gì: dịch vụ bị treo, hoặc chờ dữ liệu khác với `send`.",
                 port=cfg.port)
    if reason == Reason.CONNECT:
        return t("The service on port {port} closed the connection: check its logs and limits (max clients).",
                 "Dịch vụ trên cổng {port} đóng kết nối: kiểm tra nhật ký và giới hạn (số kết nối tối đa) của dịch vụ.",
                 port=cfg.port)
    return t("Port {port} answered, but not with {pattern!r}: check that the expected service runs on that port "
             "(details show its banner).",
             "Cổng {port} có trả lời nhưng không khớp {pattern!r}: kiểm tra đúng dịch vụ đang chạy trên cổng đó "
             "(chi tiết có lời chào của dịch vụ).", port=cfg.port, pattern=cfg.expect)


def _slow_hint(cfg: Config, addr: str, seconds: float, status: Status) -> object:  # a Text
    """A slow connect: the time and the limit crossed."""
    limit = cfg.thresholds.crit if status == Status.CRIT else cfg.thresholds.warn
    return t("Connecting to {addr} port {port} took {ms:.0f} ms (limit {limit} ms): check the link quality to it "
             "(`ping`) and the load of the server.",
             "Kết nối tới {addr} cổng {port} mất {ms:.0f} ms (ngưỡng {limit} ms): kiểm tra chất lượng đường truyền "
             "(`ping`) và tải của máy chủ.", addr=addr, port=cfg.port, ms=seconds * 1000,
             limit=f"{limit * 1000:.0f}" if limit is not None else "?")


def _err(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__

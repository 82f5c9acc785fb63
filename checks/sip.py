"""`sip`: is a video-conference bridge's SIP stack alive? One SIP OPTIONS ping over UDP and/or TCP.

The request is built here per RFC 3261 (§8.1.1, §11): Via with a `z9hG4bK` branch, From tag,
To, Call-ID, CSeq, Max-Forwards, Contact, Content-Length 0; UDP retransmits on the T1 schedule.
Any final answer except a timeout proves the SIP stack runs: 404, 405 or 483 still mean
"something parsed our request and replied", which is what a pre-meeting test needs to know.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
import time
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator

from dxagent import __version__
from dxagent.config.check import CheckConfig
from dxagent.limits import TimeLimit, defaults
from dxagent.model import Reason, Result, Sample, Status, Text, t
from dxagent.probe import ProbeContext

__all__ = ["Config", "probe", "judge", "build_options", "parse_response", "EXAMPLE", "METRICS"]

METRICS: dict[str, str] = {
    "sip_up": "1 if the SIP server sent a final response other than a timeout (408/504), else 0.",
    "sip_response_seconds": "Time from sending OPTIONS to the final response.",
    "sip_status_code": "Status code of the final response (0 when none).",
}

EXAMPLE = """\
# Pre-meeting test: the provincial MCU's SIP stack over UDP and TCP (run with --only meeting).
- id: mcu-sip
  kind: sip
  host: mcu.example.gov.vn
  port: 5060
  transports: [udp, tcp]
  groups: [meeting]
  thresholds: {warn: 300ms, crit: 1s}   # response time
"""

T1 = 0.5  # RFC 3261 §17.1.1.1: initial UDP retransmit interval
T2 = 4.0  # cap on the retransmit interval for non-INVITE requests
MAX_MESSAGE = 65535
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Config(CheckConfig):
    """Send SIP OPTIONS to `host:port` and judge the final response."""

    kind: Literal["sip"] = "sip"
    host: str = Field(min_length=1, description="SIP server (MCU, SBC) host name or IP address.")
    port: int = Field(5060, ge=1, le=65535, description="SIP port.")
    transports: tuple[Literal["udp", "tcp"], ...] = Field(
        ("udp",), min_length=1, description="Transports to test, one result each.")
    user: str | None = Field(None, pattern=r"^[A-Za-z0-9._~!$&'()*+,;=-]{1,64}$",
                             description="User part of the Request-URI (e.g. a room number); none by default.")
    max_forwards: int = Field(70, ge=0, le=255, description="Max-Forwards header (0 tests only the first hop).")
    thresholds: TimeLimit = defaults(TimeLimit(), "Limits on the response time.")

    @field_validator("transports")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("list each transport once")
        return value

    def target_label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def build_options(cfg: Config, transport: str, local: tuple[str, int], branch: str, tag: str,
                  call_id: str) -> bytes:
    """An RFC 3261 OPTIONS request (pure: identifiers are parameters so tests can check them)."""
    host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
    lhost = f"[{local[0]}]" if ":" in local[0] else local[0]
    uri = f"sip:{cfg.user + '@' if cfg.user else ''}{host}:{cfg.port}"
    lines = [
        f"OPTIONS {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport.upper()} {lhost}:{local[1]};branch={branch};rport",
        f"Max-Forwards: {cfg.max_forwards}",
        f"From: <sip:dxagent@{lhost}>;tag={tag}",
        f"To: <{uri}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        f"Contact: <sip:dxagent@{lhost}:{local[1]};transport={transport}>",
        "Accept: application/sdp",
        f"User-Agent: dxagent/{__version__}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_response(data: bytes) -> tuple[int, str, dict[str, str]] | None:
    """Status line and headers of a SIP response (compact header forms expanded); None if not one."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.split("\r\n")
    m = re.fullmatch(r"SIP/2\.0 (\d{3}) ?(.*)", lines[0].strip())
    if not m:
        return None
    compact = {"v": "via", "i": "call-id", "f": "from", "t": "to", "m": "contact", "l": "content-length"}
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip().lower()
            headers.setdefault(compact.get(key, key), value.strip())
    return int(m.group(1)), _clean(m.group(2)), headers


def judge(code: int | None, rtt: float | None, th: TimeLimit) -> tuple[Status, Reason | None]:
    """Final status code and response time → status (pure).

    2xx, 3xx, 4xx (but 408) and 6xx prove a live SIP stack; 5xx too, but the server says it cannot
    serve now (503 overload/maintenance) → WARN; 408/504 or no answer → CRIT timeout.
    """
    if code is None or code in (408, 504):
        return Status.CRIT, Reason.TIMEOUT
    if 500 <= code < 600:
        return Status.WARN, Reason.STATUS
    status = th.level(rtt) if rtt is not None else Status.OK
    return status, (Reason.THRESHOLD if status != Status.OK else None)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | Exception] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        self.queue.put_nowait(exc)


async def _exchange_udp(cfg: Config, addr: tuple[Any, ...], family: int, deadline: float,
                        ids: Mapping[str, str], info: dict[str, Any]) -> tuple[bytes, float]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Udp, remote_addr=addr[:2], family=family)
    try:
        local = transport.get_extra_info("sockname")[:2]
        request = build_options(cfg, "udp", local, ids["branch"], ids["tag"], ids["call_id"])
        t0 = time.monotonic()
        interval, next_send = T1, t0
        info["sent"] = 0
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise TimeoutError
            if now >= next_send:
                transport.sendto(request)
                info["sent"] += 1
                next_send = now + interval
                interval = min(interval * 2, T2)
            try:
                item = await asyncio.wait_for(proto.queue.get(), max(0.001, min(next_send, deadline) - now))
            except TimeoutError:
                continue
            if isinstance(item, Exception):
                raise item
            parsed = parse_response(item)
            if parsed and parsed[0] >= 200 and _ours(parsed[2], ids):
                return item, time.monotonic() - t0
    finally:
        transport.close()


async def _exchange_tcp(cfg: Config, addr: tuple[Any, ...], family: int, deadline: float,
                        ids: Mapping[str, str], info: dict[str, Any]) -> tuple[bytes, float]:
    t0 = time.monotonic()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(addr[0], addr[1], family=family),
                                            max(0.001, deadline - t0))
    try:
        info["connect_seconds"] = round(time.monotonic() - t0, 6)
        local = writer.get_extra_info("sockname")[:2]
        writer.write(build_options(cfg, "tcp", local, ids["branch"], ids["tag"], ids["call_id"]))
        t1 = time.monotonic()
        await writer.drain()
        while True:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), max(0.001, deadline - time.monotonic()))
            parsed = parse_response(head)
            length = int(parsed[2].get("content-length", "0") or 0) if parsed else 0
            if 0 < length <= MAX_MESSAGE:
                await asyncio.wait_for(reader.readexactly(length), max(0.001, deadline - time.monotonic()))
            if parsed is None:
                raise ValueError("not a SIP response")
            if parsed[0] >= 200 and _ours(parsed[2], ids):
                return head, time.monotonic() - t1
    finally:
        writer.close()


def _ours(headers: Mapping[str, str], ids: Mapping[str, str]) -> bool:
    """A response belongs to our transaction when Call-ID and the Via branch match (RFC 3261 §17.1.3)."""
    return headers.get("call-id") == ids["call_id"] and ids["branch"] in headers.get("via", "")


def _clean(text: str, limit: int = 120) -> str:
    return _CONTROL.sub(" ", text).strip()[:limit]


async def probe(cfg: Config, ctx: ProbeContext) -> list[Result]:
    loop = asyncio.get_running_loop()
    t0 = time.monotonic()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(cfg.host, cfg.port, type=socket.SOCK_DGRAM), ctx.timeout)
    except (socket.gaierror, UnicodeError, TimeoutError) as exc:
        err = "timeout" if isinstance(exc, TimeoutError) else (exc.args[-1] if exc.args else str(exc))
        return [ctx.result(
            Status.CRIT, t("cannot resolve {host}: {err}", "không phân giải được {host}: {err}", host=cfg.host, err=err),
            target=f"{cfg.target_label()}/{tr}", reason=Reason.DNS, samples=[Sample.of("sip_up", 0)],
            hint=t("Check the name {host} and this machine's DNS servers (`dns` check).",
                   "Kiểm tra tên {host} và máy chủ DNS của máy này (kiểm tra `dns`).", host=cfg.host),
        ) for tr in cfg.transports]
    family, _, _, _, addr = infos[0]
    deadline = t0 + ctx.timeout
    return list(await asyncio.gather(*(_one(cfg, ctx, tr, family, addr, deadline) for tr in cfg.transports)))


async def _one(cfg: Config, ctx: ProbeContext, transport: str, family: int, addr: tuple[Any, ...],
               deadline: float) -> Result:
    target = f"{cfg.target_label()}/{transport}"
    ids = {"branch": "z9hG4bK" + secrets.token_hex(8), "tag": secrets.token_hex(6),
           "call_id": f"{secrets.token_hex(12)}@dxagent"}
    info: dict[str, Any] = {"transport": transport, "address": addr[0]}
    exchange = _exchange_udp if transport == "udp" else _exchange_tcp
    try:
        data, rtt = await exchange(cfg, addr, family, deadline, ids, info)
    except TimeoutError:
        return _failure(ctx, target, info, Reason.TIMEOUT,
                        t("no SIP response over {tr} within {s:.1f} s", "không có phản hồi SIP qua {tr} sau {s:.1f} giây",
                          tr=transport.upper(), s=ctx.timeout),
                        t("No SIP answer from {target} over {tr}: the MCU is down, or a firewall/NAT drops {tr} port "
                          "{port}; test before the meeting with the provincial technician.",
                          "{target} không trả lời SIP qua {tr}: MCU không hoạt động hoặc tường lửa/NAT chặn cổng {tr} "
                          "{port}; liên hệ kỹ thuật viên tỉnh để thử trước cuộc họp.",
                          target=cfg.target_label(), tr=transport.upper(), port=cfg.port))
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        return _failure(ctx, target, info, Reason.CONTENT,
                        t("the server did not answer with SIP: {err}", "máy chủ không trả lời theo giao thức SIP: {err}",
                          err=_clean(str(exc) or type(exc).__name__)),
                        t("Something other than SIP answers on {target} ({tr}): check the host and port of the SIP "
                          "service (5060 UDP/TCP, 5061 TLS).",
                          "Dịch vụ khác SIP đang trả lời trên {target} ({tr}): kiểm tra địa chỉ và cổng của dịch vụ SIP "
                          "(5060 UDP/TCP, 5061 TLS).", target=cfg.target_label(), tr=transport.upper()))
    except OSError as exc:
        refused = isinstance(exc, ConnectionRefusedError)
        return _failure(ctx, target, info, Reason.CONNECT,
                        t("{tr} port {port} refused (nothing listens)", "cổng {tr} {port} bị từ chối (không có dịch vụ)",
                          tr=transport.upper(), port=cfg.port) if refused else
                        t("cannot reach {addr}: {err}", "không kết nối được tới {addr}: {err}", addr=addr[0],
                          err=exc.strerror or str(exc)),
                        t("The SIP service is not running on {tr} port {port} of {host}, or a firewall rejects it: "
                          "check the MCU's SIP settings, then the firewall.",
                          "Dịch vụ SIP không chạy trên cổng {tr} {port} của {host} hoặc tường lửa từ chối: kiểm tra "
                          "cấu hình SIP của MCU, sau đó kiểm tra tường lửa.",
                          tr=transport.upper(), port=cfg.port, host=cfg.host) if refused else
                        t("{addr} cannot be reached ({err}): check the route and the link to it (`ping` check).",
                          "Không tới được {addr} ({err}): kiểm tra định tuyến và đường truyền tới đó (kiểm tra `ping`).",
                          addr=addr[0], err=exc.strerror or str(exc)))
    code, phrase, headers = parse_response(data) or (0, "", {})
    info.update(status_code=code, reason_phrase=phrase, rtt_seconds=round(rtt, 6),
                server=_clean(headers.get("server") or headers.get("user-agent", "")),
                allow=_clean(headers.get("allow", ""), 200))
    status, reason = judge(code, rtt, cfg.thresholds)
    up = reason != Reason.TIMEOUT
    samples = [Sample.of("sip_up", up), Sample.of("sip_status_code", code)]
    if up:
        samples.append(Sample.of("sip_response_seconds", rtt))
    hint = _answer_hint(cfg, transport, code, phrase, rtt, status, reason)
    return ctx.result(
        status,
        t("{tr}: {code} {phrase} in {ms:.1f} ms", "{tr}: {code} {phrase} trong {ms:.1f} ms",
          tr=transport.upper(), code=code, phrase=phrase, ms=rtt * 1000),
        target=target, reason=reason, hint=hint, samples=samples, details=info,
    )


def _answer_hint(cfg: Config, transport: str, code: int, phrase: str, rtt: float, status: Status,
                 reason: Reason | None) -> Text | None:
    """What to do about an answer that is not OK, with the code, the time and the limit crossed."""
    target = cfg.target_label()
    if reason == Reason.STATUS:
        return t("{target} is alive but answers {code} {phrase} ({tr}): it refuses service now (overload or "
                 "maintenance); call the MCU operator before the meeting.",
                 "{target} còn hoạt động nhưng trả lời {code} {phrase} ({tr}): đang từ chối phục vụ (quá tải hoặc bảo "
                 "trì); báo đơn vị vận hành MCU trước cuộc họp.", target=target, code=code, phrase=phrase,
                 tr=transport.upper())
    if reason == Reason.TIMEOUT:
        return t("A proxy at {target} answered {code} {phrase}: the MCU behind it does not answer; call its operator.",
                 "Proxy tại {target} trả lời {code} {phrase}: MCU phía sau không trả lời; báo đơn vị vận hành MCU.",
                 target=target, code=code, phrase=phrase)
    if reason == Reason.THRESHOLD:
        limit = cfg.thresholds.crit if status == Status.CRIT else cfg.thresholds.warn
        return t("{target} answered SIP over {tr} in {ms:.0f} ms (limit {limit} ms): check the path quality to the "
                 "MCU (`ping`: loss and jitter).",
                 "{target} trả lời SIP qua {tr} sau {ms:.0f} ms (ngưỡng {limit} ms): kiểm tra chất lượng đường truyền "
                 "tới MCU (`ping`: mất gói và độ biến thiên).", target=target, tr=transport.upper(), ms=rtt * 1000,
                 limit=f"{limit * 1000:.0f}" if limit is not None else "?")
    return None


def _failure(ctx: ProbeContext, target: str, info: dict[str, Any], reason: Reason, summary: Text, hint: Text) -> Result:
    return ctx.result(Status.CRIT, summary, target=target, reason=reason, hint=hint,
                      samples=[Sample.of("sip_up", 0), Sample.of("sip_status_code", 0)], details=info)

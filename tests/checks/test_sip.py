"""The `sip` kind against a small real SIP responder (asyncio UDP + TCP on loopback).

The responder parses our OPTIONS like a SIP stack would and answers per RFC 3261 §8.2.6 (copying
Via, From, Call-ID and CSeq, tagging To), or misbehaves on purpose: silent, slow, lossy, 503,
provisional first, a proxy's 408, or not SIP at all. (`sipp` is not packaged in Debian 12.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from dxagent.checks import sip
from dxagent.config import ConfigError, load_text
from dxagent.limits import TimeLimit
from dxagent.model import Reason, Result, Status
from dxagent.probe import ProbeContext, probe_budget


@dataclass
class Responder:
    """What the fake SIP server does and what it saw."""

    code: int = 200
    mode: str = "answer"            # answer | silent | drop-first | provisional | garbage
    delay: float = 0.0
    requests: list[tuple[str, bytes]] = field(default_factory=list)
    port: int = 0

    def reply(self, request: bytes) -> bytes:
        head = request.decode().split("\r\n\r\n")[0].split("\r\n")
        hdr = {line.split(":", 1)[0].lower(): line for line in head[1:] if ":" in line}
        phrase = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
                  483: "Too Many Hops", 503: "Service Unavailable"}.get(self.code, "Whatever")
        lines = [f"SIP/2.0 {self.code} {phrase}", hdr["via"], hdr["from"], hdr["to"] + ";tag=srv1", hdr["call-id"],
                 hdr["cseq"], "Server: TestMCU 1.0\x07", "Allow: INVITE, ACK, OPTIONS, BYE", "Content-Length: 0"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def provisional(self, request: bytes) -> bytes:
        return self.reply(request).replace(f"SIP/2.0 {self.code} ".encode(), b"SIP/2.0 100 ", 1)


class _UdpServer(asyncio.DatagramProtocol):
    def __init__(self, r: Responder) -> None:
        self.r = r

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.r.requests.append(("udp", data))
        if self.r.mode == "silent" or (self.r.mode == "drop-first" and len(self.r.requests) == 1):
            return
        if self.r.mode == "provisional":
            self.transport.sendto(self.r.provisional(data), addr)  # type: ignore[attr-defined]
        asyncio.get_running_loop().call_later(self.r.delay, self.transport.sendto, self.r.reply(data), addr)  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def sip_server(r: Responder) -> AsyncIterator[Responder]:
    """UDP and TCP on the same loopback port number."""
    loop = asyncio.get_running_loop()

    async def on_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            data = await reader.readuntil(b"\r\n\r\n")
            r.requests.append(("tcp", data))
            if r.mode == "silent":
                await asyncio.sleep(30)
            elif r.mode == "garbage":
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            else:
                await asyncio.sleep(r.delay)
                if r.mode == "provisional":
                    writer.write(r.provisional(data))
                writer.write(r.reply(data))
            await writer.drain()
            await asyncio.sleep(0.5)
        writer.close()

    for _ in range(20):  # find a port free for both UDP and TCP
        tcp = await asyncio.start_server(on_tcp, "127.0.0.1", 0)
        r.port = tcp.sockets[0].getsockname()[1]
        try:
            udp, _ = await loop.create_datagram_endpoint(lambda: _UdpServer(r), local_addr=("127.0.0.1", r.port))
            break
        except OSError:
            tcp.close()
    try:
        yield r
    finally:
        udp.close()
        tcp.close()


def _cfg(port: int, **extra: object) -> sip.Config:
    return sip.Config.model_validate({"id": "mcu", "host": "127.0.0.1", "port": port, **extra})


async def _probe(cfg: sip.Config) -> list[Result]:
    return await sip.probe(cfg, ProbeContext(cfg.id, "sip", timeout=probe_budget(cfg.timeout)))


def test_request_is_rfc3261_options() -> None:
    cfg = _cfg(5060, user="1001", max_forwards=0)
    raw = sip.build_options(cfg, "udp", ("127.0.0.1", 40000), "z9hG4bKabc", "tag1", "cid@x")
    text = raw.decode()
    assert text.endswith("\r\n\r\n") and text.count("\r\n\r\n") == 1
    lines = text.split("\r\n")
    assert lines[0] == "OPTIONS sip:1001@127.0.0.1:5060 SIP/2.0"
    assert "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKabc;rport" in lines
    assert "From: <sip:dxagent@127.0.0.1>;tag=tag1" in lines and "To: <sip:1001@127.0.0.1:5060>" in lines
    assert {"Call-ID: cid@x", "CSeq: 1 OPTIONS", "Max-Forwards: 0", "Content-Length: 0"} <= set(lines)
    assert "Contact: <sip:dxagent@127.0.0.1:40000;transport=udp>" in lines
    v6 = sip.build_options(_cfg(5060).model_copy(update={"host": "::1"}), "tcp", ("::1", 5), "z9hG4bKx", "t", "c")
    assert v6.startswith(b"OPTIONS sip:[::1]:5060 SIP/2.0\r\nVia: SIP/2.0/TCP [::1]:5;")


def test_parse_response_and_compact_headers() -> None:
    code, phrase, headers = sip.parse_response(b"SIP/2.0 483 Too Many Hops\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1\r\n"
                                               b"i: abc\r\nl: 0\r\n\r\n") or (0, "", {})
    assert (code, phrase, headers["via"], headers["call-id"]) == (483, "Too Many Hops", "SIP/2.0/UDP a;branch=z9hG4bK1", "abc")
    assert sip.parse_response(b"HTTP/1.1 200 OK\r\n\r\n") is None


@pytest.mark.parametrize("code, status, reason", [
    (200, Status.OK, None), (404, Status.OK, None), (405, Status.OK, None), (483, Status.OK, None),
    (401, Status.OK, None), (302, Status.OK, None), (603, Status.OK, None),
    (503, Status.WARN, Reason.STATUS), (408, Status.CRIT, Reason.TIMEOUT), (504, Status.CRIT, Reason.TIMEOUT),
    (None, Status.CRIT, Reason.TIMEOUT),
])
def test_judge_codes(code: int | None, status: Status, reason: Reason | None) -> None:
    assert sip.judge(code, 0.01, TimeLimit()) == (status, reason)


def test_judge_rtt_thresholds() -> None:
    th = TimeLimit(warn="100ms", crit=0.5)
    assert sip.judge(200, 0.1, th) == (Status.OK, None)  # at the limit is still OK
    assert sip.judge(200, 0.2, th) == (Status.WARN, Reason.THRESHOLD)
    assert sip.judge(404, 0.6, th) == (Status.CRIT, Reason.THRESHOLD)


async def test_udp_and_tcp_200() -> None:
    async with sip_server(Responder()) as r:
        udp, tcp = await _probe(_cfg(r.port, transports=["udp", "tcp"]))
    for res, tr in ((udp, "udp"), (tcp, "tcp")):
        assert (res.status, res.target) == (Status.OK, f"127.0.0.1:{r.port}/{tr}")
        assert res.details["status_code"] == 200 and res.details["server"] == "TestMCU 1.0"
        names = {s.name: s.value for s in res.samples}
        assert names["sip_up"] == 1 and names["sip_status_code"] == 200 and 0 < names["sip_response_seconds"] < 5
    assert "connect_seconds" in tcp.details
    seen = {tr: data.decode() for tr, data in r.requests}
    assert re.search(r"^Via: SIP/2\.0/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK[0-9a-f]{16};rport\r$", seen["udp"], re.M)
    assert re.search(r"^Via: SIP/2\.0/TCP ", seen["tcp"], re.M)


@pytest.mark.parametrize("code", [404, 405, 483])
async def test_error_codes_still_prove_a_live_stack(code: int) -> None:
    async with sip_server(Responder(code=code)) as r:
        [res] = await _probe(_cfg(r.port))
    assert res.status == Status.OK and f"{code}" in res.summary.en
    assert {s.name: s.value for s in res.samples}["sip_up"] == 1


async def test_503_warns_and_proxy_408_is_critical() -> None:
    async with sip_server(Responder(code=503)) as r:
        [res] = await _probe(_cfg(r.port, transports=["tcp"]))
    assert (res.status, res.reason) == (Status.WARN, Reason.STATUS) and res.hint is not None
    assert f"127.0.0.1:{r.port} is alive but answers 503" in res.hint.en and "503" in res.hint.vi
    async with sip_server(Responder(code=408)) as r:
        [res] = await _probe(_cfg(r.port))
    assert (res.status, res.reason) == (Status.CRIT, Reason.TIMEOUT)
    assert {s.name: s.value for s in res.samples}["sip_up"] == 0


async def test_udp_retransmits_after_a_lost_request_and_skips_provisional() -> None:
    async with sip_server(Responder(mode="drop-first")) as r:
        [res] = await _probe(_cfg(r.port))
    assert res.status == Status.OK and res.details["sent"] == 2 and len(r.requests) == 2
    # a retransmission is the same transaction: same branch and Call-ID
    assert r.requests[0][1] == r.requests[1][1]
    async with sip_server(Responder(mode="provisional")) as r:
        udp, tcp = await _probe(_cfg(r.port, transports=["udp", "tcp"]))
    assert udp.details["status_code"] == tcp.details["status_code"] == 200


async def test_silent_server_times_out_within_budget() -> None:
    async with sip_server(Responder(mode="silent")) as r:
        cfg = _cfg(r.port, transports=["udp", "tcp"], timeout="1500ms")
        t0 = time.monotonic()
        results = await _probe(cfg)
        elapsed = time.monotonic() - t0
    assert [(x.status, x.reason) for x in results] == [(Status.CRIT, Reason.TIMEOUT)] * 2
    assert f"UDP port {r.port}" in results[0].hint.en and f"TCP port {r.port}" in results[1].hint.en
    assert elapsed < 1.5 + 0.5
    assert results[0].details["sent"] >= 2   # T1 retransmissions happened meanwhile


async def test_slow_answer_crosses_threshold() -> None:
    async with sip_server(Responder(delay=0.3)) as r:
        [res] = await _probe(_cfg(r.port, thresholds={"warn": 0.1}))
    assert (res.status, res.reason) == (Status.WARN, Reason.THRESHOLD)
    assert "(limit 100 ms)" in res.hint.en and "(ngưỡng 100 ms)" in res.hint.vi


async def test_closed_ports_and_non_sip() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]   # bound, not listening, no UDP socket: refused on both
        udp, tcp = await _probe(_cfg(port, transports=["udp", "tcp"], timeout="2s"))
    assert (udp.status, udp.reason) == (Status.CRIT, Reason.CONNECT)
    assert (tcp.status, tcp.reason) == (Status.CRIT, Reason.CONNECT) and "refused" in tcp.summary.en
    assert f"TCP port {port} of 127.0.0.1" in tcp.hint.en and f"cổng TCP {port}" in tcp.hint.vi
    async with sip_server(Responder(mode="garbage")) as r:
        [res] = await _probe(_cfg(r.port, transports=["tcp"], timeout="2s"))
    assert (res.status, res.reason) == (Status.CRIT, Reason.CONTENT)
    assert "SIP" in res.summary.en and "SIP" in res.summary.vi


def test_config_rules_and_meeting_group() -> None:
    cfg = load_text("checks:\n" + sip.EXAMPLE).checks[0]
    assert cfg.groups == ("meeting",) and cfg.transports == ("udp", "tcp")
    assert (cfg.thresholds.warn, cfg.thresholds.crit) == (0.3, 1.0)
    for body, msg in (("transports: [udp, udp]", "list each transport once"),
                      ("thresholds: {warn: 2s, crit: 500ms}", "warn must not be above crit"),
                      ("transports: [sctp]", "transports"),
                      ("user: 'a b'", "user")):
        with pytest.raises(ConfigError) as err:
            load_text(f"checks:\n  - id: s\n    kind: sip\n    host: h\n    {body}\n")
        assert msg in str(err.value) and "<string>:5" in str(err.value)


async def test_untrusted_server_text_is_cleaned() -> None:
    async with sip_server(Responder()) as r:
        [res] = await _probe(_cfg(r.port))
    dumped = json.dumps(res.to_dict())
    assert "\\u0007" not in dumped and res.details["allow"].startswith("INVITE")

"""Tests of the clock kind: SNTP packets and judging without sockets, then a real chronyd on loopback
and small real SNTP servers (shifted clocks, kiss-o'-death, silence) written here."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import shutil
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dxagent.checks import clock
from dxagent.config import ConfigError, load_text
from dxagent.model import Reason, Result, Status
from dxagent.probe import ProbeContext
from tests.promtools import Proc

TH = clock.Config(id="c", servers=["a"]).thresholds  # the kind's defaults: warn 0.5 s, crit 1 s


# ----------------------------------------------------------------------------- pure


@pytest.mark.parametrize(("text", "expected"), [
    ("pool.ntp.org", ("pool.ntp.org", 123)), ("10.0.0.1:1123", ("10.0.0.1", 1123)),
    ("[::1]:12300", ("::1", 12300)), ("::1", ("::1", 123)), ("[fe80::1]", ("fe80::1", 123)),
])
def test_split_server(text: str, expected: tuple[str, int]) -> None:
    assert clock.split_server(text) == expected


@pytest.mark.parametrize("bad", ["host:0", "host:70000", "host:port", "a b", "[::1", ""])
def test_split_server_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        clock.split_server(bad)


def test_ntp_timestamps_round_trip() -> None:
    now = time.time()
    assert abs(clock.from_ntp(clock.to_ntp(now)) - now) < 1e-6
    assert clock.to_ntp(0.0) == struct.pack("!II", clock.NTP_EPOCH, 0)


def reply(transmit: bytes, t2: float, t3: float, *, leap: int = 0, mode: int = 4, stratum: int = 2,
          refid: bytes = b"\x0a\x00\x00\x01", root_delay: float = 0.25) -> bytes:
    """A server reply as RFC 4330 lays it out."""
    return (bytes([(leap << 6) | (4 << 3) | mode, stratum, 6, 0xEC]) + struct.pack("!iI", int(root_delay * 65536), 32768)
            + refid + clock.to_ntp(t2 - 10) + transmit + clock.to_ntp(t2) + clock.to_ntp(t3))


def test_request_layout() -> None:
    tx = clock.to_ntp(1_700_000_000.5)
    req = clock.build_request(tx)
    assert len(req) == 48 and req[0] == 0x23 and req[40:] == tx  # LI 0, version 4, mode 3 (client)


def test_offset_and_delay_formula() -> None:
    t1 = 1_700_000_000.0
    tx = clock.to_ntp(t1)
    # server 2 s ahead, 0.1 s each way, 0.05 s processing
    r = clock.parse_reply(reply(tx, t1 + 0.1 + 2, t1 + 0.15 + 2), tx, t1, t1 + 0.25)
    assert r.offset == pytest.approx(2.0, abs=1e-6)
    assert r.delay == pytest.approx(0.2, abs=1e-6)
    assert (r.stratum, r.refid, r.root_delay, r.root_dispersion) == (2, "10.0.0.1", 0.25, 0.5)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"stratum": 0, "refid": b"RATE"}, "kiss-o'-death 'RATE'"),
    ({"leap": 3}, "not synchronised"),
    ({"stratum": 16}, "not synchronised"),
    ({"mode": 3}, "not a server reply"),
])
def test_bad_replies(kwargs: dict[str, object], message: str) -> None:
    tx = clock.to_ntp(1000.0)
    with pytest.raises(clock.SntpError, match=message) as err:
        clock.parse_reply(reply(tx, 1000.0, 1000.0, **kwargs), tx, 1000.0, 1000.0)  # type: ignore[arg-type]
    assert err.value.reason == Reason.CONTENT


def test_reply_must_echo_our_request() -> None:
    tx = clock.to_ntp(1000.0)
    with pytest.raises(clock.SntpError, match="does not match"):
        clock.parse_reply(reply(clock.to_ntp(999.0), 1000.0, 1000.0), tx, 1000.0, 1000.0)
    with pytest.raises(clock.SntpError, match="short reply"):
        clock.parse_reply(b"\x24" * 20, tx, 1000.0, 1000.0)


@pytest.mark.parametrize(("offsets", "status"), [
    ([0.0], Status.OK), ([0.5], Status.OK), ([-0.5], Status.OK), ([0.51], Status.WARN), ([-1.0], Status.WARN),
    ([1.01], Status.CRIT), ([-30], Status.CRIT), ([0.1, 0.2, 50.0], Status.OK), ([0.1, 2.0, 3.0], Status.CRIT),
])
def test_judge_median_and_boundaries(offsets: list[float], status: Status) -> None:
    got, reason, _ = clock.judge(TH, offsets, [])
    assert got == status and reason == (None if status == Status.OK else Reason.THRESHOLD)


def test_judge_no_answer_names_the_likeliest_cause() -> None:
    assert clock.judge(TH, [], [Reason.DNS, Reason.DNS])[:2] == (Status.CRIT, Reason.DNS)
    assert clock.judge(TH, [], [Reason.DNS, Reason.TIMEOUT])[:2] == (Status.CRIT, Reason.TIMEOUT)
    assert clock.judge(TH, [], [Reason.CONNECT, Reason.CONTENT])[:2] == (Status.CRIT, Reason.CONNECT)
    assert clock.judge(TH, [], [Reason.CONTENT])[:2] == (Status.CRIT, Reason.CONTENT)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"x.yml:2: checks\[0\].servers: .*port must be 1-65535"):
        load_text("checks:\n  - {id: c, kind: clock, servers: ['a:99999']}\n", "x.yml")
    with pytest.raises(ConfigError, match="listed twice"):
        load_text("checks:\n  - {id: c, kind: clock, servers: [a, a]}\n")
    with pytest.raises(ConfigError, match=r"x.yml:2: checks\[0\].thresholds: warn must not be above crit"):
        load_text("checks:\n  - {id: c, kind: clock, servers: [a], thresholds: {warn: 2, crit: 1}}\n", "x.yml")
    with pytest.raises(ConfigError, match="warn must not be above crit"):  # the default crit (1 s) stays
        load_text("checks:\n  - {id: c, kind: clock, servers: [a], thresholds: {warn: 2s}}\n")
    with pytest.raises(ConfigError, match=r"checks\[0\].servers"):
        load_text("checks:\n  - {id: c, kind: clock, servers: []}\n")


def test_example_validates() -> None:
    cfg = load_text("checks:\n" + "\n".join("  " + line for line in clock.EXAMPLE.splitlines()))
    assert cfg.checks[0].servers[2] == "10.0.0.1:123"
    assert (cfg.checks[0].thresholds.warn, cfg.checks[0].thresholds.crit) == (0.5, 1.0)


def test_thresholds_left_out_keep_the_defaults() -> None:
    def th(text: str) -> tuple[float | None, float | None]:
        cfg = load_text(f"checks:\n  - {{id: c, kind: clock, servers: [a], thresholds: {text}}}\n").checks[0]
        return cfg.thresholds.warn, cfg.thresholds.crit

    assert th("{warn: 200ms}") == (0.2, 1.0)
    assert th("{crit: 3}") == (0.5, 3.0)
    assert th("{crit: null}") == (0.5, None)
    assert th("{}") == (0.5, 1.0)


# ----------------------------------------------------------------------------- real servers


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _chronyd(work: Path, access: str) -> tuple[Proc, int]:
    """A real chronyd serving NTP on 127.0.0.1 from its local clock (-x: never touches the system clock)."""
    binary = shutil.which("chronyd") or ("/usr/sbin/chronyd" if Path("/usr/sbin/chronyd").exists() else None)
    if binary is None:
        pytest.skip("chronyd is not installed (apt-get install chrony)")
    port = free_udp_port()
    conf = work / "chrony.conf"
    conf.write_text(
        f"port {port}\nbindaddress 127.0.0.1\n{access}\nlocal stratum 8\ncmdport 0\nbindcmdaddress /\n"
        f"pidfile {work}/chronyd.pid\ndriftfile {work}/drift\nuser {getpass.getuser()}\n"
    )
    return Proc([binary, "-f", str(conf), "-x", "-d"]), port


@pytest.fixture(scope="module")
def chronyd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, port = _chronyd(tmp_path_factory.mktemp("chrony"), "allow 127.0.0.1")
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                asyncio.run(clock.query("127.0.0.1", port, 0.3))
                break
            except clock.SntpError:
                if proc.proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("chronyd did not serve NTP: " + "\n".join(proc.log()[-10:]))
        yield f"127.0.0.1:{port}"
    finally:
        proc.stop(5)


@pytest.fixture(scope="module")
def chronyd_denying(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """chronyd on a custom port that does not answer this machine: it serves another network and drops our requests."""
    proc, port = _chronyd(tmp_path_factory.mktemp("chrony-deny"), "allow 10.203.0.0/16\ndeny 127.0.0.1")
    try:
        deadline = time.monotonic() + 10
        while True:  # up once it holds the port (so no ICMP unreachable comes back: silence, as from a firewall)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    break
            if proc.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("chronyd did not start: " + "\n".join(proc.log()[-10:]))
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.stop(5)


async def run(*servers: str, timeout: float = 2.0) -> Result:
    cfg = clock.Config(id="c", servers=servers)
    return await clock.probe(cfg, ProbeContext("c", "clock", timeout=timeout))


def sample(r: Result, name: str, **labels: str) -> float:
    want = tuple(sorted(labels.items()))
    (value,) = [s.value for s in r.samples if s.name == name and (not labels or s.labels == want)]
    return value


async def test_chronyd_and_a_closed_port(chronyd: str) -> None:
    closed = f"127.0.0.1:{free_udp_port()}"
    r = await run(chronyd, closed)
    assert r.status == Status.OK and r.reason is None
    assert abs(sample(r, "clock_offset_seconds")) < 0.05  # the same clock on both ends
    assert sample(r, "clock_servers_answered") == 1
    assert sample(r, "clock_server_stratum", server=chronyd) == 8  # `local stratum 8`
    rows = {row["server"]: row for row in r.details["servers"]}
    assert rows[chronyd]["delay_seconds"] >= 0 and rows[chronyd]["stratum"] == 8
    assert rows[closed]["reason"] == "connect"
    assert "median of 1/2 servers" in r.summary.en and "trung vị của 1/2 máy chủ" in r.summary.vi


async def test_all_servers_unreachable_is_crit_connect() -> None:
    t0 = time.monotonic()
    r = await run(f"127.0.0.1:{free_udp_port()}", f"127.0.0.1:{free_udp_port()}")
    assert (r.status, r.reason) == (Status.CRIT, Reason.CONNECT)
    assert time.monotonic() - t0 < 1.5  # port unreachable comes back at once; no waiting for the timeout
    assert sample(r, "clock_servers_answered") == 0
    for server in r.target.split(","):  # each server as host:port, not "UDP port 123"
        assert server in r.hint.en and server in r.hint.vi
    assert "port 123" not in r.hint.en and "Nothing listens" in r.hint.en and "`servers`" in r.hint.en


async def test_ntp_server_on_a_custom_port_that_does_not_answer(chronyd_denying: str) -> None:
    """Issue #19: the hint names the host and the port actually used, not UDP 123."""
    port = chronyd_denying.rsplit(":", 1)[1]
    assert port != "123"
    r = await run(chronyd_denying, timeout=1.0)
    assert (r.status, r.reason) == (Status.CRIT, Reason.TIMEOUT)
    assert r.details["servers"][0]["reason"] == "timeout" and f"port {port}" in r.details["servers"][0]["error"]
    for text in (r.hint.en, r.hint.vi):
        assert chronyd_denying in text and f"UDP {port}" in text.replace("UDP port", "UDP").replace("cổng UDP", "UDP") and "123" not in text.replace(chronyd_denying, "").replace(port, "")
    assert "allows this machine" in r.hint.en and "1 s" in r.hint.en


@contextlib.asynccontextmanager
async def fake_ntp(shift: float = 0.0, *, stratum: int = 3, refid: bytes = b"\x7f\x00\x00\x01",
                   silent: bool = False) -> AsyncIterator[str]:
    """A real SNTP server on loopback whose clock runs `shift` seconds from ours."""

    class Server(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            if silent or len(data) < 48:
                return
            t2 = time.time() + shift
            self.transport.sendto(reply(data[40:48], t2, time.time() + shift, stratum=stratum, refid=refid), addr)  # type: ignore[attr-defined]

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Server, local_addr=("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{transport.get_extra_info('sockname')[1]}"
    finally:
        transport.close()


@pytest.mark.parametrize(("shift", "status", "word"), [
    (0.7, Status.WARN, "behind"), (-2.0, Status.CRIT, "ahead"), (0.2, Status.OK, "behind"),
])
async def test_shifted_server_clock(shift: float, status: Status, word: str) -> None:
    async with fake_ntp(shift) as server:
        r = await run(server)
    assert r.status == status
    assert sample(r, "clock_offset_seconds") == pytest.approx(shift, abs=0.05)
    assert f"local clock {word} by {abs(shift):.1f}" in r.summary.en
    assert (r.hint is None) == (status == Status.OK)
    if r.hint is not None:  # the offset and the limit crossed
        assert f"{abs(shift):.1f}" in r.hint.en and ("limit 1 s" if status == Status.CRIT else "limit 0.5 s") in r.hint.en
        assert "ngưỡng" in r.hint.vi


async def test_median_ignores_one_wrong_server(chronyd: str) -> None:
    async with fake_ntp(30.0) as wrong, fake_ntp(0.0) as good:
        r = await run(chronyd, wrong, good)
    assert r.status == Status.OK and sample(r, "clock_servers_answered") == 3
    assert sample(r, "clock_server_offset_seconds", server=wrong) == pytest.approx(30, abs=0.05)


async def test_kiss_of_death_and_silence() -> None:
    async with fake_ntp(stratum=0, refid=b"DENY") as kod, fake_ntp(silent=True) as silent:
        t0 = time.monotonic()
        r = await run(kod, silent, timeout=1.0)
        elapsed = time.monotonic() - t0
    assert (r.status, r.reason) == (Status.CRIT, Reason.TIMEOUT)
    rows = {row["server"]: row for row in r.details["servers"]}
    assert "DENY" in rows[kod]["error"] and rows[kod]["reason"] == "content"
    assert rows[silent]["reason"] == "timeout"
    assert 0.8 < elapsed < 1.5  # the silent server costs the budget, no more

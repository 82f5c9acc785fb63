"""The `throughput` kind against a real loopback HTTP server that paces, stalls or fails on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import pytest

from dxagent.checks import throughput
from dxagent.config import ConfigError, load_text
from dxagent.model import Reason, Result, Status
from dxagent.probe import ProbeContext, probe_budget

CHUNK = 64 * 1024


@contextlib.asynccontextmanager
async def http_server() -> AsyncIterator[str]:
    """Paths: /big (20 MB at full speed), /paced (64 KiB every 50 ms ≈ 10.5 Mb/s, 2 MB), /small
    (1000 B), /stall (256 KiB then silence), /hang (no headers), anything else 404."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            path = head.split(" ")[1]
            sizes = {"/big": 20_000_000, "/paced": 2 * 1024 * 1024, "/small": 1000, "/stall": 10_000_000}
            if path == "/hang":
                await asyncio.sleep(30)
            if path not in sizes:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await writer.drain()
                writer.close()
                return
            size = sizes[path]
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nContent-Type: application/octet-stream\r\n"
                         f"Connection: close\r\n\r\n".encode())
            sent, block = 0, b"\0" * CHUNK
            while sent < size:
                n = min(CHUNK, size - sent)
                writer.write(block[:n])
                await writer.drain()
                sent += n
                if path == "/paced":
                    await asyncio.sleep(0.05)
                if path == "/stall" and sent >= 4 * CHUNK:
                    await asyncio.sleep(30)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


def _cfg(url: str, **extra: object) -> throughput.Config:
    return throughput.Config.model_validate({"id": "link", "url": url, **extra})


async def _probe(cfg: throughput.Config) -> Result:
    return await throughput.probe(cfg, ProbeContext(cfg.id, "throughput", timeout=probe_budget(cfg.timeout)))


def _samples(r: Result) -> dict[str, float]:
    return {s.name: s.value for s in r.samples}


async def test_stops_at_max_bytes_and_reports_rate() -> None:
    async with http_server() as base:
        r = await _probe(_cfg(base + "/big", max_bytes="5MB"))
    s = _samples(r)
    assert r.status == Status.OK and r.details["stopped_by"] == "max_bytes"
    assert 5_000_000 <= s["throughput_bytes"] < 5_000_000 + 2 * CHUNK
    assert s["throughput_bytes_per_second"] == pytest.approx(s["throughput_bytes"] / s["throughput_seconds"])


async def test_paced_server_rate_is_measured() -> None:
    async with http_server() as base:
        r = await _probe(_cfg(base + "/paced", contracted_mbps=100, thresholds={"contracted": {"warn": "50%", "crit": "20%"}}))
    s = _samples(r)
    # 32 blocks of 64 KiB with 50 ms pauses: about 10.5 Mb/s (sleep granularity makes it a bit slower)
    assert 6e6 < s["throughput_bytes_per_second"] * 8 < 12e6
    assert s["throughput_bytes"] == 2 * 1024 * 1024 and r.details["stopped_by"] == "end of file"
    assert s["throughput_contracted_ratio"] == pytest.approx(s["throughput_bytes_per_second"] * 8 / 100e6)
    assert (r.status, r.reason) == (Status.CRIT, Reason.THRESHOLD)
    assert "20% of 100 Mbps" in r.hint.en and "127.0.0.1:" in r.hint.vi  # the limit crossed, the host
    assert "% of 100 Mbps" in r.summary.en and "% của 100 Mbps" in r.summary.vi and r.hint is not None


async def test_max_seconds_bounds_a_stalled_transfer() -> None:
    async with http_server() as base:
        t0 = time.monotonic()
        r = await _probe(_cfg(base + "/stall", max_seconds="700ms", timeout="3s"))
        elapsed = time.monotonic() - t0
    assert r.status == Status.OK and r.details["stopped_by"] == "max_seconds"
    assert _samples(r)["throughput_bytes"] == 4 * CHUNK
    assert elapsed < 0.7 + 1.0


async def test_small_file_warns_too_small_to_measure() -> None:
    async with http_server() as base:
        r = await _probe(_cfg(base + "/small"))
    assert (r.status, r.reason) == (Status.WARN, Reason.CONTENT) and _samples(r)["throughput_bytes"] == 1000


async def test_absolute_thresholds() -> None:
    async with http_server() as base:
        r = await _probe(_cfg(base + "/paced", max_bytes="512KiB", thresholds={"mbps": {"warn": 50}}))
    assert (r.status, r.reason) == (Status.WARN, Reason.THRESHOLD)


async def test_failures_have_reasons_and_no_rate_samples() -> None:
    async with http_server() as base:
        missing = await _probe(_cfg(base + "/nothing"))
        hung = await _probe(_cfg(base + "/hang", max_seconds="500ms", timeout="1500ms"))
    assert (missing.status, missing.reason, missing.details["status_code"]) == (Status.CRIT, Reason.STATUS, 404)
    assert (hung.status, hung.reason, hung.details["phase"]) == (Status.CRIT, Reason.TIMEOUT, "ttfb")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused = await _probe(_cfg(f"http://127.0.0.1:{s.getsockname()[1]}/x"))
    assert (refused.status, refused.reason) == (Status.CRIT, Reason.CONNECT)
    where = f"127.0.0.1:{refused.target.rsplit(':', 1)[1].split('/')[0]}"
    assert where in refused.hint.en and where in refused.hint.vi and where in refused.summary.en  # the check's own values
    dns = await _probe(_cfg("http://no-such-host.invalid/file"))
    assert (dns.status, dns.reason) == (Status.CRIT, Reason.DNS)
    assert all(not r.samples for r in (missing, hung, refused, dns))


def test_judge_is_pure() -> None:
    cfg = _cfg("http://h/f", contracted_mbps=200, thresholds={"contracted": {"warn": 0.8, "crit": 0.5},
                                                              "mbps": {"crit": 20}})
    assert throughput.judge(cfg, 190e6, 20_000_000, False, 1.0) == (Status.OK, None)
    assert throughput.judge(cfg, 160e6, 20_000_000, False, 1.0) == (Status.OK, None)   # exactly 80%: still OK
    assert throughput.judge(cfg, 150e6, 20_000_000, False, 1.0) == (Status.WARN, Reason.THRESHOLD)
    assert throughput.judge(cfg, 90e6, 20_000_000, False, 2.0) == (Status.CRIT, Reason.THRESHOLD)
    assert throughput.judge(cfg, 190e6, 10_000, True, 0.01) == (Status.WARN, Reason.CONTENT)
    assert _cfg("https://u:pw@files.example/f").target_label() == "https://files.example/f"  # credentials never shown


@pytest.mark.parametrize("body, msg", [
    ("url: ftp://h/f", "url"),
    ("url: http://h/f\n    thresholds: {contracted: {warn: 50%}}", "thresholds.contracted needs `contracted_mbps`"),
    ("url: http://h/f\n    thresholds: {mbps: {warn: 10, crit: 50}}", "thresholds.mbps: crit must not be above warn"),
    ("url: http://h/f\n    thresholds: {warn_ratio: 0.5}", "`warn_ratio` is now `contracted: {warn: …}`"),
    ("url: http://h/f\n    max_seconds: 30s", "max_seconds must be shorter than timeout"),
])
def test_config_errors(body: str, msg: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(f"checks:\n  - id: t\n    kind: throughput\n    {body}\n")
    assert msg in str(err.value) and "checks[0]" in str(err.value)
    load_text("checks:\n" + throughput.EXAMPLE)

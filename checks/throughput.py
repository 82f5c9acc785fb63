"""`throughput`: download a file for up to N bytes or T seconds and report the achieved Mbps.

Meant for a file on the provincial server, to compare the commune–province link with the
contracted bandwidth (plan02 NET-02/NET-03). The clock starts when the response headers arrive,
so DNS, TCP/TLS setup and server think-time do not dilute the figure; they are reported apart.
Bytes are counted as they arrive on the wire (`Accept-Encoding: identity`, no decompression).
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from typing import Literal

from pydantic import Field, field_validator, model_validator

from dxagent.config.check import CheckConfig
from dxagent.config.types import ByteSize, Duration, Model
from dxagent.limits import RateLimit, RatioLowerLimit, defaults, renamed, worst
from dxagent.model import Reason, Result, Sample, Status, Text, t
from dxagent.probe import ProbeContext

__all__ = ["Config", "Thresholds", "probe", "judge", "EXAMPLE", "METRICS"]

METRICS: dict[str, str] = {
    "throughput_bytes_per_second": "Download rate achieved: body bytes divided by transfer time (× 8 for bits per second).",
    "throughput_bytes": "Body bytes downloaded in this run.",
    "throughput_seconds": "Transfer time, from the response headers to the last byte read.",
    "throughput_contracted_ratio": "Achieved rate divided by contracted_mbps (when configured).",
}

EXAMPLE = """\
# Commune–province link: download up to 20 MB (or 10 s) from the provincial server.
- id: link-throughput
  kind: throughput
  url: https://files.example.gov.vn/speedtest/50MB.bin
  max_bytes: 20MB
  max_seconds: 10s
  contracted_mbps: 200
  thresholds: {contracted: {warn: 50%, crit: 25%}}   # share of contracted_mbps
  interval: 1h
  timeout: 20s
"""


class Thresholds(Model):
    """Lower limits on the rate: absolute Mbps and/or a share of `contracted_mbps`."""

    mbps: RateLimit = defaults(RateLimit(), "Lower limits in Mbit/s.")
    contracted: RatioLowerLimit = defaults(RatioLowerLimit(), "Lower limits as a share of `contracted_mbps` (`50%`).")

    _renamed = renamed({f"{level}_{unit}": f"{new}: {{{level}: …}}" for level in ("warn", "crit")
                        for unit, new in (("mbps", "mbps"), ("ratio", "contracted"))})


class Config(CheckConfig):
    """Download `url` and measure the rate."""

    kind: Literal["throughput"] = "throughput"
    url: str = Field(pattern=r"^https?://\S+$", description="HTTP(S) URL of a large file on the server to test.")
    max_bytes: ByteSize = Field(20_000_000, ge=1, description="Stop after this many body bytes.")
    max_seconds: Duration = Field(10.0, gt=0, description="Stop after this long (the transfer, not the setup).")
    min_bytes: ByteSize = Field(1_000_000, ge=0, description="A shorter body (that ended before `max_seconds`) is too small to measure: WARN.")
    contracted_mbps: float | None = Field(None, gt=0, description="The bandwidth in the contract, Mbit/s.")
    verify_tls: bool = Field(True, description="Verify the server certificate (the `tls` kind judges it; this only gates).")
    thresholds: Thresholds = Field(default_factory=Thresholds, description="Lower limits on the rate.")
    interval: Duration = Field(3600.0, gt=0, description="How often `dxagent run` runs the check (a download costs bandwidth).")
    timeout: Duration = Field(20.0, gt=0, description="Budget for one attempt: setup plus `max_seconds`.")

    def target_label(self) -> str:
        return self.url

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not urllib.parse.urlsplit(value).hostname:
            raise ValueError("the URL has no host name")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        contracted = self.thresholds.contracted
        if (contracted.warn is not None or contracted.crit is not None) and self.contracted_mbps is None:
            raise ValueError("thresholds.contracted needs `contracted_mbps`")
        if self.max_seconds >= self.timeout:
            raise ValueError("max_seconds must be shorter than timeout (leave time to connect)")
        return self


def judge(cfg: Config, bps: float, nbytes: int, complete: bool, elapsed: float) -> tuple[Status, Reason | None]:
    """Rate against the limits (pure). `complete`: the body ended before any limit was reached."""
    th = cfg.thresholds
    mbps = bps / 1e6
    ratio = mbps / cfg.contracted_mbps if cfg.contracted_mbps else None
    status, _ = worst((("mbps", mbps, th.mbps), ("contracted", ratio, th.contracted)))
    if status == Status.CRIT:
        return Status.CRIT, Reason.THRESHOLD
    if complete and nbytes < cfg.min_bytes and elapsed < cfg.max_seconds:
        return Status.WARN, Reason.CONTENT
    return status, (Reason.THRESHOLD if status != Status.OK else None)


async def probe(cfg: Config, ctx: ProbeContext) -> Result:
    import httpx  # only when a throughput check runs

    target = cfg.target_label()
    t0 = time.monotonic()
    phase = "connect"
    nbytes, complete, t_headers, t_end = 0, False, t0, t0
    try:
        async with httpx.AsyncClient(verify=cfg.verify_tls, timeout=httpx.Timeout(ctx.timeout), follow_redirects=True,
                                     headers={"Accept-Encoding": "identity", "Cache-Control": "no-cache"}) as client:
            resp = await asyncio.wait_for(client.send(client.build_request("GET", cfg.url), stream=True), ctx.timeout)
            try:
                t_headers = time.monotonic()
                if not 200 <= resp.status_code < 300:
                    return _fail(ctx, target, Reason.STATUS,
                                 t("HTTP {code} for the test file", "HTTP {code} khi tải tệp thử", code=resp.status_code),
                                 t("Check that the URL points at an existing file on the server.",
                                   "Kiểm tra URL trỏ tới tệp có trên máy chủ."), {"status_code": resp.status_code})
                phase = "transfer"
                nbytes, complete = await _drain(resp, cfg.max_bytes, min(t_headers + cfg.max_seconds, t0 + ctx.timeout))
                t_end = time.monotonic()
            finally:
                await asyncio.wait_for(resp.aclose(), 1.0)
    except (TimeoutError, httpx.TimeoutException):
        return _fail(ctx, target, Reason.TIMEOUT,
                     t("timeout during {phase}", "hết thời gian chờ ở bước {phase}", phase=phase),
                     t("The server did not answer in time: check the link (`ping`) and the server.",
                       "Máy chủ không trả lời kịp: kiểm tra đường truyền (`ping`) và máy chủ."), {"phase": phase})
    except httpx.ConnectError as exc:
        reason, summary, hint = _connect_failure(exc)
        return _fail(ctx, target, reason, summary, hint, {"phase": phase})
    except httpx.HTTPError as exc:
        return _fail(ctx, target, Reason.CONNECT,
                     t("download failed: {err}", "tải thất bại: {err}", err=type(exc).__name__),
                     t("The connection broke during the transfer: check the link quality (`ping`).",
                       "Kết nối bị ngắt khi đang tải: kiểm tra chất lượng đường truyền (`ping`)."),
                     {"phase": phase})
    elapsed = max(t_end - t_headers, 1e-6)
    bps = nbytes * 8 / elapsed
    status, reason = judge(cfg, bps, nbytes, complete, elapsed)
    samples = [Sample.of("throughput_bytes_per_second", bps / 8), Sample.of("throughput_bytes", nbytes),
               Sample.of("throughput_seconds", elapsed)]
    ratio = bps / 1e6 / cfg.contracted_mbps if cfg.contracted_mbps else None
    if ratio is not None:
        samples.append(Sample.of("throughput_contracted_ratio", ratio))
    details = {"bytes": nbytes, "transfer_seconds": round(elapsed, 6), "setup_seconds": round(t_headers - t0, 6),
               "stopped_by": "end of file" if complete else ("max_bytes" if nbytes >= cfg.max_bytes else "max_seconds"),
               "contracted_mbps": cfg.contracted_mbps}
    of = "" if ratio is None else f" ({ratio * 100:.0f}% of {cfg.contracted_mbps:g} Mbps)"
    of_vi = "" if ratio is None else f" ({ratio * 100:.0f}% của {cfg.contracted_mbps:g} Mbps)"
    summary = Text(f"{bps / 1e6:.1f} Mbps{of}: {nbytes / 1e6:.1f} MB in {elapsed:.2f} s",
                   f"{bps / 1e6:.1f} Mbps{of_vi}: {nbytes / 1e6:.1f} MB trong {elapsed:.2f} giây")
    hint = None
    if reason == Reason.CONTENT:
        hint = t("The test file is too small to measure a rate: point `url` at a file of several MB.",
                 "Tệp thử quá nhỏ để đo tốc độ: đặt `url` tới một tệp vài MB.")
    elif reason == Reason.THRESHOLD:
        hint = t("The link is slower than agreed: check for other heavy traffic at the time, then report the figures "
                 "to the provider.",
                 "Đường truyền chậm hơn cam kết: kiểm tra lưu lượng lớn khác cùng lúc, rồi gửi số liệu cho nhà mạng.")
    return ctx.result(status, summary, target=target, reason=reason, hint=hint, samples=samples, details=details)


async def _drain(resp: object, max_bytes: int, stop_at: float) -> tuple[int, bool]:
    """Read the body until its end, `max_bytes` or `stop_at` → (bytes, ended by itself).

    Each read waits only until `stop_at`, so a server that stalls mid-body costs at most
    `max_seconds`; what arrived until then is still a measurement.
    """
    chunks = resp.aiter_raw().__aiter__()  # type: ignore[attr-defined]
    nbytes = 0
    while True:
        remaining = stop_at - time.monotonic()
        if remaining <= 0:
            return nbytes, False
        try:
            chunk = await asyncio.wait_for(chunks.__anext__(), remaining)
        except StopAsyncIteration:
            return nbytes, True
        except TimeoutError:
            return nbytes, False
        nbytes += len(chunk)
        if nbytes >= max_bytes:
            return nbytes, False


def _connect_failure(exc: BaseException) -> tuple[Reason, Text, Text]:
    import socket
    import ssl

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return (Reason.DNS, t("cannot resolve the server name", "không phân giải được tên máy chủ"),
                    t("Check the URL's host name and the DNS servers.", "Kiểm tra tên máy chủ trong URL và máy chủ DNS."))
        if isinstance(cause, ssl.SSLError):
            return (Reason.TLS, t("TLS handshake failed: {err}", "bắt tay TLS thất bại: {err}",
                                  err=getattr(cause, "reason", None) or type(cause).__name__),
                    t("Run the `tls` check on this server for the certificate details.",
                      "Chạy kiểm tra `tls` cho máy chủ này để xem chi tiết chứng chỉ."))
        if isinstance(cause, ConnectionRefusedError):
            break
        cause = cause.__cause__ or cause.__context__
    return (Reason.CONNECT, t("cannot connect: {err}", "không kết nối được: {err}", err=str(exc) or type(exc).__name__),
            t("Check that the server is up and its port open (`tcp` check).",
              "Kiểm tra máy chủ đang chạy và cổng đang mở (kiểm tra `tcp`)."))


def _fail(ctx: ProbeContext, target: str, reason: Reason, summary: Text, hint: Text, details: dict[str, object]) -> Result:
    # No rate samples: a failed download measured nothing, and 0 b/s would pull averages down.
    return ctx.result(Status.CRIT, summary, target=target, reason=reason, hint=hint, details=details)

"""`throughput`: download a file for up to N bytes or T seconds and report the achieved Mbps.

Meant for a file on the provincial server, to compare the commune–province link with the
contracted bandwidth (plan02 NET-02/NET-03). The clock starts when the response headers arrive,
so DNS, TCP/TLS setup and server think-time do not dilute the figure; they are reported apart.
Bytes are counted as they arrive on the wire (`Accept-Encoding: identity`, no decompression).
The request goes through the `http` kind's httpx client (checks/http/client.py): same TLS trust,
phases from httpx's trace extension, same failure classification.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from dxagent.checks.http.judge import redact_url
from dxagent.config.check import CheckConfig
from dxagent.config.types import ByteSize, Duration, Model
from dxagent.limits import RateLimit, RatioLowerLimit, defaults, renamed, worst
from dxagent.model import Reason, Result, Sample, Status, Text, t
from dxagent.probe import ProbeContext

__all__ = ["Config", "Thresholds", "probe", "judge", "EXAMPLE", "METRICS"]

_MAX_REDIRECTS = 5

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
        return redact_url(self.url)

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

    from dxagent.checks.http.client import build_client, ssl_context
    from dxagent.checks.http.flow import RedirectError, classify
    from dxagent.checks.http.trace import Timeline

    target = cfg.target_label()
    timeline = Timeline()
    client, _ = build_client(timeline, ssl_context(None, insecure=not cfg.verify_tls),
                             headers={"Accept-Encoding": "identity", "Cache-Control": "no-cache"})
    t0 = time.monotonic()
    deadline = t0 + ctx.timeout
    nbytes, complete, t_headers, t_end = 0, False, t0, t0
    try:
        async with asyncio.timeout(ctx.timeout):
            resp = await _get(client, httpx.URL(cfg.url), timeline, deadline)
            try:
                t_headers = time.monotonic()
                if not 200 <= resp.status_code < 300:
                    where = redact_url(str(resp.request.url))
                    return _fail(ctx, target, Reason.STATUS,
                                 t("HTTP {code} for the test file {url}", "HTTP {code} khi tải tệp thử {url}",
                                   code=resp.status_code, url=where),
                                 t("Check that {url} is an existing file on the server.",
                                   "Kiểm tra {url} là tệp có trên máy chủ.", url=where), {"status_code": resp.status_code})
                timeline.begin("transfer")
                nbytes, complete = await _drain(resp, cfg.max_bytes, min(t_headers + cfg.max_seconds, deadline))
                timeline.end("transfer")
                t_end = time.monotonic()
            finally:
                await resp.aclose()
    except (TimeoutError, httpx.HTTPError, OSError, RedirectError) as exc:
        failure = classify(exc, timeline)
        summary, hint = _failure_text(cfg, failure.reason, failure.phase, failure.code, failure.message)
        return _fail(ctx, target, failure.reason, summary, hint, {"phase": failure.phase, "error": failure.code})
    finally:
        with contextlib.suppress(TimeoutError, httpx.HTTPError, OSError):
            async with asyncio.timeout(1.0):  # a peer stalling the TLS close costs one second at most
                await client.aclose()
    elapsed = max(t_end - t_headers, 1e-6)
    bps = nbytes * 8 / elapsed
    status, reason = judge(cfg, bps, nbytes, complete, elapsed)
    samples = [Sample.of("throughput_bytes_per_second", bps / 8), Sample.of("throughput_bytes", nbytes),
               Sample.of("throughput_seconds", elapsed)]
    ratio = bps / 1e6 / cfg.contracted_mbps if cfg.contracted_mbps else None
    if ratio is not None:
        samples.append(Sample.of("throughput_contracted_ratio", ratio))
    details = {"bytes": nbytes, "transfer_seconds": round(elapsed, 6), "setup_seconds": round(t_headers - t0, 6),
               "phases": {p: round(v, 6) for p, v in timeline.seconds.items() if p != "transfer"},
               "stopped_by": "end of file" if complete else ("max_bytes" if nbytes >= cfg.max_bytes else "max_seconds"),
               "contracted_mbps": cfg.contracted_mbps}
    of = "" if ratio is None else f" ({ratio * 100:.0f}% of {cfg.contracted_mbps:g} Mbps)"
    of_vi = "" if ratio is None else f" ({ratio * 100:.0f}% của {cfg.contracted_mbps:g} Mbps)"
    summary = Text(f"{bps / 1e6:.1f} Mbps{of}: {nbytes / 1e6:.1f} MB in {elapsed:.2f} s",
                   f"{bps / 1e6:.1f} Mbps{of_vi}: {nbytes / 1e6:.1f} MB trong {elapsed:.2f} giây")
    hint = None
    if reason == Reason.CONTENT:
        hint = t("{url} gave only {n} bytes, too few to measure a rate (min_bytes {min}): point `url` at a file of "
                 "several MB.",
                 "{url} chỉ có {n} byte, quá ít để đo tốc độ (min_bytes {min}): đặt `url` tới một tệp vài MB.",
                 url=target, n=nbytes, min=cfg.min_bytes)
    elif reason == Reason.THRESHOLD:
        limit = _crossed(cfg, status)
        hint = t("The link to {host} is slower than {limit}: check for other heavy traffic at the time, then report "
                 "the figures to the provider.",
                 "Đường truyền tới {host} chậm hơn {limit}: kiểm tra lưu lượng lớn khác cùng lúc, rồi gửi số liệu cho "
                 "nhà mạng.", host=_host_port(cfg.url), limit=limit)
    return ctx.result(status, summary, target=target, reason=reason, hint=hint, samples=samples, details=details)


async def _get(client: Any, url: Any, timeline: Any, deadline: float) -> Any:
    """GET `url`, following up to `_MAX_REDIRECTS` redirects without reading their bodies; the final response streams."""
    import httpx

    from dxagent.checks.http.flow import RedirectError, redirect_target

    for _ in range(_MAX_REDIRECTS + 1):
        left = max(deadline - time.monotonic() - 0.05, 0.001)  # httpx's own timeouts end just before the deadline
        resp = await client.send(client.build_request("GET", url, timeout=httpx.Timeout(left),
                                                      extensions={"trace": timeline.trace}), stream=True)
        location = resp.headers.get("location")
        if resp.status_code not in (301, 302, 303, 307, 308) or location is None:
            return resp
        await resp.aclose()
        url = redirect_target(url, location)
    raise RedirectError("redirect_limit", f"more than {_MAX_REDIRECTS} redirects")


async def _drain(resp: Any, max_bytes: int, stop_at: float) -> tuple[int, bool]:
    """Read the body until its end, `max_bytes` or `stop_at` → (bytes, ended by itself).

    A server that stalls mid-body costs at most `max_seconds`; what arrived until then is still a
    measurement.
    """
    nbytes = 0
    try:
        async with asyncio.timeout(max(stop_at - time.monotonic(), 0)):
            async for chunk in resp.aiter_raw():
                nbytes += len(chunk)
                if nbytes >= max_bytes:
                    return nbytes, False
    except TimeoutError:
        return nbytes, False
    return nbytes, True


def _host_port(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def _crossed(cfg: Config, status: Status) -> str:
    """The limit the rate fell under, as configured: `50 Mbps` or `50% of 200 Mbps`."""
    th = cfg.thresholds
    level = "crit" if status == Status.CRIT else "warn"
    mbps, share = getattr(th.mbps, level), getattr(th.contracted, level)
    parts = ([f"{mbps:g} Mbps"] if mbps is not None else []) + (
        [f"{share * 100:g}% of {cfg.contracted_mbps:g} Mbps"] if share is not None and cfg.contracted_mbps else [])
    return " / ".join(parts) or level


_PHASE_VI = {"dns": "phân giải tên", "connect": "kết nối", "tls": "bắt tay TLS", "request": "gửi yêu cầu",
             "ttfb": "chờ phản hồi", "transfer": "tải"}


def _failure_text(cfg: Config, reason: Reason, phase: str, code: str, message: str) -> tuple[Text, Text]:
    """Summary and hint for a download that failed, naming the check's own host and port."""
    host = urllib.parse.urlsplit(cfg.url).hostname or ""
    where = _host_port(cfg.url)
    msg = message[:200]
    if reason == Reason.TIMEOUT:
        return (t("timeout during {phase}", "hết thời gian chờ ở bước {vi}", phase=phase, vi=_PHASE_VI.get(phase, phase)),
                t("{where} did not answer within {s:g} s: check the link (`ping {host}`) and the server.",
                  "{where} không trả lời trong {s:g} giây: kiểm tra đường truyền (`ping {host}`) và máy chủ.",
                  where=where, host=host, s=cfg.timeout))
    if reason == Reason.DNS:
        return (t("cannot resolve {host}", "không phân giải được {host}", host=host),
                t("Check the host name {host} in `url` and the DNS servers (`dns` check).",
                  "Kiểm tra tên máy chủ {host} trong `url` và máy chủ DNS (kiểm tra `dns`).", host=host))
    if reason == Reason.TLS:
        return (t("TLS handshake with {where} failed ({code}): {err}", "bắt tay TLS với {where} thất bại ({code}): {err}",
                  where=where, code=code, err=msg),
                t("Run a `tls` check on {where} for the certificate details.",
                  "Chạy kiểm tra `tls` cho {where} để xem chi tiết chứng chỉ.", where=where))
    if reason == Reason.STATUS:
        return (t("unusable redirect: {err}", "chuyển hướng không dùng được: {err}", err=msg),
                t("Point `url` at the file itself (the server redirects: {err}).",
                  "Đặt `url` trỏ thẳng tới tệp (máy chủ chuyển hướng: {err}).", err=msg))
    if reason == Reason.CONTENT:
        return (t("invalid HTTP response from {where}: {err}", "phản hồi HTTP không hợp lệ từ {where}: {err}",
                  where=where, err=msg),
                t("Check the web server at {where} and any proxy in between.",
                  "Kiểm tra máy chủ web tại {where} và proxy ở giữa.", where=where))
    if code == "refused":
        return (t("connection refused by {where}", "{where} từ chối kết nối", where=where),
                t("Check that the server at {where} is up and the port open (`tcp` check).",
                  "Kiểm tra máy chủ tại {where} đang chạy và cổng đang mở (kiểm tra `tcp`).", where=where))
    return (t("download from {where} failed during {phase}: {err}", "tải từ {where} thất bại ở bước {vi}: {err}",
              where=where, phase=phase, vi=_PHASE_VI.get(phase, phase), err=msg),
            t("The connection to {where} broke: check the link quality (`ping {host}`).",
              "Kết nối tới {where} bị ngắt: kiểm tra chất lượng đường truyền (`ping {host}`).", where=where, host=host))


def _fail(ctx: ProbeContext, target: str, reason: Reason, summary: Text, hint: Text, details: dict[str, object]) -> Result:
    # No rate samples: a failed download measured nothing, and 0 b/s would pull averages down.
    return ctx.result(Status.CRIT, summary, target=target, reason=reason, hint=hint, details=details)

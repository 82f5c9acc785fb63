"""`ping`: ICMP echo to one or many targets at once: loss, round-trip time and jitter per target.

Link quality to the gateway, the provincial data centre or the internet (readiness NET-04,
LAN-01). Packets go out at a steady `packet_interval` without waiting for replies (like fping),
so a lossy target costs `(count - 1) × packet_interval + packet_timeout`, never count × timeout.
Symbolic targets: `gateway` (the default routes' next hops) and `dns` (resolv.conf's servers).
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import os
import socket
from typing import Any, Literal

from icmplib import ICMPLibError
from pydantic import Field, model_validator

from dxagent import netinfo
from dxagent.config.check import CheckConfig
from dxagent.config.types import Duration, Model
from dxagent.icmp import Measurement, SocketPermission, ping_address
from dxagent.limits import RatioLimit, TimeLimit, defaults, worst
from dxagent.model import Reason, Result, Sample, Status, Text, t
from dxagent.probe import ProbeContext, run_blocking
from dxagent.runner import probe_budget

__all__ = ["Config", "Thresholds", "probe", "judge", "stats", "EXAMPLE", "METRICS", "permission_hint"]

METRICS: dict[str, str] = {
    "ping_packets_sent": "Echo requests sent to the target in the last run.",
    "ping_packets_received": "Echo replies received in time in the last run.",
    "ping_loss_ratio": "Share of echo requests without a reply in time in the last run (exact: (sent - received) / sent).",
    "ping_rtt_seconds": "Round-trip time of the last run's replies; label stat is min, avg or max.",
    "ping_jitter_seconds": "Mean absolute difference between consecutive round-trip times in the last run.",
}

EXAMPLE = """\
# Link quality to the default gateway, the provincial data centre and the internet
- id: uplink
  kind: ping
  targets: [gateway, dc.tinh.gov.vn, 1.1.1.1]   # `gateway` and `dns` are symbolic
  count: 10
  packet_interval: 200ms
  timeout: 5s
  thresholds:
    loss: {warn: 1%, crit: 20%}
    rtt: {warn: 50ms, crit: 200ms}               # average round-trip time
    jitter: {warn: 30ms}
"""

SYMBOLIC = ("gateway", "dns")


class Thresholds(Model):
    """Loss, average round-trip time and jitter limits, each with warn and crit."""

    loss: RatioLimit = defaults(RatioLimit(warn=0.01, crit=0.2), "Loss ratio limits (default warn 1%, crit 20%).")
    rtt: TimeLimit = defaults(TimeLimit(), "Average round-trip time limits.")
    jitter: TimeLimit = defaults(TimeLimit(), "Jitter limits.")


class Config(CheckConfig):
    """Send `count` echo requests to every target concurrently; one result per target address."""

    kind: Literal["ping"] = "ping"
    targets: tuple[str, ...] = Field(min_length=1, description=(
        "Host names, IP addresses, or `gateway` (default routes' next hops) and `dns` (resolv.conf servers)."))
    count: int = Field(5, ge=1, le=10000, description="Echo requests per target and run.")
    packet_interval: Duration = Field(0.2, ge=0.001, description="Gap between two requests to the same target.")
    packet_timeout: Duration = Field(1.0, gt=0, description="A reply later than this after its request counts as lost.")
    size: int = Field(56, ge=0, le=9000, description="Payload bytes per request (56 gives 84-byte IPv4 packets).")
    ip_family: Literal["any", "ipv4", "ipv6"] = Field("any", description="Address family for names and `gateway`.")
    socket: Literal["auto", "raw", "datagram"] = Field("auto", description=(
        "`raw` needs CAP_NET_RAW, `datagram` needs net.ipv4.ping_group_range; `auto` tries raw, then datagram."))
    thresholds: Thresholds = Field(default_factory=Thresholds, description="Loss, RTT and jitter thresholds.")

    @model_validator(mode="after")
    def _fits_timeout(self) -> Config:
        need = (self.count - 1) * self.packet_interval + self.packet_timeout
        if need > probe_budget(self.timeout):
            raise ValueError(
                f"(count - 1) × packet_interval + packet_timeout = {need:g}s does not fit in timeout "
                f"{self.timeout:g}s (keep a margin of 10%, at most 0.5s): lower count or raise timeout")
        return self

    def target_label(self) -> str:
        return ",".join(self.targets)


def stats(rtts: list[float]) -> dict[str, float]:
    """min/avg/max of the round-trip times and the jitter (pure).

    Jitter is the mean absolute difference between consecutive replies' RTTs, in sequence order
    (like icmplib and RFC 3550's |D(i-1,i)| before smoothing); it needs two replies.
    """
    out: dict[str, float] = {}
    if rtts:
        out = {"min": min(rtts), "avg": sum(rtts) / len(rtts), "max": max(rtts)}
    if len(rtts) >= 2:
        out["jitter"] = sum(abs(a - b) for a, b in itertools.pairwise(rtts)) / (len(rtts) - 1)
    return out


def judge(th: Thresholds, sent: int, received: int, rtt_avg: float | None,
          jitter: float | None) -> tuple[Status, Reason | None, list[str]]:
    """Measurements against the thresholds (pure): status, reason and the limits crossed.

    No reply at all is CRIT/down whatever the thresholds say; a limit is crossed when the value
    is strictly above it.
    """
    if sent == 0 or received == 0:
        return Status.CRIT, Reason.DOWN, ["no reply"]
    loss = (sent - received) / sent
    status, crossed = worst((("loss", loss, th.loss), ("rtt", rtt_avg, th.rtt), ("jitter", jitter, th.jitter)))
    return status, (Reason.THRESHOLD if crossed else None), crossed


def permission_hint(gid: int | None = None) -> Text:
    """How to let dxagent send ICMP: CAP_NET_RAW for raw sockets or ping_group_range for datagram ones."""
    gid = os.getgid() if gid is None else gid
    return t(
        "Give dxagent CAP_NET_RAW (systemd: AmbientCapabilities=CAP_NET_RAW; or "
        "`setcap cap_net_raw+ep <python binary>`), or allow unprivileged ICMP for its group {gid}: "
        "`sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` (persist in /etc/sysctl.d/).",
        "Cấp quyền CAP_NET_RAW cho dxagent (systemd: AmbientCapabilities=CAP_NET_RAW; hoặc "
        "`setcap cap_net_raw+ep <tệp python>`), hoặc cho phép ICMP không đặc quyền với nhóm {gid}: "
        "`sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` (lưu lâu dài trong /etc/sysctl.d/).",
        gid=gid)


_FAMILY = {"any": socket.AF_UNSPEC, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}


def _literal(text: str) -> tuple[str, int] | None:
    """(address, family) when `text` is an IP literal (IPv6 may carry `%scope`), else None."""
    try:
        ip = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    return text, socket.AF_INET if ip.version == 4 else socket.AF_INET6


async def _expand(cfg: Config, ctx: ProbeContext, target: str,
                  budget: float) -> list[tuple[str, str, int]] | Result:
    """One configured target → [(label, address, family)], or a finished CRIT result."""
    fam = _FAMILY[cfg.ip_family]
    if target == "gateway":
        gws = await run_blocking(netinfo.default_gateways, netinfo.ROUTE_PATH, netinfo.IPV6_ROUTE_PATH, fam)
        if not gws:
            return ctx.result(
                Status.CRIT, t("no default route", "không có tuyến mặc định (default route)"), target=target,
                reason=Reason.DOWN, samples=_lost_samples(0),
                hint=t("This machine has no way out of its LAN: check the cable, the link light and DHCP "
                       "(`ip route` must show a `default via` line).",
                       "Máy không có đường ra ngoài mạng LAN: kiểm tra cáp, đèn tín hiệu và DHCP "
                       "(`ip route` phải có dòng `default via`)."))
        return [(f"gateway:{g.address}", g.address, g.family) for g in gws]
    if target == "dns":
        servers = await run_blocking(netinfo.resolvers, netinfo.RESOLV_CONF, netinfo.RESOLVED_UPSTREAM)
        found = [x for s in servers if (x := _literal(s)) and (fam == socket.AF_UNSPEC or x[1] == fam)]
        if not found:
            return ctx.result(
                Status.CRIT, t("no DNS resolver configured", "chưa cấu hình máy chủ DNS"), target=target,
                reason=Reason.DNS, samples=_lost_samples(0),
                hint=t("Add `nameserver` lines to /etc/resolv.conf (or fix DHCP / systemd-resolved).",
                       "Thêm dòng `nameserver` vào /etc/resolv.conf (hoặc sửa DHCP / systemd-resolved)."))
        return [(f"dns:{a}", a, f) for a, f in found]
    lit = _literal(target)
    if lit:
        return [(target, *lit)]
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(target, None, family=fam, type=socket.SOCK_DGRAM), budget)
    except (socket.gaierror, UnicodeError, TimeoutError) as exc:
        err = "timeout" if isinstance(exc, TimeoutError) else (getattr(exc, "strerror", None) or str(exc))
        return ctx.result(
            Status.CRIT, t("cannot resolve {host}: {err}", "không phân giải được {host}: {err}", host=target, err=err),
            target=target, reason=Reason.DNS, samples=_lost_samples(0),
            hint=t("Check the name and the DNS servers (`dns` check).", "Kiểm tra tên và máy chủ DNS (kiểm tra `dns`)."))
    family, _, _, _, addr = infos[0]
    return [(target, str(addr[0]), family)]


def _lost_samples(sent: int) -> list[Sample]:
    return [Sample.of("ping_packets_sent", sent), Sample.of("ping_packets_received", 0),
            Sample.of("ping_loss_ratio", 1)]


def _report(cfg: Config, ctx: ProbeContext, label: str, m: Measurement) -> Result:
    """Turn one target's measurement into its Result (samples, summary, hint)."""
    rtts = [m.rtts[s] for s in sorted(m.rtts)]
    st = stats(rtts)
    received = len(rtts)
    loss = (m.sent - received) / m.sent if m.sent else 1.0
    samples = [Sample.of("ping_packets_sent", m.sent), Sample.of("ping_packets_received", received),
               Sample.of("ping_loss_ratio", loss)]
    samples += [Sample.of("ping_rtt_seconds", st[k], stat=k) for k in ("min", "avg", "max") if k in st]
    if "jitter" in st:
        samples.append(Sample.of("ping_jitter_seconds", st["jitter"]))
    details: dict[str, Any] = {"address": m.address, "socket": m.mode, "sent": m.sent, "received": received,
                               "loss_ratio": loss, "send_errors": m.send_errors, "duplicates": m.duplicates,
                               **{f"rtt_{k}_seconds": round(v, 9) for k, v in st.items()}}
    if m.icmp_errors:
        details["icmp_errors"] = m.icmp_errors[:5]
    if m.last_error:
        details["last_error"] = m.last_error
    status, reason, crossed = judge(cfg.thresholds, m.sent, received, st.get("avg"), st.get("jitter"))
    if received == 0:
        why = m.icmp_errors[0] if m.icmp_errors else (m.last_error or "")
        summary = t("{addr}: no reply to {n} requests{why}", "{addr}: không có phản hồi cho {n} gói{why}",
                    addr=m.address, n=m.sent, why=f" ({why})" if why else "")
        hint = t("The host is down or unreachable, or a firewall drops ICMP: check the link, the route and the "
                 "host's firewall.", "Máy đích tắt hoặc không tới được, hoặc tường lửa chặn ICMP: kiểm tra "
                 "đường truyền, định tuyến và tường lửa của máy đích.")
    else:
        ms = {k: v * 1000 for k, v in st.items()}
        summary = t("{addr}: {r}/{n} replies, loss {loss:.4g}%, rtt min/avg/max {min:.3f}/{avg:.3f}/{max:.3f} ms, "
                    "jitter {jit}", "{addr}: {r}/{n} phản hồi, mất gói {loss:.4g}%, độ trễ min/tb/max "
                    "{min:.3f}/{avg:.3f}/{max:.3f} ms, độ biến thiên {jit}",
                    addr=m.address, r=received, n=m.sent, loss=loss * 100, min=ms["min"], avg=ms["avg"],
                    max=ms["max"], jit=f"{ms['jitter']:.3f} ms" if "jitter" in ms else "n/a")
        hint = None if status == Status.OK else t(
            "Above the {what} limit: the link is congested or faulty; compare with the gateway's figures to "
            "tell the LAN from the uplink.", "Vượt ngưỡng {what_vi}: đường truyền bị nghẽn hoặc lỗi; so sánh với "
            "số liệu tới gateway để phân biệt lỗi mạng LAN hay đường lên.", what="/".join(crossed),
            what_vi="/".join(_VI_MEASURE.get(c, c) for c in crossed))
    return ctx.result(status, summary, target=label, reason=reason, hint=hint, samples=samples, details=details)


_VI_MEASURE = {"loss": "mất gói", "rtt": "độ trễ", "jitter": "độ biến thiên"}


async def probe(cfg: Config, ctx: ProbeContext) -> list[Result]:
    budget = ctx.timeout
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    expanded = await asyncio.gather(*(_expand(cfg, ctx, tg, budget) for tg in cfg.targets))
    results: list[Result | None] = []
    jobs: list[tuple[int, str, asyncio.Future[Measurement]]] = []
    for item in expanded:
        if isinstance(item, Result):
            results.append(item)
            continue
        for label, address, family in item:
            fut = asyncio.ensure_future(ping_address(
                address, family, count=cfg.count, interval=cfg.packet_interval, packet_timeout=cfg.packet_timeout,
                size=cfg.size, mode=cfg.socket, deadline=deadline))
            jobs.append((len(results), label, fut))
            results.append(None)
    outcomes = await asyncio.gather(*(f for _, _, f in jobs), return_exceptions=True)
    for (i, label, _), out in zip(jobs, outcomes, strict=True):
        if isinstance(out, SocketPermission):
            results[i] = ctx.result(
                Status.UNKNOWN, t("not allowed to send ICMP ({detail})", "không được phép gửi ICMP ({detail})",
                                  detail=str(out)),
                target=label, reason=Reason.PERMISSION, hint=permission_hint())
        elif isinstance(out, (OSError, ICMPLibError)):
            err = (out.strerror if isinstance(out, OSError) else None) or str(out)
            results[i] = ctx.result(
                Status.CRIT, t("cannot send ICMP: {err}", "không gửi được ICMP: {err}", err=err),
                target=label, reason=Reason.CONNECT, samples=_lost_samples(0),
                hint=t("Check that the address family is configured on this machine (`ip addr`, `ip route`).",
                       "Kiểm tra máy này đã cấu hình họ địa chỉ đó chưa (`ip addr`, `ip route`)."))
        elif isinstance(out, BaseException):
            raise out
        else:
            results[i] = _report(cfg, ctx, label, out)
    return [r for r in results if r is not None]

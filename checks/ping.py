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
from dxagent.probe import ProbeContext, probe_budget, run_blocking

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
            hint=t("Check the name {host} and this machine's DNS servers (`dns` check).",
                   "Kiểm tra tên {host} và máy chủ DNS của máy này (kiểm tra `dns`).", host=target))
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
        hint = _silent_hint(label, m.address, m.sent, m.icmp_errors[0] if m.icmp_errors else "")
    else:
        ms = {k: v * 1000 for k, v in st.items()}
        summary = t("{addr}: {r}/{n} replies, loss {loss:.4g}%, rtt min/avg/max {min:.3f}/{avg:.3f}/{max:.3f} ms, "
                    "jitter {jit}", "{addr}: {r}/{n} phản hồi, mất gói {loss:.4g}%, độ trễ min/tb/max "
                    "{min:.3f}/{avg:.3f}/{max:.3f} ms, độ biến thiên {jit}",
                    addr=m.address, r=received, n=m.sent, loss=loss * 100, min=ms["min"], avg=ms["avg"],
                    max=ms["max"], jit=f"{ms['jitter']:.3f} ms" if "jitter" in ms else "n/a")
        hint = None if status == Status.OK else _limit_hint(cfg.thresholds, status, crossed, label, m.address,
                                                            loss, st)
    return ctx.result(status, summary, target=label, reason=reason, hint=hint, samples=samples, details=details)


_VI_MEASURE = {"loss": "mất gói", "rtt": "độ trễ", "jitter": "độ biến thiên"}


def _silent_hint(label: str, addr: str, sent: int, icmp_error: str) -> Text:
    """No reply at all: where to look depends on what was pinged and what the routers said."""
    if icmp_error:
        return t("A router answered for {addr}: \"{err}\": the route ends before the host; check `ip route get "
                 "{addr}` here and the routing on the way.",
                 "Một bộ định tuyến trả lời thay {addr}: \"{err}\": tuyến đường dừng trước máy đích; kiểm tra "
                 "`ip route get {addr}` trên máy này và định tuyến dọc đường.", addr=addr, err=icmp_error)
    if label.startswith("gateway:"):
        return t("The gateway {addr} did not answer {n} requests: check this machine's cable and link light, the "
                 "switch port, then the router itself.",
                 "Gateway {addr} không trả lời {n} gói: kiểm tra cáp và đèn tín hiệu của máy này, cổng switch, rồi "
                 "đến bộ định tuyến.", addr=addr, n=sent)
    if label.startswith("dns:"):
        return t("The DNS server {addr} did not answer {n} pings: check that it is up and reachable (a `dns` check "
                 "tells whether it still resolves: some servers drop ICMP).",
                 "Máy chủ DNS {addr} không trả lời {n} gói ping: kiểm tra máy chủ còn chạy và tới được (kiểm tra "
                 "`dns` cho biết nó còn phân giải không: có máy chủ chặn ICMP).", addr=addr, n=sent)
    return t("{addr} did not answer {n} requests: the host is down or unreachable, or a firewall drops ICMP; check "
             "the link, the route (`ip route get {addr}`) and the host's firewall, and a `tcp` check to one of its "
             "services.",
             "{addr} không trả lời {n} gói: máy đích tắt hoặc không tới được, hoặc tường lửa chặn ICMP; kiểm tra "
             "đường truyền, định tuyến (`ip route get {addr}`), tường lửa của máy đích, và dùng kiểm tra `tcp` tới "
             "một dịch vụ của nó.", addr=addr, n=sent)


def _limit_hint(th: Thresholds, status: Status, crossed: list[str], label: str, addr: str, loss: float,
                st: dict[str, float]) -> Text:
    """The values above their limits, and where to look next."""
    values = {"loss": (loss * 100, th.loss, 100, "%"), "rtt": (st.get("avg"), th.rtt, 1000, " ms"),
              "jitter": (st.get("jitter"), th.jitter, 1000, " ms")}
    parts_en, parts_vi = [], []
    for name in crossed:
        value, limits, scale, unit = values[name]
        limit = limits.crit if status == Status.CRIT else limits.warn
        if value is None or limit is None:
            continue
        shown = f"{value:.4g}{unit}" if name == "loss" else f"{value * scale:.1f}{unit}"
        parts_en.append(f"{name} {shown} (limit {limit * scale:g}{unit})")
        parts_vi.append(f"{_VI_MEASURE[name]} {shown} (ngưỡng {limit * scale:g}{unit})")
    en, vi = ", ".join(parts_en) or "/".join(crossed), ", ".join(parts_vi) or "/".join(crossed)
    if label.startswith("gateway:"):
        return t("To the gateway {addr}: {en}: the LAN itself is at fault; check the cable, the switch port "
                 "(errors, duplex: `interfaces` check) and the switch load.",
                 "Tới gateway {addr}: {vi}: lỗi nằm trong mạng LAN; kiểm tra cáp, cổng switch (lỗi, duplex: kiểm "
                 "tra `interfaces`) và tải của switch.", addr=addr, en=en, vi=vi)
    return t("To {addr}: {en}: the link is congested or faulty; compare with the `gateway` figures to tell the LAN "
             "from the uplink.",
             "Tới {addr}: {vi}: đường truyền bị nghẽn hoặc lỗi; so sánh với số liệu tới `gateway` để phân biệt lỗi "
             "mạng LAN hay đường lên.", addr=addr, en=en, vi=vi)


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
                hint=t("This machine cannot send to {target} ({err}): check that it has an address and a route of "
                       "that family (`ip addr`, `ip route get {target}`).",
                       "Máy này không gửi được tới {target} ({err}): kiểm tra máy có địa chỉ và tuyến đường cho họ địa "
                       "chỉ đó (`ip addr`, `ip route get {target}`).", target=label.partition(":")[2] or label
                       if label.startswith(("gateway:", "dns:")) else label, err=err))
        elif isinstance(out, BaseException):
            raise out
        else:
            results[i] = _report(cfg, ctx, label, out)
    return [r for r in results if r is not None]

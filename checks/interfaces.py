"""`interfaces`: the machine's network interfaces: up/down, speed, MTU, addresses, traffic and errors.

A LAN fault (unplugged uplink, a port negotiated at 10 Mbps, a failing cable piling up CRC
errors) shows here first (readiness LAN-01). Rates come from the kernel's counters between two
runs of the check kept in `ctx.state`; the first run reports totals only. A counter that went
backwards (driver reload, interface re-created) is a reset: that run gives no rate for it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
import time
from typing import Any, Literal

from pydantic import Field

from dxagent.config.check import CheckConfig
from dxagent.config.types import Model
from dxagent.limits import RatioLimit, defaults, worst
from dxagent.model import Reason, Result, Sample, Status, t
from dxagent.probe import ProbeContext, run_blocking

__all__ = ["Config", "Thresholds", "probe", "judge", "rates", "select", "EXAMPLE", "METRICS", "COUNTERS"]

METRICS: dict[str, str] = {
    "interface_up": "1 if the interface is operationally up (link detected, IFF_RUNNING), else 0.",
    "interface_speed_bytes_per_second": "Negotiated link speed in bytes per second (Mbps × 125000); absent when the driver does not report one.",
    "interface_mtu_bytes": "Maximum transmission unit.",
    "interface_receive_bytes_total": "Bytes received since the interface appeared.",
    "interface_transmit_bytes_total": "Bytes transmitted since the interface appeared.",
    "interface_receive_packets_total": "Packets received since the interface appeared.",
    "interface_transmit_packets_total": "Packets transmitted since the interface appeared.",
    "interface_errors_total": "Packets with errors since the interface appeared; label direction is receive or transmit.",
    "interface_drops_total": "Packets dropped since the interface appeared; label direction is receive or transmit.",
    "interface_receive_bytes_per_second": "Bytes received per second between the last two runs.",
    "interface_transmit_bytes_per_second": "Bytes transmitted per second between the last two runs.",
    "interface_receive_packets_per_second": "Packets received per second between the last two runs.",
    "interface_transmit_packets_per_second": "Packets transmitted per second between the last two runs.",
    "interface_errors_per_second": "Errored packets per second between the last two runs; label direction.",
    "interface_drops_per_second": "Dropped packets per second between the last two runs; label direction.",
    "interface_error_ratio": "errors / (packets + errors) between the last two runs; label direction.",
    "interface_drop_ratio": "drops / (packets + drops) between the last two runs; label direction.",
}

EXAMPLE = """\
# The LAN uplink must be up at 1 Gbps or more, with few errors; other ports are reported only
- id: lan
  kind: interfaces
  include: ["eth*", "en*"]          # names or shell patterns (default: every non-loopback interface)
  expected_up: [eth0]               # down or missing = critical
  min_speed_mbps: 1000              # warn when the link negotiated less
  thresholds:
    errors: {warn: 0.1%, crit: 1%}  # errored share of the packets since the last run
    drops: {warn: 1%}
"""

# psutil's snetio fields → (sample name, labels); totals are named "<name>_total", rates "<name>_per_second"
COUNTERS: dict[str, tuple[str, dict[str, str]]] = {
    "bytes_recv": ("interface_receive_bytes", {}),
    "bytes_sent": ("interface_transmit_bytes", {}),
    "packets_recv": ("interface_receive_packets", {}),
    "packets_sent": ("interface_transmit_packets", {}),
    "errin": ("interface_errors", {"direction": "receive"}),
    "errout": ("interface_errors", {"direction": "transmit"}),
    "dropin": ("interface_drops", {"direction": "receive"}),
    "dropout": ("interface_drops", {"direction": "transmit"}),
}


class Thresholds(Model):
    """Error and drop shares between two runs (worse direction counts)."""

    errors: RatioLimit = defaults(RatioLimit(warn=0.001, crit=0.01),
                                  "errors / (packets + errors); default warn 0.1%, crit 1%.")
    drops: RatioLimit = defaults(RatioLimit(warn=0.01), "drops / (packets + drops); default warn 1%.")


class Config(CheckConfig):
    """Report each selected interface; judge `expected_up` ones, link speed and error/drop shares."""

    kind: Literal["interfaces"] = "interfaces"
    include: tuple[str, ...] = Field((), description="Interface names or shell patterns to report (default: all but loopback).")
    exclude: tuple[str, ...] = Field(("docker*", "veth*", "br-*", "virbr*"), description=(
        "Names or patterns left out when `include` is empty (container and VM plumbing by default)."))
    only_up: bool = Field(False, description="Report only interfaces that are operationally up (expected_up ones always).")
    expected_up: tuple[str, ...] = Field((), description="Names or patterns that must exist and be up, else critical.")
    min_speed_mbps: int | None = Field(None, gt=0, description="Warn when a reported link speed is below this (Mbps).")
    thresholds: Thresholds = Field(default_factory=Thresholds, description="Error and drop share limits.")

    def target_label(self) -> str:
        return ",".join(self.include) or "*"


def _match(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def select(cfg: Config, stats: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(names to report, expected patterns/names that match no interface) — pure."""
    chosen = []
    for name in sorted(stats):
        expected = _match(name, cfg.expected_up)
        loopback = "loopback" in stats[name].get("flags", "").split(",")
        # an explicit `include` list wins; otherwise everything but loopback and `exclude`
        wanted = _match(name, cfg.include) if cfg.include else not loopback and not _match(name, cfg.exclude)
        if expected or (wanted and (stats[name]["up"] or not cfg.only_up)):
            chosen.append(name)
    missing = [p for p in cfg.expected_up if not any(fnmatch.fnmatchcase(n, p) for n in stats)]
    return chosen, missing


def rates(prev: dict[str, int], cur: dict[str, int], dt: float) -> dict[str, float]:
    """Per-second rates of each counter between two readings (pure).

    A counter lower than before was reset (the interface was re-created or its driver reloaded):
    it gets no rate this time rather than a negative or a wrapped one.
    """
    if dt <= 0:
        return {}
    return {k: (cur[k] - prev[k]) / dt for k in cur if k in prev and cur[k] >= prev[k]}


def _share(bad: float | None, good: float | None) -> float | None:
    if bad is None or good is None or bad + good <= 0:
        return None
    return bad / (bad + good)


def shares(r: dict[str, float]) -> dict[str, float]:
    """Error and drop shares per direction from rates: bad / (packets + bad) — pure."""
    out = {}
    for kind, field_in, field_out in (("error", "errin", "errout"), ("drop", "dropin", "dropout")):
        for direction, bad, good in (("receive", field_in, "packets_recv"), ("transmit", field_out, "packets_sent")):
            value = _share(r.get(bad), r.get(good))
            if value is not None:
                out[f"{kind}:{direction}"] = value
    return out


def judge(cfg: Config, name: str, up: bool, speed_mbps: int,
          ratio: dict[str, float]) -> tuple[Status, Reason | None, list[str]]:
    """Status of one interface (pure): expected-down is CRIT/down, then error/drop shares, then speed."""
    if _match(name, cfg.expected_up) and not up:
        return Status.CRIT, Reason.DOWN, ["down"]
    status, crossed = worst(
        (f"{kind}s", max((v for k, v in ratio.items() if k.startswith(kind + ":")), default=None), limit)
        for kind, limit in (("error", cfg.thresholds.errors), ("drop", cfg.thresholds.drops)))
    if crossed:
        return status, Reason.THRESHOLD, crossed
    if up and cfg.min_speed_mbps and 0 < speed_mbps < cfg.min_speed_mbps:
        return Status.WARN, Reason.THRESHOLD, ["speed"]
    return Status.OK, None, []


_WORDS = {"error:receive": ("receive errors", "lỗi nhận"), "error:transmit": ("transmit errors", "lỗi gửi"),
          "drop:receive": ("receive drops", "gói nhận bị bỏ"), "drop:transmit": ("transmit drops", "gói gửi bị bỏ")}


def _prefixlen(netmask: str | None) -> int | None:
    """`255.255.255.0` or `ffff:ffff:ffff:ffff::` → 24 or 64; None when absent or not a netmask."""
    try:
        bits = int(ipaddress.ip_address(netmask)) if netmask else None
    except ValueError:
        return None
    if bits is None:
        return None
    width = 32 if "." in str(netmask) else 128
    plen = bin(bits).count("1")
    return plen if bits == ((1 << plen) - 1) << (width - plen) else None


def _read() -> tuple[float, dict[str, dict[str, Any]]]:
    """One consistent reading of psutil's interface tables (blocking: runs on a thread)."""
    import psutil

    now = time.monotonic()
    counters = psutil.net_io_counters(pernic=True, nowrap=False)
    stats = psutil.net_if_stats()
    addrs = psutil.net_if_addrs()
    out: dict[str, dict[str, Any]] = {}
    for name, st in stats.items():
        io = counters.get(name)
        addresses, mac = [], None
        for a in addrs.get(name, []):
            if a.family in (socket.AF_INET, socket.AF_INET6):
                plen = _prefixlen(a.netmask)
                addresses.append(f"{a.address}/{plen}" if plen is not None else a.address)
            elif a.family == getattr(psutil, "AF_LINK", -1):
                mac = a.address
        out[name] = {"up": bool(st.isup), "flags": st.flags, "speed": int(st.speed or 0), "mtu": int(st.mtu),
                     "duplex": st.duplex.name.replace("NIC_DUPLEX_", "").lower(), "addresses": addresses,
                     "mac": mac, "counters": io._asdict() if io else {}}
    return now, out


def _result(cfg: Config, ctx: ProbeContext, name: str, info: dict[str, Any],
            r: dict[str, float], dt: float | None) -> Result:
    up, speed = info["up"], info["speed"]
    samples = [Sample.of("interface_up", up), Sample.of("interface_mtu_bytes", info["mtu"])]
    if speed > 0:
        samples.append(Sample.of("interface_speed_bytes_per_second", speed * 1_000_000 / 8))
    for field, (base, labels) in COUNTERS.items():
        if field in info["counters"]:
            samples.append(Sample.of(f"{base}_total", info["counters"][field], **labels))
        if field in r:
            samples.append(Sample.of(f"{base}_per_second", r[field], **labels))
    ratio = shares(r)
    for key, value in sorted(ratio.items()):
        kind, direction = key.split(":")
        samples.append(Sample.of(f"interface_{kind}_ratio", value, direction=direction))
    status, reason, crossed = judge(cfg, name, up, speed, ratio)
    details = {k: info[k] for k in ("flags", "duplex", "addresses", "mac", "mtu")}
    details.update(up=up, speed_mbps=speed or None, admin_up="up" in info["flags"].split(","),
                   interval_seconds=dt, counter_resets=sorted(set(info["counters"]) - set(r)) if dt else [])
    speed_txt = f", {speed} Mbps, duplex {info['duplex']}" if speed > 0 else ""
    rate_txt = (f", rx {r['bytes_recv'] * 8 / 1e6:.3g} Mbit/s, tx {r['bytes_sent'] * 8 / 1e6:.3g} Mbit/s"
                if "bytes_recv" in r and "bytes_sent" in r else "")
    bad = [(k, v) for k, v in sorted(ratio.items()) if v > 0]
    summary = t("{name} {state}{speed}, MTU {mtu}{rate}{err}", "{name} {state_vi}{speed}, MTU {mtu}{rate}{err_vi}",
                name=name, state="up" if up else "down", state_vi="đang hoạt động" if up else "không hoạt động",
                speed=speed_txt, mtu=info["mtu"], rate=rate_txt,
                err="".join(f", {_WORDS[k][0]} {v:.3%}" for k, v in bad),
                err_vi="".join(f", {_WORDS[k][1]} {v:.3%}" for k, v in bad))
    hint = _hint(cfg, name, info, status, reason, crossed, ratio)
    return ctx.result(status, summary, target=name, reason=reason, hint=hint, samples=samples, details=details)


def _hint(cfg: Config, name: str, info: dict[str, Any], status: Status, reason: Reason | None, crossed: list[str],
          ratio: dict[str, float]) -> object:  # a Text, or None when all is well
    """What to do about one interface, with its name, the values and the limits crossed."""
    if reason == Reason.DOWN:
        admin_down = "up" not in info["flags"].split(",")
        if admin_down:
            return t("{name} is switched off on this machine: `ip link set {name} up` (and find what disabled it).",
                     "{name} đang bị tắt trên máy này: chạy `ip link set {name} up` (và tìm nguyên nhân bị tắt).",
                     name=name)
        return t("{name} has no link: check its cable, the switch port and the link lights at both ends.",
                 "{name} không có tín hiệu: kiểm tra cáp, cổng switch và đèn tín hiệu ở hai đầu.", name=name)
    if "speed" in crossed:
        return t("{name} negotiated {speed} Mbps, below `min_speed_mbps` {min}: replace the cable (4 pairs, Cat5e or "
                 "better) or check the switch port's speed setting.",
                 "{name} chỉ đạt {speed} Mbps, dưới `min_speed_mbps` {min}: thay cáp (đủ 4 cặp, Cat5e trở lên) hoặc "
                 "kiểm tra cấu hình tốc độ cổng switch.", name=name, speed=info["speed"], min=cfg.min_speed_mbps)
    if crossed:
        limits = {"error": cfg.thresholds.errors, "drop": cfg.thresholds.drops}
        en, vi = [], []
        for key, value in sorted(ratio.items()):
            kind = key.split(":")[0]
            if f"{kind}s" not in crossed:
                continue
            limit = limits[kind].crit if status == Status.CRIT else limits[kind].warn
            if limit is None or value <= limit:
                continue
            en.append(f"{_WORDS[key][0]} {value:.3%} (limit {limit:.3%})")
            vi.append(f"{_WORDS[key][1]} {value:.3%} (ngưỡng {limit:.3%})")
        errors = "errors" in crossed
        return t("{name}: {what}: {action}", "{name}: {what_vi}: {action_vi}", name=name,
                 what=", ".join(en) or "/".join(crossed), what_vi=", ".join(vi) or "/".join(crossed),
                 action="a bad cable or connector, or a duplex mismatch; replace the cable and compare the switch "
                        "port's error counters and duplex with this side's (" + str(info["duplex"]) + ")" if errors else
                        "the port or this machine cannot keep up; check the traffic peaks and the switch port's load",
                 action_vi="cáp hoặc đầu nối hỏng, hoặc lệch chế độ duplex; thay cáp và so bộ đếm lỗi, chế độ duplex "
                           "trên cổng switch với phía máy này (" + str(info["duplex"]) + ")" if errors else
                           "cổng hoặc máy này không xử lý kịp; kiểm tra lưu lượng đỉnh và tải của cổng switch")
    return None


async def probe(cfg: Config, ctx: ProbeContext) -> list[Result]:
    now, info = await run_blocking(_read)
    names, missing = select(cfg, info)
    previous: dict[str, tuple[float, dict[str, int]]] = ctx.state.get("counters", {})
    ctx.state["counters"] = {n: (now, i["counters"]) for n, i in info.items() if i["counters"]}
    results = []
    for name in names:
        prev = previous.get(name)
        dt = now - prev[0] if prev else None
        r = rates(prev[1], info[name]["counters"], dt) if prev and dt else {}
        results.append(_result(cfg, ctx, name, info[name], r, dt))
    for pattern in missing:
        results.append(ctx.result(
            Status.CRIT, t("expected interface {name} not found", "không tìm thấy giao diện mạng {name}", name=pattern),
            target=pattern, reason=Reason.DOWN, samples=[Sample.of("interface_up", 0)],
            hint=t("No interface named {name} here: the network card or its driver is missing, or the interface was "
                   "renamed; compare `expected_up` with `ip link`.",
                   "Không có giao diện {name} trên máy này: thiếu card mạng hoặc trình điều khiển, hoặc giao diện đã "
                   "đổi tên; đối chiếu `expected_up` với `ip link`.", name=pattern)))
    if not results:
        results.append(ctx.result(
            Status.UNKNOWN, t("no interface matches the selection", "không có giao diện mạng nào khớp lựa chọn"),
            target=cfg.target_label(), reason=Reason.CONFIG,
            hint=t("No interface matches {selection}: compare `include`, `exclude` and `only_up` with `ip link`.",
                   "Không có giao diện nào khớp {selection}: đối chiếu `include`, `exclude` và `only_up` với `ip link`.",
                   selection=cfg.target_label())))
    return results

"""`system`: the agent host's own health (CPU, load, memory, swap, filesystems, uptime).

A full disk or exhausted memory on the site machine silently stops everything else (history,
reports, the agent itself), so the default config always includes this check.
"""

from __future__ import annotations

import os
import time
from typing import Any, Literal

import psutil
from pydantic import Field

from dxagent.config.check import CheckConfig
from dxagent.config.types import Model
from dxagent.limits import NumberLimit, RatioLimit, defaults
from dxagent.model import Reason, Result, Sample, Status, Text, t
from dxagent.probe import ProbeContext, run_blocking

__all__ = ["EXAMPLE", "METRICS", "Config", "collect", "judge", "probe"]

METRICS: dict[str, str] = {
    "system_cpu_usage_ratio": "Share of CPU time spent busy across all cores over the sampling window (0-1).",
    "system_load_per_core": "1-minute load average divided by the number of logical cores.",
    "system_load1": "1-minute load average.",
    "system_cpu_cores": "Number of logical CPU cores.",
    "system_memory_total_bytes": "Physical memory.",
    "system_memory_available_bytes": "Memory available to new programs without swapping.",
    "system_memory_used_ratio": "1 - available/total.",
    "system_swap_used_ratio": "Share of swap space in use (0 when there is no swap).",
    "system_filesystem_size_bytes": "Size of a mounted filesystem.",
    "system_filesystem_free_bytes": "Free space available to unprivileged users on a filesystem.",
    "system_filesystem_used_ratio": "Share of a filesystem in use, as df computes it.",
    "system_uptime_seconds": "Seconds since the host booted.",
    "system_boot_time_timestamp_seconds": "When the host booted (Unix time).",
}

EXAMPLE = """\
# Health of the machine the agent runs on.
- id: system
  kind: system
  interval: 1m
  thresholds:
    memory_used: {warn: 90%, crit: 97%}       # ratio (0.9) or percentage
    filesystem_used: {warn: 85%, crit: 95%}   # every real filesystem
  ignore_mounts: ["/snap/*"]                  # glob patterns of mount points to skip
"""

_PSEUDO_FS = {"squashfs", "tmpfs", "devtmpfs", "overlay", "iso9660", "proc", "sysfs", "cgroup", "cgroup2"}


class Thresholds(Model):
    """Limits for the host's resources."""

    cpu_usage: RatioLimit = defaults(RatioLimit(warn=0.95), "CPU busy ratio (0-1 or %).")
    load_per_core: NumberLimit = defaults(NumberLimit(warn=2.0, crit=4.0), "1-minute load per core.")
    memory_used: RatioLimit = defaults(RatioLimit(warn=0.90, crit=0.97), "Memory used ratio (0-1 or %).")
    swap_used: RatioLimit = defaults(RatioLimit(warn=0.80), "Swap used ratio (0-1 or %).")
    filesystem_used: RatioLimit = defaults(RatioLimit(warn=0.85, crit=0.95), "Filesystem used ratio (0-1 or %).")


class Config(CheckConfig):
    """Local CPU, load, memory, swap, filesystems and uptime against thresholds."""

    kind: Literal["system"] = "system"
    cpu_sample: float = Field(0.5, ge=0.05, le=5, description="Seconds over which CPU usage is measured.")
    ignore_mounts: tuple[str, ...] = Field((), description="Glob patterns of mount points to skip.")
    thresholds: Thresholds = Field(default_factory=Thresholds, description="Resource limits.")

    def target_label(self) -> str:
        return "localhost"


def collect(cfg: Config) -> dict[str, Any]:
    """Measure the host (blocking: sleeps `cpu_sample` seconds for the CPU figure)."""
    import fnmatch

    cpu = psutil.cpu_percent(interval=cfg.cpu_sample) / 100.0
    cores = psutil.cpu_count() or 1
    try:
        load1 = os.getloadavg()[0]
    except (OSError, AttributeError):  # Windows before psutil's emulation warms up
        load1 = psutil.getloadavg()[0]
    mem = psutil.virtual_memory()
    swap = psutil.swap_memory()
    filesystems = []
    seen: set[str] = set()
    for part in psutil.disk_partitions(all=False):
        if part.fstype in _PSEUDO_FS or part.mountpoint in seen:
            continue
        if any(fnmatch.fnmatch(part.mountpoint, pat) for pat in cfg.ignore_mounts):
            continue
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:
            continue
        seen.add(part.mountpoint)
        used_ratio = usage.used / (usage.used + usage.free) if usage.used + usage.free else 0.0
        filesystems.append({"mount": part.mountpoint, "device": part.device, "fstype": part.fstype,
                            "size": usage.total, "free": usage.free, "used_ratio": used_ratio})
    boot = psutil.boot_time()
    return {
        "cpu": cpu, "cores": cores, "load1": load1,
        "mem_total": mem.total, "mem_available": mem.available,
        "mem_used_ratio": 1 - mem.available / mem.total if mem.total else 0.0,
        "swap_used_ratio": swap.percent / 100.0 if swap.total else 0.0,
        "swap_total": swap.total,
        "filesystems": filesystems, "boot": boot, "uptime": max(0.0, time.time() - boot),
    }


def judge(cfg: Config, m: dict[str, Any]) -> tuple[Status, list[Text]]:
    """Status and the problems found, worst first (pure)."""
    th = cfg.thresholds
    problems: list[tuple[Status, Text]] = []
    checks = [
        (m["cpu"], th.cpu_usage, t("CPU busy {v:.0%}", "CPU bận {v:.0%}", v=m["cpu"])),
        (m["load1"] / m["cores"], th.load_per_core,
         t("load {v:.1f} per core", "tải {v:.1f} mỗi lõi", v=m["load1"] / m["cores"])),
        (m["mem_used_ratio"], th.memory_used, t("memory {v:.0%} used", "bộ nhớ dùng {v:.0%}", v=m["mem_used_ratio"])),
        (m["swap_used_ratio"], th.swap_used, t("swap {v:.0%} used", "swap dùng {v:.0%}", v=m["swap_used_ratio"])),
    ]
    for fs in m["filesystems"]:
        checks.append((fs["used_ratio"], th.filesystem_used,
                       t("disk {mount} {v:.0%} full", "ổ đĩa {mount} đầy {v:.0%}", mount=fs["mount"], v=fs["used_ratio"])))
    for value, limit, text in checks:
        level = limit.level(value)
        if level != Status.OK:
            problems.append((level, text))
    problems.sort(key=lambda p: -p[0])
    status = problems[0][0] if problems else Status.OK
    return status, [p[1] for p in problems]


def advice(cfg: Config, m: dict[str, Any]) -> Text | None:
    """One action per measure above a limit, with its value and the limit crossed (pure)."""
    th = cfg.thresholds
    en: list[str] = []
    vi: list[str] = []

    def limit_of(value: float, limits: Any) -> float | None:
        level = limits.level(value)
        return limits.crit if level == Status.CRIT else limits.warn if level == Status.WARN else None

    for fs in sorted(m["filesystems"], key=lambda f: -f["used_ratio"]):
        lim = limit_of(fs["used_ratio"], th.filesystem_used)
        if lim is not None:
            en.append(f"free space on {fs['mount']} ({fs['used_ratio']:.0%} full, limit {lim:.0%}): old logs "
                      "(`journalctl --vacuum-size=200M`), downloads, old backups, or extend the disk")
            vi.append(f"giải phóng dung lượng {fs['mount']} (đầy {fs['used_ratio']:.0%}, ngưỡng {lim:.0%}): nhật ký cũ "
                      "(`journalctl --vacuum-size=200M`), tệp tải về, bản sao lưu cũ, hoặc mở rộng ổ đĩa")
    for key, limits in (("mem_used_ratio", th.memory_used), ("swap_used_ratio", th.swap_used)):
        lim = limit_of(m[key], limits)
        if lim is not None:
            what_en, what_vi = ("memory", "bộ nhớ") if key == "mem_used_ratio" else ("swap", "swap")
            en.append(f"{what_en} {m[key]:.0%} used (limit {lim:.0%}): close the programs using most memory "
                      "(`ps aux --sort=-rss | head`) or add RAM")
            vi.append(f"{what_vi} dùng {m[key]:.0%} (ngưỡng {lim:.0%}): đóng các chương trình dùng nhiều bộ nhớ nhất "
                      "(`ps aux --sort=-rss | head`) hoặc nâng RAM")
    cpu_lim = limit_of(m["cpu"], th.cpu_usage)
    load = m["load1"] / m["cores"]
    load_lim = limit_of(load, th.load_per_core)
    if cpu_lim is not None or load_lim is not None:
        figures_en = ", ".join(x for x in (
            f"CPU {m['cpu']:.0%} (limit {cpu_lim:.0%})" if cpu_lim is not None else "",
            f"load {load:.1f} per core (limit {load_lim:g})" if load_lim is not None else "") if x)
        figures_vi = ", ".join(x for x in (
            f"CPU {m['cpu']:.0%} (ngưỡng {cpu_lim:.0%})" if cpu_lim is not None else "",
            f"tải {load:.1f} mỗi lõi (ngưỡng {load_lim:g})" if load_lim is not None else "") if x)
        en.append(f"{figures_en}: find the busy process with `top` (a stuck program, an update or a virus scan)")
        vi.append(f"{figures_vi}: tìm tiến trình chiếm tài nguyên bằng `top` (chương trình bị treo, cập nhật hoặc "
                  "quét virus)")
    if not en:
        return None
    text_en, text_vi = "; ".join(en), "; ".join(vi)
    return Text(text_en[:1].upper() + text_en[1:] + ".", text_vi[:1].upper() + text_vi[1:] + ".")


async def probe(cfg: Config, ctx: ProbeContext) -> Result:
    m = await run_blocking(collect, cfg)
    status, problems = judge(cfg, m)
    samples = [
        Sample.of("system_cpu_usage_ratio", m["cpu"]),
        Sample.of("system_cpu_cores", m["cores"]),
        Sample.of("system_load1", m["load1"]),
        Sample.of("system_load_per_core", m["load1"] / m["cores"]),
        Sample.of("system_memory_total_bytes", m["mem_total"]),
        Sample.of("system_memory_available_bytes", m["mem_available"]),
        Sample.of("system_memory_used_ratio", m["mem_used_ratio"]),
        Sample.of("system_swap_used_ratio", m["swap_used_ratio"]),
        Sample.of("system_uptime_seconds", m["uptime"]),
        Sample.of("system_boot_time_timestamp_seconds", m["boot"]),
    ]
    for fs in m["filesystems"]:
        samples += [
            Sample.of("system_filesystem_size_bytes", fs["size"], mount=fs["mount"]),
            Sample.of("system_filesystem_free_bytes", fs["free"], mount=fs["mount"]),
            Sample.of("system_filesystem_used_ratio", fs["used_ratio"], mount=fs["mount"]),
        ]
    fullest = max(m["filesystems"], key=lambda f: f["used_ratio"], default=None)
    overview = t("CPU {cpu:.0%}, load {load:.1f}/core, memory {mem:.0%}", "CPU {cpu:.0%}, tải {load:.1f}/lõi, bộ nhớ {mem:.0%}",
                 cpu=m["cpu"], load=m["load1"] / m["cores"], mem=m["mem_used_ratio"])
    if fullest:
        overview = t("{en}, fullest disk {mount} {v:.0%}", "{vi}, ổ đầy nhất {mount} {v:.0%}",
                     en=overview.en, vi=overview.vi, mount=fullest["mount"], v=fullest["used_ratio"])
    summary = t("{a}; {b}", "{c}; {d}", a="; ".join(p.en for p in problems), b=overview.en,
                c="; ".join(p.vi for p in problems), d=overview.vi) if problems else overview
    hint = advice(cfg, m) if problems else None
    details = {
        "cores": m["cores"], "memory_total_bytes": m["mem_total"], "swap_total_bytes": m["swap_total"],
        "uptime_seconds": round(m["uptime"]),
        "filesystems": [{"mount": f["mount"], "fstype": f["fstype"], "size_bytes": f["size"],
                         "used_ratio": round(f["used_ratio"], 4)} for f in m["filesystems"]],
    }
    return ctx.result(status, summary, target="localhost", hint=hint,
                      reason=Reason.THRESHOLD if status != Status.OK else None, samples=samples, details=details)

"""`inventory`: this host's facts (OS, CPU, RAM, disks, NICs, users, machine) and baseline conformance.

Why a check: the same facts that a workstation pushes to the site agent are exported for the
agent's own host, and the baseline (minimum RAM, free disk, supported OS) is judged by one pure
function, `conformance()`, which `discovery` also applies to every self-reported workstation.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field

from dxagent import hostfacts
from dxagent.config.check import CheckConfig
from dxagent.config.types import ByteSize, Duration, Model
from dxagent.model import Reason, Result, Sample, Status, t, worst
from dxagent.probe import ProbeContext, run_blocking

__all__ = ["Config", "Baseline", "OsRule", "Failure", "conformance", "judge", "probe", "EXAMPLE", "METRICS"]

METRICS: dict[str, str] = {
    "inventory_memory_bytes": "Physical memory visible to the operating system.",
    "inventory_disk_size_bytes": "Size of a mounted disk (label mount).",
    "inventory_disk_free_bytes": "Free space on a mounted disk (label mount).",
    "inventory_uptime_seconds": "Time since the host booted.",
    "inventory_boot_timestamp_seconds": "When the host booted (Unix time).",
    "inventory_cpu_cores": "Logical CPU cores.",
    "inventory_os_support": "1 for the host's OS support state (label state: supported, warn, unsupported, unknown).",
    "inventory_antimalware_running": "1 if a known anti-malware product runs, 0 if none was found (absent when unknown).",
    "inventory_baseline_failures": "Number of baseline facts this host fails (RAM, free disk, OS, anti-malware).",
}

EXAMPLE = """\
# This host's inventory and its conformance to the workstation baseline
- id: inventory
  kind: inventory
  interval: 1h
  baseline:
    min_memory: 4GiB           # Windows 11 needs 4 GB
    min_free_disk: 10GiB       # on the system disk (/ or C:)
    # os_policy: first matching rule wins (Windows 10 = warn since October 2025)
    # os_policy:
    #   - {name: windows, versions: ["11"], state: supported}
    #   - {name: windows, versions: ["10"], state: warn}
"""

_SYSTEM_MOUNTS = ("/", "c:\\", "c:")


class OsRule(Model):
    """One line of the OS policy: an OS name (substring, any case), version prefixes and the verdict."""

    name: str = Field(min_length=1, description="Part of the OS name, any case: `windows`, `debian`, `ubuntu`, `macos`.")
    versions: tuple[str, ...] = Field((), description="Versions (prefix: `12` matches `12.5`); empty = any version.")
    state: Literal["supported", "warn", "unsupported"] = Field(description="Verdict for matching hosts.")


def _default_policy() -> tuple[OsRule, ...]:
    return tuple(OsRule(name=n, versions=v, state=s) for n, v, s in hostfacts.DEFAULT_OS_POLICY)  # type: ignore[arg-type]


class Baseline(Model):
    """What every workstation should meet; a fact that is not known is not judged."""

    min_memory: ByteSize | None = Field(4 * 2**30, description="Minimum RAM; the OS sees ~5 % less than installed, which is allowed.")
    min_free_disk: ByteSize | None = Field(10 * 2**30, description="Minimum free space on the system disk (`/` or `C:`).")
    min_free_disk_ratio: float | None = Field(0.05, ge=0, le=1, description="Minimum free share of the system disk.")
    require_antimalware: bool = Field(False, description="Fail hosts where no known anti-malware runs (not when unknown).")
    os_policy: tuple[OsRule, ...] = Field(default_factory=_default_policy,
                                          description="OS support rules, first match wins; unmatched OS = unknown.")

    def os_state(self, os_facts: dict[str, Any] | None) -> str:
        """supported / warn / unsupported / unknown for the OS facts under this policy."""
        if not os_facts:
            return "unknown"
        return hostfacts.os_support(os_facts, [(r.name, r.versions, r.state) for r in self.os_policy])


class Config(CheckConfig):
    """Collect this host's facts and judge them against the baseline."""

    kind: Literal["inventory"] = "inventory"
    interval: Duration = Field(3600.0, gt=0, description="How often to collect (facts change slowly).")
    timeout: Duration = Field(20.0, gt=0, description="Budget for one collection.")
    baseline: Baseline = Field(default_factory=Baseline, description="Workstation baseline.")

    def target_label(self) -> str:
        return "localhost"


class Failure(dict[str, Any]):
    """A failing fact: {"fact", "status" (WARN|CRIT), "en", "vi"} (a dict so it goes straight into details)."""


def _fail(fact: str, status: Status, en: str, vi: str) -> Failure:
    return Failure(fact=fact, status=status.name, en=en, vi=vi)


def _system_disk(disks: list[dict[str, Any]]) -> dict[str, Any] | None:
    for d in disks:
        if str(d.get("mount", "")).lower() in _SYSTEM_MOUNTS:
            return d
    return max(disks, key=lambda d: d.get("total_bytes", 0), default=None)


def conformance(facts: dict[str, Any], baseline: Baseline) -> list[Failure]:
    """The baseline facts a host fails (pure); facts it does not report are not judged."""
    out: list[Failure] = []
    total = (facts.get("memory") or {}).get("total_bytes")
    if baseline.min_memory and total is not None and total < baseline.min_memory * 0.95:
        gib, need = total / 2**30, baseline.min_memory / 2**30
        out.append(_fail("memory", Status.WARN, f"RAM {gib:.1f} GiB below the {need:.0f} GiB baseline",
                         f"RAM {gib:.1f} GiB thấp hơn mức chuẩn {need:.0f} GiB"))
    disk = _system_disk(list(facts.get("disks") or []))
    if disk is not None:
        free, size = disk.get("free_bytes", 0), disk.get("total_bytes", 0) or 1
        mount = disk.get("mount")
        if baseline.min_free_disk and free < baseline.min_free_disk:
            out.append(_fail("disk", Status.WARN,
                             f"{free / 2**30:.1f} GiB free on {mount}, baseline {baseline.min_free_disk / 2**30:.0f} GiB",
                             f"còn trống {free / 2**30:.1f} GiB trên {mount}, mức chuẩn {baseline.min_free_disk / 2**30:.0f} GiB"))
        elif baseline.min_free_disk_ratio is not None and free / size < baseline.min_free_disk_ratio:
            out.append(_fail("disk", Status.WARN, f"only {free / size:.0%} free on {mount}",
                             f"chỉ còn trống {free / size:.0%} trên {mount}"))
    state = baseline.os_state(facts.get("os"))
    pretty = (facts.get("os") or {}).get("pretty") or "?"
    if state == "unsupported":
        out.append(_fail("os", Status.CRIT, f"{pretty} is no longer supported",
                         f"{pretty} đã hết hỗ trợ"))
    elif state == "warn":
        out.append(_fail("os", Status.WARN, f"{pretty} is at the end of its support: plan the upgrade",
                         f"{pretty} đã/sắp hết hỗ trợ: cần lên kế hoạch nâng cấp"))
    av = (facts.get("antimalware") or {}).get("state")
    if baseline.require_antimalware and av == "not_found":
        out.append(_fail("antimalware", Status.WARN, "no known anti-malware product is running",
                         "không thấy phần mềm phòng chống mã độc nào đang chạy"))
    return out


def judge(failures: list[Failure]) -> tuple[Status, Reason | None]:
    """Worst failing fact, or OK (pure)."""
    if not failures:
        return Status.OK, None
    return worst(Status[f["status"]] for f in failures), Reason.THRESHOLD


def samples(facts: dict[str, Any], os_state: str, failures: int) -> list[Sample]:
    """The host-fact samples (shared with the CLI's JSON)."""
    out = [Sample.of("inventory_memory_bytes", (facts.get("memory") or {}).get("total_bytes", 0)),
           Sample.of("inventory_uptime_seconds", facts.get("uptime_seconds") or 0),
           Sample.of("inventory_boot_timestamp_seconds", facts.get("boot_time") or 0),
           Sample.of("inventory_cpu_cores", (facts.get("cpu") or {}).get("cores_logical") or 0),
           Sample.of("inventory_os_support", 1, state=os_state),
           Sample.of("inventory_baseline_failures", failures)]
    for d in facts.get("disks") or []:
        out.append(Sample.of("inventory_disk_size_bytes", d["total_bytes"], mount=d["mount"]))
        out.append(Sample.of("inventory_disk_free_bytes", d["free_bytes"], mount=d["mount"]))
    av = (facts.get("antimalware") or {}).get("state")
    if av in ("running", "not_found"):
        out.append(Sample.of("inventory_antimalware_running", av == "running"))
    return out


def advice(failures: list[Failure], facts: dict[str, Any], baseline: Baseline) -> object:  # a Text
    """One action per failing fact, with this host's values (pure)."""
    en: list[str] = []
    vi: list[str] = []
    pretty = (facts.get("os") or {}).get("pretty") or "the OS"
    disk = _system_disk(list(facts.get("disks") or [])) or {}
    for f in failures:
        if f["fact"] == "memory":
            need = (baseline.min_memory or 0) / 2**30
            en.append(f"add RAM to reach {need:.0f} GiB (or lower `baseline.min_memory`)")
            vi.append(f"nâng RAM lên {need:.0f} GiB (hoặc giảm `baseline.min_memory`)")
        elif f["fact"] == "disk":
            mount = disk.get("mount", "?")
            en.append(f"free space on {mount}: Disk Clean-up / `cleanmgr`, old downloads and user temp folders, or a "
                      "larger disk")
            vi.append(f"giải phóng dung lượng {mount}: Disk Clean-up / `cleanmgr`, tệp tải về cũ và thư mục tạm, hoặc "
                      "thay ổ lớn hơn")
        elif f["fact"] == "os" and f["status"] == Status.CRIT.name:
            en.append(f"upgrade {pretty} to a supported release: it no longer gets security updates")
            vi.append(f"nâng cấp {pretty} lên bản còn hỗ trợ: bản này không còn nhận bản vá bảo mật")
        elif f["fact"] == "os":
            en.append(f"plan the upgrade of {pretty} before its support ends")
            vi.append(f"lên kế hoạch nâng cấp {pretty} trước khi hết hỗ trợ")
        elif f["fact"] == "antimalware":
            en.append("turn on Microsoft Defender or install the anti-malware product your province uses")
            vi.append("bật Microsoft Defender hoặc cài phần mềm phòng chống mã độc mà tỉnh sử dụng")
    text_en, text_vi = "; ".join(en), "; ".join(vi)
    return t(text_en[:1].upper() + text_en[1:] + ".", text_vi[:1].upper() + text_vi[1:] + ".")


async def probe(cfg: Config, ctx: ProbeContext) -> Result:
    facts = await run_blocking(hostfacts.collect)
    facts["os_support"] = cfg.baseline.os_state(facts.get("os"))
    failures = conformance(facts, cfg.baseline)
    status, reason = judge(failures)
    mem = (facts.get("memory") or {}).get("total_bytes", 0) / 2**30
    osname = (facts.get("os") or {}).get("pretty") or "?"
    up_days = (facts.get("uptime_seconds") or 0) / 86400
    if failures:
        summary = t("{os}, {mem:.1f} GiB RAM: {n} baseline failure(s): {what}",
                    "{os}, RAM {mem:.1f} GiB: {n} điểm chưa đạt chuẩn: {what_vi}", os=osname, mem=mem,
                    n=len(failures), what="; ".join(f["en"] for f in failures), what_vi="; ".join(f["vi"] for f in failures))
        hint = advice(failures, facts, cfg.baseline)
    else:
        summary = t("{os}, {cores} cores, {mem:.1f} GiB RAM, up {days:.1f} days: meets the baseline",
                    "{os}, {cores} nhân, RAM {mem:.1f} GiB, chạy {days:.1f} ngày: đạt chuẩn", os=osname, mem=mem,
                    cores=(facts.get("cpu") or {}).get("cores_logical") or "?", days=up_days)
        hint = None
    details = {**facts, "baseline_failures": failures, "checked_at": round(time.time(), 3)}
    return ctx.result(status, summary, target=cfg.target_label(), reason=reason, hint=hint,
                      samples=samples(facts, facts["os_support"], len(failures)), details=details)

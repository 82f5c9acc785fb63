"""`discovery`: who is on the LAN, compared with the site's asset register.

One run: ICMP sweep of the configured subnets (one socket, bounded rate, one retry), the kernel
neighbour table (hosts that drop ping still answer ARP), reverse DNS, a TCP port fingerprint and
optional SNMP HOST-RESOURCES to guess each device's class, workstation self-reports from a
folder, first/last seen kept in the history store, then present / missing / unregistered and
the workstation coverage. Every phase is bounded by the check's own budget.
"""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from dxagent import register as reg
from dxagent import selfreport, sweep
from dxagent.checks.discovery import merge as merge
from dxagent.checks.inventory import Baseline
from dxagent.config.check import CheckConfig
from dxagent.config.types import ByteSize, Duration, Model, Secret
from dxagent.limits import Limits, NumberLimit, RatioLowerLimit, defaults, renamed, worst
from dxagent.model import Reason, Result, Sample, Status, t
from dxagent.probe import ProbeContext, run_blocking

__all__ = ["Config", "Thresholds", "SnmpOptions", "SelfReports", "judge", "probe", "EXAMPLE", "METRICS"]

METRICS: dict[str, str] = {
    "inventory_devices": "Registered and observed devices by state (label state: present, missing, unregistered).",
    "inventory_workstation_coverage_ratio": "Present, working workstations assigned to someone ÷ the site's staff count.",
    "inventory_register_problems": "Rows of the asset register that could not be used.",
    "discovery_devices_seen": "Devices seen in this run (ICMP, ARP, TCP or self-report).",
    "discovery_hosts_alive": "Addresses that answered the ICMP sweep.",
    "discovery_addresses_swept": "Addresses probed by the ICMP sweep.",
    "discovery_sweep_seconds": "Wall time of the ICMP sweep.",
    "discovery_self_reports": "Valid workstation self-reports read (not older than self_reports.max_age).",
    "discovery_baseline_failing_devices": "Workstations whose known facts fail the baseline.",
    "discovery_os_supported_ratio": "Share of workstations with a known OS whose OS is supported.",
    "discovery_antimalware_ratio": "Share of workstations reporting anti-malware whose anti-malware runs.",
}

EXAMPLE = """\
# Who is on the office LAN, against the asset register (see docs/inventory.md)
- id: lan-inventory
  kind: discovery
  interval: 15m
  timeout: 60s
  subnets: [192.168.1.0/24]
  register_file: /etc/dxagent/register.csv
  missing_after: 3d               # registered but unseen for longer = missing
  # snmp: {enabled: true, community: {env: DXAGENT_SNMP_COMMUNITY}}
  # self_reports: {folder: /var/lib/dxagent/reports, token: {file: /etc/dxagent/site-token}}
"""


class Thresholds(Model):
    """When the inventory warns: device counts above, workstation coverage below the limits."""

    missing: NumberLimit = defaults(NumberLimit(warn=0), "Missing registered devices (default: any one warns).")
    unregistered: NumberLimit = defaults(NumberLimit(), "Unregistered devices seen (off by default).")
    coverage: RatioLowerLimit = defaults(RatioLowerLimit(warn=1.0),
                                         "Workstation coverage, lower limits (default warn below 100%; needs `site.staff`).")
    baseline_failing: NumberLimit = defaults(NumberLimit(), "Workstations failing the baseline (off by default).")

    _renamed = renamed({"max_missing": "missing: {warn: …}", "max_unregistered": "unregistered: {warn: …}",
                        "min_coverage": "coverage: {warn: …}", "crit_coverage": "coverage: {crit: …}",
                        "max_baseline_failing": "baseline_failing: {warn: …}"})


class SnmpOptions(Model):
    """SNMP v2c HOST-RESOURCES queries to the hosts found (system, storage, processor load)."""

    enabled: bool = Field(False, description="Query hosts that answer SNMP.")
    community: Secret | None = Field(None, description="Read community: {env: NAME} or {file: PATH}.")
    port: int = Field(161, ge=1, le=65535, description="UDP port.")
    timeout: Duration = Field(1.0, gt=0, le=10, description="Per-request timeout.")

    @model_validator(mode="after")
    def _community(self) -> SnmpOptions:
        if self.enabled and self.community is None:
            raise ValueError("snmp.enabled needs a community")
        return self


class SelfReports(Model):
    """Where workstation self-reports land (the daemon's endpoint writes there too)."""

    folder: Path | None = Field(None, description="Folder of `<hostname>.json` reports.")
    token: Secret | None = Field(None, description="Per-site token the daemon's endpoint requires (constant-time check).")
    max_age: Duration = Field(7 * 86400.0, gt=0, description="Older reports are ignored.")
    max_bytes: ByteSize = Field(selfreport.MAX_BYTES, ge=1024, le=16 * 2**20, description="Largest report accepted.")


class Config(CheckConfig):
    """Sweep subnets, read neighbours and self-reports, match the asset register."""

    kind: Literal["discovery"] = "discovery"
    interval: Duration = Field(900.0, gt=0, description="How often the LAN is swept.")
    timeout: Duration = Field(60.0, gt=0, description="Budget of one run; every phase stops at it.")
    subnets: tuple[str, ...] = Field((), description="IPv4 subnets to sweep, e.g. `192.168.1.0/24`.")
    max_hosts: int = Field(1024, ge=1, le=65536, description="Refuse to sweep more addresses than this (a /22).")
    rate: float = Field(2000.0, gt=0, le=20000, description="ICMP echo requests per second at most.")
    wait: Duration = Field(0.3, gt=0, le=5, description="How long to wait for replies after each round.")
    icmp_retries: int = Field(1, ge=0, le=3, description="Extra echo requests to silent addresses.")
    rdns: bool = Field(True, description="Look up reverse DNS names.")
    dns_server: str | None = Field(None, description="Ask this DNS server (`host` or `host:port`) instead of the system resolver.")
    ports: tuple[int, ...] = Field((22, 23, 80, 135, 139, 443, 445, 515, 631, 3389, 9100),
                                   description="TCP ports tried on live hosts to guess the device class; [] = off.")
    port_timeout: Duration = Field(0.5, gt=0, le=5, description="Per-connection timeout of the port fingerprint.")
    snmp: SnmpOptions = Field(default_factory=SnmpOptions, description="Optional SNMP HOST-RESOURCES queries.")
    register_file: Path | None = Field(None, description="Asset register (CSV or YAML), see docs/inventory.md.")
    missing_after: Duration = Field(3 * 86400.0, gt=0, description="A registered device unseen this long is missing.")
    self_reports: SelfReports = Field(default_factory=SelfReports, description="Workstation self-reports.")
    baseline: Baseline = Field(default_factory=Baseline, description="Workstation baseline, as in the `inventory` kind.")
    thresholds: Thresholds = Field(default_factory=Thresholds, description="When to warn.")

    @field_validator("subnets")
    @classmethod
    def _subnets(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for s in v:
            try:
                net = ipaddress.ip_network(s, strict=False)
            except ValueError:
                raise ValueError(f"{s!r} is not a subnet such as 192.168.1.0/24") from None
            if net.version != 4:
                raise ValueError(f"{s}: only IPv4 subnets can be swept (IPv6 neighbours come from NDP)")
        return v

    @model_validator(mode="after")
    def _size(self) -> Config:
        try:
            total = len(sweep.expand(self.subnets, self.max_hosts))
        except sweep.SubnetTooLarge as exc:
            raise ValueError(f"{exc}: split the sweep or raise max_hosts") from None
        if total and self.rate and total / self.rate * (self.icmp_retries + 1) > self.timeout:
            raise ValueError("the sweep alone would take longer than timeout: raise rate or timeout")
        return self

    def target_label(self) -> str:
        return ",".join(self.subnets) or "self-reports"


def judge(cfg: Config, rec: reg.Reconciliation | None, failing: int) -> tuple[Status, Reason | None]:
    """Reconciliation and baseline failures against the thresholds (pure)."""
    th = cfg.thresholds
    measures: list[tuple[str, float | None, Limits]] = [("baseline_failing", failing, th.baseline_failing)]
    if rec is not None:
        measures += [("missing", len(rec.missing), th.missing), ("unregistered", len(rec.unregistered), th.unregistered),
                     ("coverage", rec.coverage, th.coverage)]
    status, _ = worst(measures)
    return status, (Reason.THRESHOLD if status != Status.OK else None)


async def probe(cfg: Config, ctx: ProbeContext) -> Result:
    t0 = time.monotonic()
    deadline = t0 + ctx.timeout
    now = time.time()
    notes: list[str] = []
    register: reg.Register | None = None
    if cfg.register_file is not None:
        try:
            register = await run_blocking(reg.load, cfg.register_file)
        except reg.RegisterError as exc:
            return ctx.result(Status.UNKNOWN, t("asset register unusable: {err}", "không dùng được sổ tài sản: {err}", err=str(exc)),
                              target=cfg.target_label(), reason=Reason.CONFIG,
                              hint=t("Fix `register_file` {path} (it must exist and be UTF-8 CSV or YAML); see "
                                     "docs/inventory.md.",
                                     "Sửa `register_file` {path} (tệp phải tồn tại, dạng CSV UTF-8 hoặc YAML); xem "
                                     "docs/inventory.md.", path=cfg.register_file))
    found = await merge.observe(cfg, deadline, notes, progress=ctx.services.get("progress"))
    reports: list[selfreport.FolderReport] = []
    if cfg.self_reports.folder is not None:
        reports, problems = await run_blocking(lambda: selfreport.read_folder(
            cfg.self_reports.folder, max_bytes=cfg.self_reports.max_bytes, max_age=cfg.self_reports.max_age, now=now))
        notes.extend(problems)
    devices = merge.build_devices(found, reports, cfg.baseline, now)
    seen = await merge.persist(devices, ctx, now)
    rec = None
    if register is not None:
        staff = getattr(ctx.site, "staff", None)
        rec = reg.reconcile(register.entries, seen, now=now, missing_after=cfg.missing_after, staff=staff)
    recent = devices                                  # this run's sightings (reports within max_age)
    failing = sum(1 for d in recent if d.facts.get("baseline_failures"))
    status, reason = judge(cfg, rec, failing)
    return merge.result(cfg, ctx, found, recent, rec, register, notes, status, reason, failing, time.monotonic() - t0)


def samples(found: merge.Found, recent: list[reg.Seen], rec: reg.Reconciliation | None,
            register: reg.Register | None, failing: int) -> list[Sample]:
    """Samples of one run (also used by the CLI's JSON)."""
    out = [Sample.of("discovery_devices_seen", len(recent)),
           Sample.of("discovery_self_reports", sum(1 for d in recent if "report" in d.facts.get("sources", ())))]
    if found.sweep is not None:
        out += [Sample.of("discovery_hosts_alive", len(found.sweep.alive)),
                Sample.of("discovery_addresses_swept", found.sweep.swept),
                Sample.of("discovery_sweep_seconds", found.sweep.duration)]
    workstations = [d for d in recent if d.facts.get("class") == "workstation"]
    out.append(Sample.of("discovery_baseline_failing_devices", failing))
    known_os = [d for d in workstations if d.facts.get("os_support") not in (None, "unknown")]
    if known_os:
        out.append(Sample.of("discovery_os_supported_ratio",
                             sum(d.facts["os_support"] == "supported" for d in known_os) / len(known_os)))
    known_av = [d for d in workstations if d.facts.get("antimalware") in ("running", "not_found")]
    if known_av:
        out.append(Sample.of("discovery_antimalware_ratio",
                             sum(d.facts["antimalware"] == "running" for d in known_av) / len(known_av)))
    if rec is not None and register is not None:
        out += [Sample.of("inventory_devices", len(rec.present), state="present"),
                Sample.of("inventory_devices", len(rec.missing), state="missing"),
                Sample.of("inventory_devices", len(rec.unregistered), state="unregistered"),
                Sample.of("inventory_register_problems", len(register.problems))]
        if rec.coverage is not None:
            out.append(Sample.of("inventory_workstation_coverage_ratio", rec.coverage))
    return out

"""The phases of the `discovery` kind: observe the LAN, merge sightings into devices, persist, report.

Kept apart from `checks/discovery/__init__.py` (config, judge, samples) so each stays readable. The SNMP
client (`checks/snmp/client.py`) is imported only when `snmp.enabled` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psutil

from dxagent import register as reg
from dxagent import selfreport, sweep
from dxagent.checks.inventory import Baseline, conformance
from dxagent.model import Reason, Result, Status, Text, t
from dxagent.probe import ProbeContext, run_blocking

if TYPE_CHECKING:
    from dxagent.checks.discovery import Config

__all__ = ["Found", "observe", "classify", "build_devices", "persist", "result", "snmp_hr"]

_PRINTER_PORTS = {515, 631, 9100}
_WINDOWS_PORTS = {135, 139, 445, 3389}
_NETWORK_WORDS = ("cisco", "juniper", "mikrotik", "routeros", "huawei", "zyxel", "tp-link", "aruba", "fortigate",
                  "switch", "router", "h3c", "draytek", "ubiquiti", "edgeos", "procurve")
_HR_TYPES = {2: "ram", 3: "virtual", 4: "disk", 5: "removable", 6: "floppy", 7: "cdrom", 8: "ramdisk", 9: "flash", 10: "network"}


@dataclasses.dataclass
class Found:
    """Everything one run observed on the LAN, keyed by IPv4 address."""

    sweep: sweep.SweepResult | None = None
    permission: str | None = None                             # why ICMP could not be used
    neighbours: dict[str, sweep.Neighbour] = dataclasses.field(default_factory=dict)
    alive: dict[str, list[str]] = dataclasses.field(default_factory=dict)   # ip → evidence
    local: dict[str, str | None] = dataclasses.field(default_factory=dict)   # our own ip → mac
    names: dict[str, str] = dataclasses.field(default_factory=dict)
    ports: dict[str, dict[str, list[int]]] = dataclasses.field(default_factory=dict)
    snmp: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)


def _local_addresses() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for addrs in psutil.net_if_addrs().values():
        mac = next((a.address.lower().replace("-", ":") for a in addrs if a.family == psutil.AF_LINK), None)
        for a in addrs:
            if a.family == socket.AF_INET:
                out[a.address] = mac if mac and mac != "00:00:00:00:00:00" else None
    return out


async def _bounded(coro: Any, deadline: float, phase: str, notes: list[str]) -> None:
    """Run a phase until the deadline; results gathered so far stay in the caller's dicts."""
    left = deadline - time.monotonic()
    if left <= 0.05:
        coro.close()
        notes.append(f"{phase}: skipped, the run's budget was spent")
        return
    try:
        await asyncio.wait_for(coro, left)
    except TimeoutError:
        notes.append(f"{phase}: stopped at the run's budget (partial)")


async def observe(cfg: Config, deadline: float, notes: list[str], progress: Callable[[int], None] | None = None) -> Found:
    """Sweep, read neighbours, then rDNS + ports + SNMP on live hosts, all within `deadline`.

    `progress(n)` (the CLI's progress bar, via `ctx.services["progress"]`) counts swept addresses.
    """
    found = Found()
    nets = [ipaddress.ip_network(s, strict=False) for s in cfg.subnets]
    addresses = sweep.expand(cfg.subnets, cfg.max_hosts) if nets else []
    started = time.monotonic()
    if addresses:
        try:
            found.sweep = await sweep.sweep(addresses, rate=cfg.rate, wait=cfg.wait, retries=cfg.icmp_retries,
                                            progress=progress,
                                            deadline=deadline - min(5.0, (deadline - time.monotonic()) / 2))
        except sweep.SweepPermissionError as exc:
            found.permission = str(exc)
        if found.sweep is not None:
            for ip in found.sweep.alive:
                found.alive.setdefault(ip, []).append("icmp")
            if found.sweep.truncated:
                notes.append("icmp: sweep stopped at its share of the budget; raise rate or timeout")
    waiting = await _read_neighbours(found, nets, started)
    if waiting and found.sweep is not None and deadline - time.monotonic() > _KERNEL_PROBE * 2:
        # our echo moved their STALE entries to DELAY: the kernel re-checks them by ARP after ~5 s
        await asyncio.sleep(_KERNEL_PROBE)
        await _read_neighbours(found, nets, started)
    for ip, mac in (await run_blocking(_local_addresses)).items():
        if any(ipaddress.ip_address(ip) in net for net in nets):
            found.local[ip] = mac
            found.alive.setdefault(ip, []).append("self")
    hosts = sorted(found.alive, key=ipaddress.ip_address)
    phases = []
    if cfg.rdns and hosts:
        phases.append(_bounded(sweep.reverse_names(hosts, server=cfg.dns_server, out=found.names), deadline, "rdns", notes))
    if cfg.ports and hosts:
        phases.append(_bounded(sweep.tcp_ports(hosts, cfg.ports, timeout=cfg.port_timeout, out=found.ports),
                               deadline, "ports", notes))
    if cfg.snmp.enabled and hosts:
        phases.append(_bounded(_snmp_all(hosts, cfg, found.snmp), deadline, "snmp", notes))
    await asyncio.gather(*phases)
    return found


_KERNEL_PROBE = 6.5        # delay_first_probe_time (5 s) + one ARP retransmission, Linux defaults


async def _read_neighbours(found: Found, nets: list[Any], started: float) -> int:
    """Merge the neighbour table; return how many entries in the subnets await the kernel's re-check.

    Proof of life is an ARP/NDP answer since our sweep began (its echo triggers ARP even where a
    firewall drops ping). A REACHABLE entry not confirmed since then is not proof: the host may
    have left in the last 45 s. Without a sweep (no ICMP permission), REACHABLE is all we have.
    """
    waiting = 0
    for n in await run_blocking(sweep.neighbours):
        with contextlib.suppress(ValueError):
            if not n.ip or not any(ipaddress.ip_address(n.ip) in net for net in nets):
                continue
            found.neighbours[n.ip] = n
            fresh = n.confirmed_within(time.monotonic() - started) if found.sweep is not None \
                else n.state in sweep.FRESH_STATES
            if fresh and "arp" not in found.alive.get(n.ip, []):
                found.alive.setdefault(n.ip, []).append("arp")
            elif not fresh and n.ip not in found.alive and n.state in ("DELAY", "PROBE"):
                waiting += 1
    return waiting


async def _snmp_all(hosts: list[str], cfg: Config, out: dict[str, dict[str, Any]]) -> None:
    """HOST-RESOURCES of every live host, at most 32 at a time.

    A session is one UDP socket (our own SNMP client, no engine to build), so each host gets its own.
    """
    sem = asyncio.Semaphore(32)
    community = cfg.snmp.community.reveal() if cfg.snmp.community else ""

    async def one(ip: str) -> None:
        async with sem:
            info = await snmp_hr(ip, cfg.snmp.port, community, cfg.snmp.timeout)
            if info is not None:
                out[ip] = info

    await asyncio.gather(*(one(h) for h in hosts))


async def snmp_hr(ip: str, port: int, community: str, timeout: float) -> dict[str, Any] | None:
    """sysDescr/sysName and HOST-RESOURCES (hrSystem, hrStorage, hrProcessorLoad); None if no answer."""
    from dxagent.checks.snmp.client import Credentials, Session, SnmpError

    sys_descr, sys_name = (1, 3, 6, 1, 2, 1, 1, 1, 0), (1, 3, 6, 1, 2, 1, 1, 5, 0)
    hr = (1, 3, 6, 1, 2, 1, 25)
    uptime, users, procs, memsize = (*hr, 1, 1, 0), (*hr, 1, 5, 0), (*hr, 1, 6, 0), (*hr, 2, 2, 0)
    st = (*hr, 2, 3, 1)
    cols = [(*st, 2), (*st, 3), (*st, 4), (*st, 5), (*st, 6), (*hr, 3, 3, 1, 2)]
    try:
        async with Session(ip, port, Credentials(version="v2c", community=community), timeout=timeout, retries=0) as s:
            got = await s.get([sys_descr, sys_name])
            if got.get(sys_descr) is None and got.get(sys_name) is None:
                return None
            info: dict[str, Any] = {"sys_descr": _text(got.get(sys_descr)), "sys_name": _text(got.get(sys_name))}
            scal = await s.get([uptime, users, procs, memsize])
            if all(v is None for v in scal.values()):
                return info                                    # SNMP, but no HOST-RESOURCES
            table = await s.walk_columns(cols, max_rows=2000)
    except SnmpError:
        return None
    storage = []
    for idx, descr in list(table[cols[1]].items())[:64]:
        units = table[cols[2]].get(idx) or 0
        kind = str(table[cols[0]].get(idx) or "").rsplit(".", 1)[-1]
        storage.append({"descr": _text(descr), "type": _HR_TYPES.get(int(kind) if kind.isdigit() else 0, "other"),
                        "size_bytes": (table[cols[3]].get(idx) or 0) * units,
                        "used_bytes": (table[cols[4]].get(idx) or 0) * units})
    loads = [v for v in table[cols[5]].values() if isinstance(v, int)]
    info["hr"] = {"uptime_seconds": (scal.get(uptime) or 0) / 100, "users": scal.get(users),
                  "processes": scal.get(procs), "memory_bytes": (scal.get(memsize) or 0) * 1024,
                  "storage": storage, "cpu_load": loads,
                  "cpu_load_avg": round(sum(loads) / len(loads), 1) if loads else None}
    return info


def _text(v: Any) -> str | None:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")[:256]
    return None if v is None else str(v)[:256]


def classify(open_ports: list[int], snmp: dict[str, Any] | None, reported: bool) -> str:
    """Device class from what it answered (pure): workstation, printer, network, server or unknown."""
    ports = set(open_ports)
    descr = ((snmp or {}).get("sys_descr") or "").lower()
    if reported:
        return "workstation"
    if ports & _PRINTER_PORTS:
        return "printer"
    if snmp and (any(w in descr for w in _NETWORK_WORDS) or "hr" not in snmp):
        return "network"                   # SNMP without HOST-RESOURCES: switches, routers, APs
    if ports & _WINDOWS_PORTS or "windows" in descr:
        return "workstation"
    if snmp or 22 in ports:
        return "server"                    # HOST-RESOURCES or SSH alone: a general-purpose computer
    if 23 in ports:
        return "network"
    return "unknown"


def _report_macs(rep: selfreport.SelfReport) -> list[str]:
    return [m for n in rep.facts.nics if n.mac and (m := sweep.normalise_mac(n.mac)) and m != "00:00:00:00:00:00"]


def build_devices(found: Found, reports: list[selfreport.FolderReport], baseline: Baseline, now: float) -> list[reg.Seen]:
    """One `Seen` per device: LAN sightings keyed by MAC (else IP), self-reports merged by MAC, name or IP."""
    devices: dict[str, reg.Seen] = {}
    for ip in sorted(found.alive, key=ipaddress.ip_address):
        n = found.neighbours.get(ip)
        mac = n.mac if n else found.local.get(ip)
        names = tuple(x for x in (found.names.get(ip), (found.snmp.get(ip) or {}).get("sys_name")) if x)
        ports = found.ports.get(ip, {})
        key = f"mac:{mac}" if mac else f"ip:{ip}"
        dev = devices.setdefault(key, reg.Seen(key, mac, (), (), now, now, {"sources": []}))
        dev.ips = (*dev.ips, ip)
        dev.hostnames = tuple(dict.fromkeys((*dev.hostnames, *names)))
        f = dev.facts
        f["sources"] = sorted({*f["sources"], *found.alive[ip], *(["tcp"] if ports else []),
                               *(["snmp"] if ip in found.snmp else [])})
        if found.sweep and ip in found.sweep.alive:
            f["icmp_rtt_seconds"] = round(found.sweep.alive[ip], 6)
        f.update(ip=ip, mac=mac, hostnames=list(dev.hostnames), open_ports=ports.get("open", []))
        if ip in found.snmp:
            f["snmp"] = found.snmp[ip]
    for fr in reports:
        rep = fr.report
        macs = _report_macs(rep)
        ips = [a.address for nic in rep.facts.nics for a in nic.addresses]
        name = reg.short_name(rep.facts.hostname)
        dev = next((d for d in devices.values() if d.mac and d.mac in macs), None) \
            or next((d for d in devices.values() if name in {reg.short_name(h) for h in d.hostnames}), None) \
            or next((d for d in devices.values() if set(d.ips) & set(ips)), None)
        if dev is None:
            key = f"mac:{macs[0]}" if macs else f"host:{name}"
            dev = devices.setdefault(key, reg.Seen(key, macs[0] if macs else None, (), (), fr.received, fr.received,
                                                   {"sources": []}))
            dev.facts.update(mac=dev.mac, ip=None, open_ports=[])
        dev.hostnames = tuple(dict.fromkeys((*dev.hostnames, rep.facts.hostname)))
        dev.facts.update(hostnames=list(dev.hostnames), sources=sorted({*dev.facts["sources"], "report"}),
                         report=rep.facts.model_dump(mode="json"), reported_at=round(fr.received, 3),
                         os=rep.facts.os.pretty or rep.facts.os.name, antimalware=rep.facts.antimalware.state)
    for dev in devices.values():
        f = dev.facts
        f["class"] = classify(f.get("open_ports", []), f.get("snmp"), "report" in f["sources"])
        if "report" in f:
            facts = f["report"]
            f["os_support"] = baseline.os_state(facts.get("os"))
            f["baseline_failures"] = [x["en"] for x in conformance(facts, baseline)]
        elif f["class"] == "workstation" and (f.get("snmp") or {}).get("hr"):
            hr = f["snmp"]["hr"]
            facts = {"memory": {"total_bytes": hr["memory_bytes"]},
                     "disks": [{"mount": s["descr"], "total_bytes": s["size_bytes"], "free_bytes": s["size_bytes"] - s["used_bytes"]}
                               for s in hr["storage"] if s["type"] == "disk"]}
            f["baseline_failures"] = [x["en"] for x in conformance(facts, baseline)]
    return list(devices.values())


async def persist(devices: list[reg.Seen], ctx: ProbeContext, now: float) -> list[reg.Seen]:
    """Record sightings; return every device ever seen with first/last seen (store, else process memory)."""
    history = ctx.services.get("history")
    if history is not None:
        by_ts: dict[float, list[tuple[str, dict[str, Any]]]] = {}
        for d in devices:
            by_ts.setdefault(d.last_seen, []).append((d.key, d.facts))
        for ts, items in by_ts.items():
            await run_blocking(history.touch_devices, items, ts)
        rows = await run_blocking(history.devices)
        return [_seen_from(r.key, r.first_seen, r.last_seen, dict(r.facts)) for r in rows]
    known: dict[str, dict[str, Any]] = ctx.state.setdefault("devices", {})
    for d in devices:
        old = known.get(d.key)
        first = min(old["first_seen"], d.first_seen) if old else d.first_seen
        if old is None or d.last_seen >= old["last_seen"]:
            known[d.key] = {"first_seen": first, "last_seen": d.last_seen, "facts": d.facts}
    return [_seen_from(k, v["first_seen"], v["last_seen"], v["facts"]) for k, v in known.items()]


def _seen_from(key: str, first: float, last: float, facts: dict[str, Any]) -> reg.Seen:
    mac = key[4:] if key.startswith("mac:") else facts.get("mac")
    ips = tuple(x for x in [facts.get("ip")] if x)
    return reg.Seen(key, mac, tuple(facts.get("hostnames") or ()), ips, first, last, facts)


def _brief(d: reg.Seen | None) -> dict[str, Any] | None:
    if d is None:
        return None
    f = d.facts
    return {"key": d.key, "mac": d.mac, "ip": f.get("ip"), "hostnames": list(d.hostnames), "class": f.get("class"),
            "open_ports": f.get("open_ports", []), "sources": f.get("sources", []), "os": f.get("os"),
            "os_support": f.get("os_support"), "antimalware": f.get("antimalware"),
            "baseline_failures": f.get("baseline_failures", []), "snmp": f.get("snmp"),
            "first_seen": round(d.first_seen, 3), "last_seen": round(d.last_seen, 3)}


def _who(entry: Any) -> str:
    """A register row as a technician finds it: name or address, and the room."""
    name = entry.hostname or entry.ip or entry.mac or f"line {entry.line}"
    return f"{name} ({entry.location})" if entry.location else name


def _reconcile_hint(cfg: Config, rec: reg.Reconciliation, source: str) -> Text:
    """One action per limit crossed, naming the first devices concerned and the register file."""
    th = cfg.thresholds
    en: list[str] = []
    vi: list[str] = []
    if rec.missing and th.missing.level(len(rec.missing)) != Status.OK:
        names = ", ".join(_who(e) for e, _ in rec.missing[:3]) + (" …" if len(rec.missing) > 3 else "")
        en.append(f"find the {len(rec.missing)} registered device(s) not seen ({names}): switched off, moved or broken? "
                  f"then update {source}")
        vi.append(f"tìm {len(rec.missing)} thiết bị có trong sổ nhưng không thấy ({names}): tắt, di chuyển hay hỏng? "
                  f"rồi cập nhật {source}")
    if rec.unregistered and th.unregistered.level(len(rec.unregistered)) != Status.OK:
        names = ", ".join(d.facts.get("ip") or d.mac or d.key for d in rec.unregistered[:3]) + \
            (" …" if len(rec.unregistered) > 3 else "")
        en.append(f"{len(rec.unregistered)} device(s) not in the register ({names}): add them to {source}, or find "
                  "who connected them")
        vi.append(f"{len(rec.unregistered)} thiết bị chưa có trong sổ ({names}): thêm vào {source}, hoặc tìm người đã "
                  "kết nối chúng")
    if rec.coverage is not None and th.coverage.level(rec.coverage) != Status.OK:
        en.append(f"workstation coverage {rec.coverage:.0%} ({rec.working_assigned}/{rec.staff} officials): provide a "
                  "working computer to each official, or correct `site.staff`")
        vi.append(f"tỷ lệ máy tính/cán bộ {rec.coverage:.0%} ({rec.working_assigned}/{rec.staff} cán bộ): bảo đảm mỗi "
                  "cán bộ có một máy tính hoạt động tốt, hoặc sửa `site.staff`")
    if not en:
        en.append("bring the workstations listed in details up to the baseline (RAM, disk, OS, anti-malware)")
        vi.append("nâng các máy ghi trong chi tiết lên mức chuẩn (RAM, ổ đĩa, hệ điều hành, phòng chống mã độc)")
    text_en, text_vi = "; ".join(en), "; ".join(vi)
    return Text(text_en[:1].upper() + text_en[1:] + ".", text_vi[:1].upper() + text_vi[1:] + ".")


def result(cfg: Config, ctx: ProbeContext, found: Found, recent: list[reg.Seen], rec: reg.Reconciliation | None,
           register: reg.Register | None, notes: list[str], status: Status, reason: Reason | None,
           failing: int, elapsed: float) -> Result:
    """The run's one Result: counts in the summary, the three lists in details."""
    from dxagent.checks.discovery import samples

    details: dict[str, Any] = {
        "devices": [_brief(d) for d in sorted(recent, key=lambda d: d.key)],
        "notes": notes, "elapsed_seconds": round(elapsed, 3),
        "persistence": "history store" if ctx.services.get("history") is not None else "process memory (since start)",
    }
    if found.sweep is not None:
        details["sweep"] = {"swept": found.sweep.swept, "alive": len(found.sweep.alive), "sent": found.sweep.sent,
                            "seconds": round(found.sweep.duration, 3), "mode": found.sweep.mode, "errors": found.sweep.errors}
    hint: Text | None = None
    if rec is not None and register is not None:
        details["present"] = [{**e.model_dump(), "matched_by": how, "device": _brief(d)} for e, d, how in rec.present]
        details["missing"] = [{**e.model_dump(), "last_seen": round(d.last_seen, 3) if d else None} for e, d in rec.missing]
        details["unregistered"] = [_brief(d) for d in rec.unregistered]
        details["coverage"] = {"working_assigned": rec.working_assigned, "staff": rec.staff, "ratio": rec.coverage}
        details["register_problems"] = [str(p) for p in register.problems]
        cov = "n/a" if rec.coverage is None else f"{rec.coverage:.0%}"
        summary = t("{p} present, {m} missing, {u} unregistered; workstation coverage {cov} ({w}/{s})",
                    "{p} có mặt, {m} vắng mặt, {u} chưa đăng ký; tỷ lệ máy tính/cán bộ {cov} ({w}/{s})",
                    p=len(rec.present), m=len(rec.missing), u=len(rec.unregistered), cov=cov,
                    w=rec.working_assigned, s=rec.staff if rec.staff is not None else "?")
        if status != Status.OK:
            hint = _reconcile_hint(cfg, rec, register.source)
        if register.problems:
            status, reason = max(status, Status.WARN), reason or Reason.CONFIG
            summary = t(summary.en + "; register: {n} bad row(s)", summary.vi + "; sổ tài sản: {n} dòng lỗi", n=len(register.problems))
            fix = t("Fix the rows of {file} listed in details ({first}); the other rows are used.",
                    "Sửa các dòng lỗi của {file} ghi trong chi tiết ({first}); các dòng khác vẫn được dùng.",
                    file=register.source, first=str(register.problems[0])[:120])
            hint = Text(f"{hint.en} {fix.en}", f"{hint.vi} {fix.vi}") if hint is not None else fix
    else:
        summary = t("{n} devices seen", "thấy {n} thiết bị", n=len(recent))
    if failing:
        summary = t(summary.en + "; {n} workstation(s) below the baseline", summary.vi + "; {n} máy chưa đạt chuẩn", n=failing)
    if found.permission:
        status, reason = Status.UNKNOWN, Reason.PERMISSION
        details["permission_error"] = found.permission
        summary = t("no permission for ICMP, neighbour table only: " + summary.en,
                    "không có quyền gửi ICMP, chỉ dùng bảng ARP: " + summary.vi)
        hint = t("The sweep of {subnets} could not send ICMP ({err}): run the agent with CAP_NET_RAW (systemd: "
                 "AmbientCapabilities=CAP_NET_RAW) or allow unprivileged ping: sysctl net.ipv4.ping_group_range='0 2147483647'.",
                 "Không quét được {subnets} bằng ICMP ({err}): chạy agent với CAP_NET_RAW (systemd: "
                 "AmbientCapabilities=CAP_NET_RAW) hoặc cho phép ping không đặc quyền: sysctl net.ipv4.ping_group_range='0 2147483647'.",
                 subnets=cfg.target_label(), err=str(found.permission)[:120])
    return ctx.result(status, summary, target=cfg.target_label(), reason=reason, hint=hint,
                      samples=samples(found, recent, rec, register, failing), details=details)

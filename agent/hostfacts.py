"""The local host's inventory facts: OS, CPU, memory, disks, NICs, users, machine identity.

Why psutil and platform first: they are portable, so the same code gives a Windows PC's
self-report and a Linux site agent's facts. Linux-only sources (/sys/class/dmi/id, /etc/os-release,
/proc/cpuinfo for the CPU model, which psutil does not give) are parameters so tests can point
them at fixtures, and each degrades to None when unreadable (serials need root).

Anti-malware detection is best effort from the process list: `ANTIMALWARE` below is the
documented list of process names. "running" means one of them runs; "not_found" means the list
was readable and none matched; "unknown" means the platform could not tell.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import platform
import socket
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil

__all__ = ["collect", "ANTIMALWARE", "antimalware", "os_facts", "os_support", "DEFAULT_OS_POLICY", "OsRule"]

# Product → process names (lower case; a trailing "*" matches any suffix). Sources: vendors'
# documentation of their service processes. Extend here; the docs page lists the same table.
ANTIMALWARE: dict[str, tuple[str, ...]] = {
    "Microsoft Defender": ("msmpeng.exe", "mssense.exe", "wdavdaemon"),
    "Kaspersky": ("avp.exe", "avpui.exe", "kavfs.exe", "kesl", "kesl-supervisor"),
    "BKAV": ("bkav*",),
    "ESET": ("ekrn.exe", "egui.exe", "esets_daemon", "eset_rtp", "oaeventd"),
    "ClamAV": ("clamd", "clamonacc"),
    "Trend Micro": ("pccntmon.exe", "ntrtscan.exe", "tmlisten.exe", "coreserviceshell.exe"),
    "Sophos": ("sophoshealth.exe", "savservice.exe", "sophosfilescanner.exe", "sophos-spl"),
    "Symantec / Norton": ("ccsvchst.exe", "nortonsecurity.exe", "sepmasterservice.exe"),
    "McAfee / Trellix": ("mcshield.exe", "mfemms.exe", "masvc.exe"),
    "Bitdefender": ("vsserv.exe", "bdservicehost.exe", "bdsecd"),
    "Avast / AVG": ("avastsvc.exe", "avgsvc.exe"),
}

# (os name substring, version prefixes, state): first match wins; see checks/inventory.py to override.
OsRule = tuple[str, tuple[str, ...], str]
DEFAULT_OS_POLICY: tuple[OsRule, ...] = (
    ("windows", ("11",), "supported"),
    ("windows", ("10",), "warn"),            # mainstream support ended 14 October 2025
    ("windows", (), "unsupported"),           # 7, 8, 8.1, XP
    ("debian", ("12", "13"), "supported"),
    ("debian", ("11",), "warn"),              # LTS until August 2026
    ("debian", (), "unsupported"),
    ("ubuntu", ("22.04", "24.04", "26.04"), "supported"),
    ("ubuntu", (), "unsupported"),
    ("macos", ("14", "15", "26"), "supported"),
    ("macos", (), "unsupported"),
)


def collect(*, dmi_dir: Path = Path("/sys/class/dmi/id"), os_release: Path = Path("/etc/os-release"),
            cpuinfo: Path = Path("/proc/cpuinfo"), now: float | None = None,
            process_names: Iterable[str] | None = None) -> dict[str, Any]:
    """All facts as a JSON-compatible dict (the self-report's `facts`); blocking: run on a thread."""
    now = time.time() if now is None else now
    boot = psutil.boot_time()
    mem = psutil.virtual_memory()
    osf = os_facts(os_release)
    return {
        "hostname": socket.gethostname(),
        "fqdn": _fqdn(),
        "os": osf,
        "os_support": os_support(osf),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "cpu": {"model": _cpu_model(cpuinfo), "cores_physical": psutil.cpu_count(logical=False),
                "cores_logical": psutil.cpu_count(logical=True)},
        "memory": {"total_bytes": int(mem.total), "available_bytes": int(mem.available)},
        "disks": _disks(),
        "nics": _nics(),
        "boot_time": round(boot, 3),
        "uptime_seconds": round(max(0.0, now - boot), 3),
        "users": _users(),
        "machine": _machine(dmi_dir),
        "antimalware": antimalware(process_names),
        "updates": _updates(),
        "collected_at": round(now, 3),
    }


def _fqdn() -> str | None:
    """socket.getfqdn() may ask DNS; keep only what /etc/hosts-style config gives without waiting."""
    name = socket.gethostname()
    return name if "." in name else None


def os_facts(os_release: Path = Path("/etc/os-release")) -> dict[str, Any]:
    """name (e.g. "Windows", "Debian GNU/Linux", "macOS"), version ("11", "12", "14.5"), build, pretty name."""
    system = platform.system()
    if system == "Windows":
        build = platform.version()                     # "10.0.22631"
        try:
            number = int(build.split(".")[2])
        except (IndexError, ValueError):
            number = 0
        release = platform.release()
        version = "11" if release == "10" and number >= 22000 else release   # 11 still says "10"
        edition = platform.win32_edition() if hasattr(platform, "win32_edition") else None
        return {"family": "windows", "name": "Windows", "version": version, "build": build,
                "pretty": f"Windows {version}" + (f" {edition}" if edition else "")}
    if system == "Darwin":
        version = platform.mac_ver()[0]
        return {"family": "macos", "name": "macOS", "version": version, "build": None, "pretty": f"macOS {version}"}
    info: dict[str, str] = {}
    with contextlib.suppress(OSError, UnicodeDecodeError):
        for line in os_release.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                info[key.strip()] = value.strip().strip('"').strip("'")
    name = info.get("NAME") or system or "unknown"
    version = info.get("VERSION_ID") or platform.release()
    return {"family": system.lower() or "unknown", "name": name, "version": version,
            "build": info.get("VERSION_CODENAME") or None, "pretty": info.get("PRETTY_NAME") or f"{name} {version}"}


def os_support(osf: dict[str, Any], policy: Iterable[OsRule] = DEFAULT_OS_POLICY) -> str:
    """"supported", "warn", "unsupported" or "unknown" (no rule matches): pure, first rule wins."""
    name = str(osf.get("name") or "").lower()
    version = str(osf.get("version") or "")
    for match, versions, state in policy:
        if match.lower() in name and (not versions or any(_version_is(version, v) for v in versions)):
            return state
    return "unknown"


def _version_is(version: str, wanted: str) -> bool:
    """"12" matches "12" and "12.5" but not "120"."""
    return version == wanted or version.startswith(wanted + ".")


def antimalware(process_names: Iterable[str] | None = None) -> dict[str, Any]:
    """Which known anti-malware products run, from the process list (see ANTIMALWARE)."""
    if process_names is None:
        try:
            names = []
            for proc in psutil.process_iter(["name"]):
                with contextlib.suppress(psutil.Error):
                    if proc.info.get("name"):
                        names.append(proc.info["name"])
        except (psutil.Error, OSError):
            return {"state": "unknown", "products": [], "method": "process list unreadable"}
    else:
        names = list(process_names)
    if not names:
        return {"state": "unknown", "products": [], "method": "process list empty"}
    lowered = {n.lower() for n in names}
    found = sorted(
        product for product, procs in ANTIMALWARE.items()
        if any((p.endswith("*") and any(n.startswith(p[:-1]) for n in lowered)) or p in lowered for p in procs)
    )
    return {"state": "running" if found else "not_found", "products": found, "method": "process list"}


def _cpu_model(cpuinfo: Path) -> str | None:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() in ("model name", "Model", "cpu model", "Processor") and value.strip():
                return value.strip()
    return platform.processor() or None


def _disks() -> list[dict[str, Any]]:
    out = []
    seen: set[str] = set()
    parts = sorted(psutil.disk_partitions(all=False), key=lambda p: len(p.mountpoint))
    for part in parts:                                # a device bind-mounted twice is one disk
        if part.device in seen or part.fstype in ("squashfs", "iso9660", "udf"):
            continue
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except (OSError, psutil.Error):
            continue                                  # CD drive without a disc, no permission
        seen.add(part.device)
        out.append({"device": part.device, "mount": part.mountpoint, "fstype": part.fstype,
                    "total_bytes": int(usage.total), "used_bytes": int(usage.used), "free_bytes": int(usage.free)})
    return out


def _nics() -> list[dict[str, Any]]:
    stats = psutil.net_if_stats()
    out = []
    for name, addrs in sorted(psutil.net_if_addrs().items()):
        st = stats.get(name)
        mac = None
        ips = []
        for a in addrs:
            if a.family == psutil.AF_LINK:
                mac = a.address.lower().replace("-", ":") or None
            elif a.family in (socket.AF_INET, socket.AF_INET6):
                addr = a.address.split("%")[0]
                with contextlib.suppress(ValueError):
                    if ipaddress.ip_address(addr).is_loopback:
                        continue
                ips.append({"address": addr, "netmask": a.netmask})
        if st is not None and getattr(st, "flags", "") and "loopback" in st.flags:
            continue
        if not ips and (mac is None or mac == "00:00:00:00:00:00"):
            continue
        out.append({"name": name, "mac": mac if mac != "00:00:00:00:00:00" else None, "addresses": ips,
                    "up": bool(st.isup) if st else None,
                    "speed_mbps": (st.speed or None) if st else None, "mtu": st.mtu if st else None})
    return out


def _users() -> list[dict[str, Any]]:
    try:
        users = psutil.users()
    except (OSError, psutil.Error):
        return []
    return [{"name": u.name, "terminal": u.terminal, "host": u.host or None, "started": round(u.started, 3)}
            for u in users]


def _read(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    if not text or text.lower() in ("to be filled by o.e.m.", "default string", "not specified", "none"):
        return None
    return text


def _machine(dmi_dir: Path) -> dict[str, Any]:
    """Vendor, model and serial from DMI where readable (the serial needs root); None elsewhere."""
    return {
        "vendor": _read(dmi_dir / "sys_vendor"),
        "model": _read(dmi_dir / "product_name"),
        "serial": _read(dmi_dir / "product_serial"),
        "bios_date": _read(dmi_dir / "bios_date"),
        "virtual": _virtual(dmi_dir),
    }


def _virtual(dmi_dir: Path) -> bool | None:
    vendor = (_read(dmi_dir / "sys_vendor") or "") + " " + (_read(dmi_dir / "product_name") or "")
    if not vendor.strip():
        return None
    return any(v in vendor.lower() for v in ("qemu", "kvm", "vmware", "virtualbox", "xen", "hyper-v", "virtual machine"))


def _updates() -> dict[str, Any]:
    """When packages last changed (Debian/RPM database mtime); Windows' hot-fix date is not read here."""
    if sys.platform == "linux":
        for db in ("/var/lib/dpkg/status", "/var/lib/rpm/rpmdb.sqlite", "/var/lib/rpm/Packages"):
            with contextlib.suppress(OSError):
                mtime = os.stat(db).st_mtime
                return {"last_change": round(mtime, 3), "source": db,
                        "last_change_iso": dt.datetime.fromtimestamp(mtime, dt.UTC).isoformat(timespec="seconds")}
    return {"last_change": None, "source": None, "last_change_iso": None}

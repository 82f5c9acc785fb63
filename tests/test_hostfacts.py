"""Local host facts, checked against independent sources on the same machine."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import time
from pathlib import Path

import pytest

from dxagent import hostfacts

pytestmark = pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="cross-checks read Linux /proc")


def _meminfo_total() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


@pytest.fixture(scope="module")
def facts() -> dict:
    return hostfacts.collect()


def test_identity_matches_uname(facts: dict) -> None:
    u = os.uname()
    assert facts["hostname"] == u.nodename == socket.gethostname()
    assert facts["kernel"] == u.release
    assert facts["arch"] == u.machine


def test_memory_matches_proc_meminfo(facts: dict) -> None:
    assert facts["memory"]["total_bytes"] == _meminfo_total()
    assert 0 < facts["memory"]["available_bytes"] <= facts["memory"]["total_bytes"]


def test_root_disk_matches_shutil(facts: dict) -> None:
    root = next(d for d in facts["disks"] if d["mount"] == "/")
    usage = shutil.disk_usage("/")
    assert root["total_bytes"] == usage.total
    assert abs(root["free_bytes"] - usage.free) < 64 * 2**20          # other processes write meanwhile
    assert len({d["device"] for d in facts["disks"]}) == len(facts["disks"])   # bind mounts counted once


def test_cpu_uptime_and_nics(facts: dict) -> None:
    assert facts["cpu"]["cores_logical"] == os.cpu_count()
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    assert abs(facts["uptime_seconds"] - uptime) < 5
    assert abs(facts["boot_time"] + facts["uptime_seconds"] - time.time()) < 5
    ifaces = {n["name"] for n in facts["nics"]}
    assert "lo" not in ifaces
    for nic in facts["nics"]:
        sysmac = Path(f"/sys/class/net/{nic['name']}/address")
        try:  # another test's namespace veth may vanish between the facts and this read
            sys_value = sysmac.read_text().strip() if nic["mac"] and sysmac.exists() else None
        except OSError:
            continue
        if sys_value is not None:
            assert nic["mac"] == sys_value


def test_os_release_and_dmi_from_fixture_files(tmp_path: Path) -> None:
    if platform.system() != "Linux":
        pytest.skip("os-release applies to Linux")
    (tmp_path / "os-release").write_text('NAME="Debian GNU/Linux"\nVERSION_ID="11"\nPRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\n')
    dmi = tmp_path / "dmi"
    dmi.mkdir()
    (dmi / "sys_vendor").write_text("Dell Inc.\n")
    (dmi / "product_name").write_text("OptiPlex 7090\n")
    (dmi / "product_serial").write_text("To Be Filled By O.E.M.\n")
    f = hostfacts.collect(dmi_dir=dmi, os_release=tmp_path / "os-release", cpuinfo=tmp_path / "none")
    assert f["os"]["name"] == "Debian GNU/Linux" and f["os"]["version"] == "11"
    assert f["os_support"] == "warn"
    assert f["machine"] == {"vendor": "Dell Inc.", "model": "OptiPlex 7090", "serial": None, "bios_date": None,
                            "virtual": False}
    assert f["cpu"]["model"] == (platform.processor() or None)
    missing = hostfacts.collect(dmi_dir=tmp_path / "absent")
    assert missing["machine"]["vendor"] is None and missing["machine"]["virtual"] is None


@pytest.mark.parametrize(("names", "state", "products"), [
    (["System", "MsMpEng.exe", "explorer.exe"], "running", ["Microsoft Defender"]),
    (["BkavService.exe", "avp.exe"], "running", ["BKAV", "Kaspersky"]),
    (["bash", "clamd"], "running", ["ClamAV"]),
    (["bash", "sshd"], "not_found", []),
    ([], "unknown", []),
])
def test_antimalware_from_process_names(names: list[str], state: str, products: list[str]) -> None:
    got = hostfacts.antimalware(names)
    assert (got["state"], got["products"]) == (state, products)


def test_antimalware_from_this_machine_process_list() -> None:
    assert hostfacts.antimalware()["state"] in ("running", "not_found")


@pytest.mark.parametrize(("name", "version", "state"), [
    ("Windows", "11", "supported"), ("Windows", "10", "warn"), ("Windows", "7", "unsupported"),
    ("Debian GNU/Linux", "12", "supported"), ("Debian GNU/Linux", "120", "unsupported"),
    ("Ubuntu", "24.04", "supported"), ("Haiku", "1", "unknown"),
])
def test_os_support_policy(name: str, version: str, state: str) -> None:
    assert hostfacts.os_support({"name": name, "version": version}) == state

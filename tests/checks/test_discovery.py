"""`discovery` end to end: namespaces as LAN hosts, a real snmpd, a stub DNS, self-reports, a register."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import netns
import pytest
from _ns_discovery import DROP_ECHO, StubDns, listen, start_snmpd, stop

from dxagent import register as reg
from dxagent import selfreport
from dxagent.checks import discovery
from dxagent.config import ConfigError, SiteConfig, load_text
from dxagent.model import Reason, Status
from dxagent.probe import ProbeContext

GiB = 2**30


def _mac(lab: netns.NetLab, host: netns.Host) -> str:
    return lab.run_in(host, "cat", "/sys/class/net/eth0/address").stdout.strip()


def _report(path: Path, hostname: str, *, os_version: str, memory: int, free: int, mac: str, ip: str, av: str) -> None:
    facts: dict[str, Any] = {
        "hostname": hostname, "os": {"name": "Windows", "version": os_version, "pretty": f"Windows {os_version} Pro"},
        "memory": {"total_bytes": memory}, "antimalware": {"state": av, "products": []},
        "disks": [{"device": "C:", "mount": "C:\\", "fstype": "NTFS", "total_bytes": 256 * GiB,
                   "used_bytes": 256 * GiB - free, "free_bytes": free}],
        "nics": [{"name": "Ethernet", "mac": mac.upper().replace(":", "-"), "addresses": [{"address": ip}]}],
    }
    report = selfreport.parse_report(json.dumps(selfreport.build_report(facts, "0.1.0")).encode())
    selfreport.save_report(report, path)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A LAN: A (ping + RDP/SMB), B (ping only, named by DNS), C (drops ping, printer port),
    D (snmpd with HOST-RESOURCES); a register, self-reports and a stub DNS."""
    netns.skip_unless_available()
    tmp = tmp_path_factory.mktemp("site")
    procs: list[subprocess.Popen[bytes] | None] = []
    with netns.NetLab() as lab:
        lan = lab.lan()
        a, b, c, d = (lan.add_host() for _ in range(4))
        lab.run_in(c, "nft", "-f", "-", input=DROP_ECHO)
        procs.append(listen(lab, a, [3389, 445]))
        procs.append(listen(lab, c, [9100]))
        snmpd = start_snmpd(d, tmp / "snmpd")
        if snmpd is None:
            pytest.skip("needs snmpd (Debian package snmpd)")
        procs.append(snmpd)
        dns = StubDns({b.v4: "pc-02.xa.example."})
        reports = tmp / "reports"
        _report(reports, "PC-01", os_version="11", memory=8 * GiB, free=100 * GiB, mac=_mac(lab, a), ip=a.v4, av="not_found")
        _report(reports, "PC-04", os_version="10", memory=2 * GiB, free=6 * GiB, mac="02:00:00:00:04:04",
                ip="10.203.254.44", av="running")
        (reports / "broken.json").write_text("{not json")
        (tmp / "register.csv").write_text(
            "hostname,mac,ip,assigned_to,type\n"
            f"AGENT,,{lan.gateway_v4},,server\n"
            f"PC-01,{_mac(lab, a)},,Nguyễn Văn An,workstation\n"
            "PC-02,,,Trần Thị Bình,workstation\n"
            f"PRN-01,,{c.v4},,printer\n"
            "PC-03,02:00:00:00:03:03,,Lê Văn Cường,workstation\n"
            "PC-04,,,Phạm Thị Dung,laptop\n"
            "PC-05,not-a-mac,,,workstation\n", encoding="utf-8")
        try:
            yield {"lab": lab, "lan": lan, "a": a, "b": b, "c": c, "d": d, "dns": dns, "tmp": tmp, "reports": reports}
        finally:
            dns.close()
            for p in procs:
                stop(p)


def _cfg(site: dict[str, Any], **extra: Any) -> discovery.Config:
    return discovery.Config.model_validate({
        "id": "lan", "subnets": [site["lan"].cidr_v4], "dns_server": f"127.0.0.1:{site['dns'].port}",
        "register_file": str(site["tmp"] / "register.csv"), "snmp": {"enabled": True, "community": "public"},
        "self_reports": {"folder": str(site["reports"])}, "timeout": "20s",
        "port_timeout": "2s",  # a busy test machine can hold a SYN-ACK past the 0.5 s default
        **extra})


def _run(cfg: discovery.Config, services: dict[str, Any] | None = None, state: dict[str, Any] | None = None):
    ctx = ProbeContext("lan", "discovery", site=SiteConfig(staff=4), timeout=cfg.timeout - 0.5,
                       services=services or {}, state=state if state is not None else {})
    return asyncio.run(discovery.probe(cfg, ctx))


def _samples(result: Any) -> dict[str, float]:
    return {s.name + (str(dict(s.labels)) if s.labels else ""): s.value for s in result.samples}


def test_present_missing_unregistered_and_coverage(site: dict[str, Any]) -> None:
    result = _run(_cfg(site))
    det = result.details
    assert [(p["hostname"], p["matched_by"]) for p in det["present"]] == [
        ("AGENT", "ip"), ("PC-01", "mac"), ("PC-02", "hostname"), ("PRN-01", "ip"), ("PC-04", "hostname")]
    assert [m["hostname"] for m in det["missing"]] == ["PC-03"]
    assert [u["ip"] for u in det["unregistered"]] == [site["d"].v4]
    assert det["coverage"] == {"working_assigned": 3, "staff": 4, "ratio": 0.75}
    assert det["register_problems"] == [
        f"{site['tmp'] / 'register.csv'}:8: mac: MAC address 'not-a-mac' is not 12 hex digits (e.g. 00:1a:2b:3c:4d:5e)"]
    assert any("broken.json: not JSON" in n for n in det["notes"])
    assert result.status == Status.WARN and result.reason == Reason.THRESHOLD
    assert result.summary.en.startswith("5 present, 1 missing, 1 unregistered; workstation coverage 75% (3/4)")
    assert "1 dòng lỗi" in result.summary.vi and result.hint is not None
    register = str(site["tmp"] / "register.csv")
    for text in (result.hint.en, result.hint.vi):  # the devices concerned, the figures and the file to fix
        assert "PC-03" in text and "75% (3/4" in text and f"{register}:8" in text  # unregistered: off by default

    by_ip = {d["ip"]: d for d in det["devices"] if d["ip"]}
    a, b, c, d = (by_ip[site[k].v4] for k in "abcd")
    assert (a["class"], a["open_ports"], a["os"], a["os_support"]) == ("workstation", [445, 3389], "Windows 11 Pro", "supported")
    assert "report" in a["sources"] and a["hostnames"] == ["PC-01"]
    assert (b["hostnames"], b["class"]) == (["pc-02.xa.example"], "unknown")
    assert (c["class"], c["open_ports"], "icmp" in c["sources"], "arp" in c["sources"]) == ("printer", [9100], False, True)
    assert d["class"] == "server" and d["snmp"]["hr"]["processes"] > 0
    assert any(s["descr"] == "/" and s["type"] == "disk" and s["size_bytes"] > 0 for s in d["snmp"]["hr"]["storage"])
    pc04 = next(x for x in det["devices"] if x["hostnames"] == ["PC-04"])
    assert pc04["baseline_failures"] == ["RAM 2.0 GiB below the 4 GiB baseline", "6.0 GiB free on C:\\, baseline 10 GiB",
                                         "Windows 10 Pro is at the end of its support: plan the upgrade"]

    s = _samples(result)
    assert s["inventory_devices{'state': 'present'}"] == 5
    assert s["inventory_devices{'state': 'missing'}"] == 1
    assert s["inventory_devices{'state': 'unregistered'}"] == 1
    assert s["inventory_workstation_coverage_ratio"] == 0.75
    assert s["inventory_register_problems"] == 1
    assert s["discovery_baseline_failing_devices"] == 1
    assert s["discovery_os_supported_ratio"] == 0.5 and s["discovery_antimalware_ratio"] == 0.5
    assert s["discovery_hosts_alive"] == 4 and s["discovery_addresses_swept"] == 254
    assert set(s) <= {k.split("{")[0] for k in discovery.METRICS} | {k for k in s if "{" in k}
    assert all(k.split("{")[0] in discovery.METRICS for k in s)


def test_first_and_last_seen_persist_in_the_history_store(site: dict[str, Any]) -> None:
    from dxagent.history import History

    history = History.open(site["tmp"] / "history.db")
    try:
        t1 = time.time()
        first = _run(_cfg(site), services={"history": history})
        assert first.details["persistence"] == "history store"
        t2 = time.time()
        site["lab"].set_link(site["b"], False)
        lan, c = site["lan"], site["c"]
        # as if the kernel's reachable time had passed: C's entry goes STALE, so only a fresh ARP answer proves it
        subprocess.run(["ip", "neigh", "change", c.v4, "dev", lan.bridge, "lladdr", _mac(site["lab"], c), "nud", "stale"],
                       check=True)
        time.sleep(2.5)
        for f in site["reports"].glob("*.json"):
            os.utime(f)                                      # the PCs reported again
        second = _run(_cfg(site, missing_after="2s"), services={"history": history})
    finally:
        site["lab"].set_link(site["b"], True)
        history.close()
    missing = {m["hostname"]: m["last_seen"] for m in second.details["missing"]}
    assert set(missing) == {"PC-02", "PC-03"}                  # PRN-01 (drops ping) proved itself by ARP
    assert t1 <= missing["PC-02"] <= t2 and missing["PC-03"] is None
    pc01 = next(p for p in second.details["present"] if p["hostname"] == "PC-01")["device"]
    assert t1 <= pc01["first_seen"] <= t2 < pc01["last_seen"]      # first seen kept from run 1


def test_without_store_state_lives_in_process_memory(site: dict[str, Any]) -> None:
    state: dict[str, Any] = {}
    result = _run(_cfg(site, ports=[], snmp={"enabled": False}), state=state)
    assert result.details["persistence"] == "process memory (since start)"
    assert f"mac:{_mac(site['lab'], site['a'])}" in state["devices"]


def test_no_icmp_permission_is_unknown_with_the_fix(site: dict[str, Any], tmp_path: Path) -> None:
    if Path("/proc/sys/net/ipv4/ping_group_range").read_text().split() != ["1", "0"]:
        pytest.skip("unprivileged ping is allowed here")
    code = (
        "import asyncio, json, sys\nfrom dxagent.checks import discovery\nfrom dxagent.probe import ProbeContext\n"
        f"cfg = discovery.Config(id='lan', subnets=['{site['lan'].cidr_v4}'], rdns=False, ports=[])\n"
        "r = asyncio.run(discovery.probe(cfg, ProbeContext('lan', 'discovery', timeout=9)))\n"
        "print(json.dumps([r.status.name, r.reason.value, r.summary.en, r.hint.vi]))\n")
    proc = subprocess.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=60, cwd="/")
    if "ModuleNotFoundError" in proc.stderr:
        pytest.skip(f"the nobody user cannot import dxagent here: {proc.stderr[-200:]}")
    status, why, summary, hint_vi = json.loads(proc.stdout)
    assert (status, why) == ("UNKNOWN", "permission")
    assert summary.startswith("no permission for ICMP, neighbour table only")
    assert "ping_group_range" in hint_vi


def test_register_file_missing_is_a_config_result(site: dict[str, Any], tmp_path: Path) -> None:
    cfg = _cfg(site, register_file=str(tmp_path / "nope.csv"))
    result = _run(cfg)
    assert (result.status, result.reason) == (Status.UNKNOWN, Reason.CONFIG)
    assert "register file not found" in result.summary.en


def test_config_refuses_large_subnets_and_ipv6_with_lines() -> None:
    text = "checks:\n  - id: lan\n    kind: discovery\n    subnets: [10.0.0.0/16]\n"
    with pytest.raises(ConfigError) as err:
        load_text(text, "x.yml")
    assert "x.yml:2: checks[0]: 10.0.0.0/16 has 65536 addresses, above the sweep limit of 1024" in str(err.value)
    with pytest.raises(ConfigError, match=r"x.yml:4: checks\[0\].subnets: .*only IPv4 subnets"):
        load_text(text.replace("10.0.0.0/16", "'fd00::/64'"), "x.yml")
    assert load_text(text.replace("/16]", "/16]\n    max_hosts: 65536\n    timeout: 2m\n    interval: 1h"),
                     "x.yml").checks[0].max_hosts == 65536


def test_example_validates() -> None:
    cfg = load_text("checks:\n" + "".join("  " + ln + "\n" for ln in discovery.EXAMPLE.splitlines()), "ex.yml")
    assert cfg.checks[0].kind == "discovery"


@pytest.mark.parametrize(("missing", "unregistered", "working", "staff", "failing", "want"), [
    (0, 5, 4, 4, 0, Status.OK),          # unregistered not judged by default
    (1, 0, 4, 4, 0, Status.WARN),
    (0, 0, 3, 4, 0, Status.WARN),
    (0, 0, 4, None, 0, Status.OK),        # staff unknown: coverage not judged
])
def test_judge(missing: int, unregistered: int, working: int, staff: int | None, failing: int, want: Status) -> None:
    entry = reg.RegisterEntry(hostname="x")
    seen = reg.Seen("k", None, (), (), 0, 0)
    rec = reg.Reconciliation([], [(entry, None)] * missing, [seen] * unregistered, working, staff)
    cfg = discovery.Config(id="lan")
    assert discovery.judge(cfg, rec, failing)[0] == want
    crit = discovery.Config(id="lan", thresholds={"coverage": {"crit": "50%"}, "baseline_failing": {"warn": 0}})
    assert (crit.thresholds.coverage.warn, crit.thresholds.missing.warn) == (1.0, 0)   # left out: the defaults
    assert discovery.judge(crit, reg.Reconciliation([], [], [], 1, 4), 0) == (Status.CRIT, Reason.THRESHOLD)
    assert discovery.judge(crit, None, 1) == (Status.WARN, Reason.THRESHOLD)


def test_threshold_errors_name_the_line() -> None:
    head = "checks:\n  - id: lan\n    kind: discovery\n    thresholds:\n"
    with pytest.raises(ConfigError) as err:
        load_text(head + "      coverage: {warn: 50%, crit: 80%}\n", "d.yml")
    assert "d.yml:5: checks[0].thresholds.coverage: crit must not be above warn" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_text(head + "      min_coverage: 0.9\n", "d.yml")
    assert "checks[0].thresholds: `min_coverage` is now `coverage: {warn: …}`" in str(err.value)

"""The asset register: CSV/YAML loading with per-row errors, and reconciliation with sightings."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pytest

from dxagent import register as reg

BAD_CSV = """\
# comment line
hostname;mac;ip;assigned_to;type;colour
PC-01;00:11:22:33:44:01;;Nguyễn Văn An;workstation;red
PC-02;zz;;;workstation;
PC-03;00-11-22-33-44-01;;;workstation;
;;10.0.0.9;;printer;
PC-04;;300.1.1.1;;;
PC-05;;;;fridge;
PC-06;;;;;;;
pc-01.xa.local;;;;;

PC-07;001122334407;;Trần Thị Bình;laptop;
"""


def test_csv_bad_rows_are_reported_with_line_and_good_rows_kept(tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    path.write_text(BAD_CSV, encoding="utf-8")
    r = reg.load(path)
    assert [(e.hostname, e.mac, e.line) for e in r.entries] == [
        ("PC-01", "00:11:22:33:44:01", 3), ("PC-07", "00:11:22:33:44:07", 12)]
    assert r.entries[0].assigned_to == "Nguyễn Văn An"
    assert [str(p) for p in r.problems] == [
        f"{path}:2: unknown column 'colour' ignored; known: hostname, mac, ip, assigned_to, type, specs, condition, location, note",
        f"{path}:4: mac: MAC address 'zz' is not 12 hex digits (e.g. 00:1a:2b:3c:4d:5e)",
        f"{path}:5: duplicate mac 00:11:22:33:44:01 (first on line 3); row ignored",
        f"{path}:6: a device needs a hostname or a MAC address",
        f"{path}:7: ip: IP address '300.1.1.1' is not valid",
        f"{path}:8: type: must be one of 'workstation', 'laptop', 'printer', 'network', 'server', 'phone', 'camera' or 'other'",
        f"{path}:9: 8 cells but the header has 6 columns",
        f"{path}:10: duplicate hostname pc-01 (first on line 3); row ignored",
    ]


def test_yaml_register_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "register.yml"
    path.write_text("devices:\n  - hostname: PC-01\n    assigned_to: An\n  - hostname: PC-02\n    condition: lost\n"
                    "  - just a string\n  - {mac: '00:11:22:33:44:55', type: printer}\n", encoding="utf-8")
    r = reg.load(path)
    assert [e.label() for e in r.entries] == ["PC-01", "00:11:22:33:44:55"]
    assert [str(p) for p in r.problems] == [
        f"{path}:4: condition: must be one of 'working', 'broken' or 'spare'",
        f"{path}:6: expected a mapping with hostname/mac/…",
    ]


def test_whole_file_errors(tmp_path: Path) -> None:
    with pytest.raises(reg.RegisterError, match="register file not found"):
        reg.load(tmp_path / "nope.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("hostname\nMÁY-01\n".encode("cp1258"))
    with pytest.raises(reg.RegisterError, match="CSV UTF-8"):
        reg.load(latin)
    r = reg.load_text("ip,type\n10.0.0.1,printer\n", "x.csv")
    assert r.entries == [] and str(r.problems[0]) == "x.csv:1: the header needs a hostname or a mac column"


def test_excel_bom_and_vietnamese_headers() -> None:
    r = reg.load_text("\ufeffTên máy,Địa chỉ MAC,Người sử dụng,Loại\nPC-01,00:11:22:33:44:01,An,laptop\n", "vn.csv")
    assert r.problems == []
    assert (r.entries[0].hostname, r.entries[0].mac, r.entries[0].assigned_to, r.entries[0].type) == (
        "PC-01", "00:11:22:33:44:01", "An", "laptop")


def test_shipped_sample_register_is_valid() -> None:
    text = importlib.resources.files("dxagent.defaults").joinpath("register-sample.csv").read_text(encoding="utf-8")
    r = reg.load_text(text, "register-sample.csv")
    assert r.problems == [] and len(r.entries) == 8


def _seen(key: str, *, mac: str | None = None, names: tuple[str, ...] = (), ips: tuple[str, ...] = (),
          last: float = 1000.0) -> reg.Seen:
    return reg.Seen(key, mac, names, ips, 0.0, last)


def test_reconcile_mac_then_hostname_then_ip_and_coverage() -> None:
    r = reg.load_text(
        "hostname,mac,ip,assigned_to,type,condition\n"
        "PC-01,00:00:00:00:00:01,,An,workstation,working\n"      # by MAC (even though the name differs)
        "PC-02,00:00:00:00:00:02,,Bình,workstation,working\n"    # by hostname (NIC replaced)
        "PRN-01,,10.0.0.20,,printer,working\n"                   # by IP
        "PC-03,00:00:00:00:00:03,,Cường,workstation,working\n"   # seen 4 days ago: missing
        "PC-04,00:00:00:00:00:04,,Dung,laptop,working\n"         # never seen: missing
        "PC-05,00:00:00:00:00:05,,,workstation,working\n"        # present, unassigned: not in coverage
        "PC-06,00:00:00:00:00:06,,Em,workstation,broken\n",      # present, broken: not in coverage
        "r.csv")
    now, day = 1_000_000.0, 86400.0
    seen = [
        _seen("mac:00:00:00:00:00:01", mac="00:00:00:00:00:01", names=("pc-02",), last=now),
        _seen("mac:aa:00:00:00:00:02", mac="aa:00:00:00:00:02", names=("PC-02.xa.local",), last=now - 3600),
        _seen("ip:10.0.0.20", ips=("10.0.0.20",), last=now),
        _seen("mac:00:00:00:00:00:03", mac="00:00:00:00:00:03", last=now - 4 * day),
        _seen("mac:00:00:00:00:00:05", mac="00:00:00:00:00:05", last=now),
        _seen("mac:00:00:00:00:00:06", mac="00:00:00:00:00:06", last=now),
        _seen("mac:bb:00:00:00:00:99", mac="bb:00:00:00:00:99", last=now),          # unregistered
        _seen("mac:bb:00:00:00:00:98", mac="bb:00:00:00:00:98", last=now - 5 * day),  # gone long ago: not listed
    ]
    rec = reg.reconcile(r.entries, seen, now=now, missing_after=3 * day, staff=4)
    assert [(e.hostname, how) for e, _, how in rec.present] == [
        ("PC-01", "mac"), ("PC-02", "hostname"), ("PRN-01", "ip"), ("PC-05", "mac"), ("PC-06", "mac")]
    assert [(e.hostname, d.last_seen if d else None) for e, d in rec.missing] == [("PC-03", now - 4 * day), ("PC-04", None)]
    assert [d.key for d in rec.unregistered] == ["mac:bb:00:00:00:00:99"]
    assert rec.working_assigned == 2 and rec.coverage == 0.5
    assert reg.reconcile(r.entries, seen, now=now, missing_after=3 * day, staff=None).coverage is None

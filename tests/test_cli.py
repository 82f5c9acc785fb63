"""`dxagent check` end to end: table, JSON schema, exit codes, selection, language."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from conftest import free_port

from dxagent.cli import cli

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "agent" / "schemas" / "results.schema.json").read_text())


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "dx.yml"
    p.write_text("site: {id: t1, name: Xã Thử, province: ha-noi}\nchecks:\n" + text)
    return p


def tcp(id_: str, port: int, extra: str = "") -> str:
    return f"  - id: {id_}\n    kind: tcp\n    host: 127.0.0.1\n    port: {port}\n    timeout: 2s\n{extra}"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_exit_codes_follow_nagios(tmp_path: Path, tcp_listener: tuple[str, int], fake_kinds: None) -> None:
    _, port = tcp_listener
    assert run("check", "-c", str(write(tmp_path, tcp("up", port))))[0] == 0
    assert run("check", "-c", str(write(tmp_path, tcp("down", free_port()))))[0] == 2
    warn = tcp("slowish", port, "    thresholds: {warn: 0.000000001}\n")
    assert run("check", "-c", str(write(tmp_path, warn)))[0] == 1
    crash = "  - id: c\n    kind: fake\n    mode: raise\n"
    assert run("check", "-c", str(write(tmp_path, crash + tcp("up", port))))[0] == 3


def test_json_output_matches_schema(tmp_path: Path, tcp_listener: tuple[str, int]) -> None:
    _, port = tcp_listener
    cfg = write(tmp_path, tcp("up", port) + tcp("down", free_port()))
    code, out, _ = run("check", "-c", str(cfg), "--format", "json", "--lang", "vi")
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    assert code == 2 and doc["exit_code"] == 2 and doc["status"] == "CRIT"
    assert doc["counts"] == {"OK": 1, "WARN": 0, "CRIT": 1, "UNKNOWN": 0}
    assert doc["site"]["name"] == "Xã Thử" and doc["lang"] == "vi"
    down = doc["results"][1]
    assert down["reason"] == "connect" and "từ chối" in down["summary"]
    assert {"name": "tcp_connect_success", "labels": {}, "value": 0.0} in down["samples"]


def test_table_has_traffic_lights_hints_and_no_colour_when_piped(tmp_path: Path) -> None:
    cfg = write(tmp_path, tcp("down", free_port()))
    code, out, _ = run("check", "-c", str(cfg))
    assert code == 2
    assert "CRIT" in out and "down" in out and "→ Nothing listens" in out
    assert "\x1b[" not in out  # not a TTY
    code, out, _ = run("check", "-c", str(cfg), "--lang", "vi")
    assert "LỖI" in out and "mã thoát 2" in out


def test_verbose_shows_details_and_samples(tmp_path: Path, tcp_listener: tuple[str, int]) -> None:
    _, port = tcp_listener
    _, out, _ = run("check", "-c", str(write(tmp_path, tcp("up", port))), "-v")
    assert "tcp_connect_seconds" in out and "address: 127.0.0.1" in out


def test_only_selects_and_rejects_unknown(tmp_path: Path, tcp_listener: tuple[str, int]) -> None:
    _, port = tcp_listener
    cfg = write(tmp_path, tcp("up", port) + tcp("down", free_port()))
    code, out, _ = run("check", "-c", str(cfg), "--only", "up", "--format", "json")
    assert code == 0 and [r["id"] for r in json.loads(out)["results"]] == ["up"]
    code, _, err = run("check", "-c", str(cfg), "--only", "nosuch")
    assert code == 2 and "nosuch" in err


def test_config_error_exits_2_with_message(tmp_path: Path) -> None:
    p = tmp_path / "bad.yml"
    p.write_text("checks:\n  - id: x\n    kind: tcp\n    host: h\n    port: nope\n")
    code, _, err = run("check", "-c", str(p))
    assert code == 2 and f"{p}:5: checks[0].port" in err


def test_config_init_writes_once(tmp_path: Path) -> None:
    target = tmp_path / "etc" / "dxagent.yml"
    assert run("config", "init", str(target))[0] == 0
    assert run("config", "check", str(target))[0] == 0
    code, _, err = run("config", "init", str(target))
    assert code == 2 and "exists" in err


def test_python_dash_m_and_version() -> None:
    proc = subprocess.run([sys.executable, "-m", "dxagent", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "dxagent" in proc.stdout


def test_default_config_without_network_is_quick_and_clear(tmp_path: Path) -> None:
    """The built-in default on a machine with no network: finishes fast, says why, exit = worst.

    Runs inside a test namespace with no default route and a resolver on its own loopback, so the
    default checks (gateway ping, portal names) cannot reach anything outside the test.
    """
    from tests import netns

    netns.skip_unless_available()
    with netns.NetLab() as lab:
        host = lab.lan().add_host(default_route=False)
        lab.write_etc(host, "resolv.conf", "nameserver 127.0.0.1\n")
        t0 = time.monotonic()
        proc = lab.run_in(host, "env", "NO_COLOR=1", "DXAGENT_CONFIG=builtin", sys.executable, "-m", "dxagent", "check",
                          "--format", "json", check=False)
        elapsed = time.monotonic() - t0
    assert elapsed < 10, f"default check took {elapsed:.1f}s"
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert proc.returncode == doc["exit_code"] >= 2
    by_kind = {r["kind"] for r in doc["results"]}
    assert {"system", "dns"} <= by_kind
    for r in doc["results"]:
        if r["status"] != "OK":
            assert r["reason"] and r["hint"], r


@pytest.mark.usefixtures("fake_kinds")
def test_timeout_message_in_table(tmp_path: Path) -> None:
    p = write(tmp_path, "  - id: slow\n    kind: fake\n    mode: sleep\n    seconds: 60\n    timeout: 200ms\n")
    code, out, _ = run("check", "-c", str(p))
    assert code == 2 and "no answer within the 200ms timeout" in out

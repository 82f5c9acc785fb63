"""`dxagent run` as a real process: endpoints, snapshot, SIGHUP/reload, SIGTERM, SIGKILL crash safety."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dxagent.history import History
from tests.promtools import dxagent_run, free_port, http_get, promtool_check_metrics


def write_config(path: Path, state: Path, checks: str, extra: str = "") -> Path:
    path.write_text(f"""\
site: {{id: hn-test, name: "UBND xã Thử Nghiệm", province: ha-noi}}
state_dir: {state}
labels: {{zone: north}}
{extra}
checks:
{checks}
""", encoding="utf-8")
    return path


def tcp_check(check_id: str, port: int, interval: str = "1s", timeout: str = "1s") -> str:
    return (f"  - {{id: {check_id}, kind: tcp, host: 127.0.0.1, port: {port}, interval: {interval}, "
            f"timeout: {timeout}}}\n")


def wait(predicate, timeout: float = 15.0, step: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


def metrics(url: str) -> str:
    return http_get(f"{url}/metrics")[2].decode()


def wait_metrics(url: str, *needles: str, timeout: float = 15.0) -> str:
    """The first scrape that contains every needle."""
    found: list[str] = []

    def ready() -> bool:
        found[:] = [metrics(url)]
        return all(n in found[0] for n in needles)

    wait(ready, timeout)
    return found[0]


def test_endpoints_snapshot_and_clean_exit(tmp_path: Path, tcp_listener: tuple[str, int]) -> None:
    closed = free_port()
    cfg = write_config(tmp_path / "c.yml", tmp_path / "state",
                       tcp_check("smtp", tcp_listener[1]) + tcp_check("closed", closed))
    with dxagent_run(cfg) as agent:
        text = wait_metrics(agent.url, 'dxagent_check_status{check="closed"', 'dxagent_check_status{check="smtp"')
        assert f'dxagent_check_status{{check="smtp",kind="tcp",target="127.0.0.1:{tcp_listener[1]}",zone="north"}} 0' in text
        assert f'dxagent_check_failure_info{{check="closed",kind="tcp",reason="connect",target="127.0.0.1:{closed}",' \
               'zone="north"} 1' in text
        assert "process_resident_memory_bytes" in text
        ok, out = promtool_check_metrics(text)
        assert ok, out
        status, headers, body = http_get(f"{agent.url}/metrics",
                                         headers={"Accept": "application/openmetrics-text;version=1.0.0"})
        assert headers["content-type"].startswith("application/openmetrics-text") and body.endswith(b"# EOF\n")
        status, _, body = http_get(f"{agent.url}/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        doc = json.loads(http_get(f"{agent.url}/api/results?lang=vi")[2])
        assert doc["schema_version"] == 1 and doc["lang"] == "vi" and doc["site"]["id"] == "hn-test"
        assert {r["id"] for r in doc["results"]} == {"smtp", "closed"}
        assert any("từ chối" in r["summary"] for r in doc["results"])
        inv = json.loads(http_get(f"{agent.url}/api/inventory")[2])
        assert inv["results"] == [] and isinstance(inv["devices"], list)
        t0 = time.monotonic()
        assert agent.stop() == 0
        assert time.monotonic() - t0 < 12
    snap = json.loads((tmp_path / "state" / "snapshot.json").read_text(encoding="utf-8"))
    assert {r["id"] for r in snap["results"]} == {"smtp", "closed"}
    assert not list((tmp_path / "state").glob(".snapshot.json.*"))  # no temp files left behind
    history = History.open(tmp_path / "state" / "history.sqlite")
    try:
        rows = history.results(0, time.time() + 1)
        assert {r.check_id for r in rows} == {"smtp", "closed"}
    finally:
        history.close()


def test_sighup_with_broken_config_keeps_old_then_reload_applies(tmp_path: Path, tcp_listener: tuple[str, int]) -> None:
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "c.yml", state, tcp_check("old", tcp_listener[1]) + tcp_check("gone", tcp_listener[1]))
    with dxagent_run(cfg) as agent:
        wait_metrics(agent.url, 'dxagent_check_status{check="gone"')
        cfg.write_text(cfg.read_text() + "  - {id: bad, kind: tcp, host: 127.0.0.1, port: 99999}\n")
        agent.send(signal.SIGHUP)
        wait(lambda: any("problem(s)" in line for line in agent.log()))
        text = wait_metrics(agent.url, 'dxagent_config_last_reload_successful{zone="north"} 0')
        assert 'check="old"' in text and 'check="gone"' in text  # old config still running
        assert any("c.yml:" in line and "checks[2].port" in line for line in agent.log())
        cli = subprocess.run([sys.executable, "-m", "dxagent", "reload", "-c", str(cfg)], capture_output=True, text=True,
                             timeout=30)
        assert cli.returncode == 1  # the CLI reads the same broken file: it cannot even find the port
        # Fix it: "gone" removed, "new" added; reload over HTTP from loopback.
        write_config(cfg, state, tcp_check("old", tcp_listener[1]) + tcp_check("new", tcp_listener[1]))
        status, _, body = http_get(f"{agent.url}/-/reload", method="POST")
        assert status == 200 and json.loads(body) == {"ok": True, "checks": 2, "problems": []}
        text = wait_metrics(agent.url, 'dxagent_check_status{check="new"')
        assert 'check="gone"' not in text  # no stale series after the check left the config
        assert 'dxagent_config_last_reload_successful{zone="north"} 1' in text
        # A broken file over HTTP: 400 with the problems, old config kept.
        cfg.write_text(cfg.read_text().replace("port:", "prot:", 1))
        status, _, body = http_get(f"{agent.url}/-/reload", method="POST")
        doc = json.loads(body)
        assert status == 400 and not doc["ok"] and any("unknown field" in p for p in doc["problems"])
        assert 'check="new"' in metrics(agent.url)
        assert agent.stop() == 0


def test_reload_cli_against_running_daemon(tmp_path: Path, tcp_listener: tuple[str, int]) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.yml", tmp_path / "state", tcp_check("a", tcp_listener[1]),
                       extra=f"server: {{listen: '127.0.0.1:{port}'}}")
    with dxagent_run(cfg, listen=f"127.0.0.1:{port}"):
        done = subprocess.run([sys.executable, "-m", "dxagent", "reload", "-c", str(cfg)], capture_output=True,
                              text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert "reloaded: 1 checks" in done.stdout


def test_sigkill_during_writes_then_restart_continues_history(tmp_path: Path, tcp_listener: tuple[str, int]) -> None:
    state = tmp_path / "state"
    checks = "".join(tcp_check(f"c{i}", tcp_listener[1]) for i in range(40))
    cfg = write_config(tmp_path / "c.yml", state, checks)
    db = state / "history.sqlite"

    def count() -> int:
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
                return int(conn.execute("SELECT count(*) FROM raw").fetchone()[0])
        except sqlite3.Error:
            return 0

    with dxagent_run(cfg) as agent:
        wait(lambda: count() >= 80, timeout=20)
        killed_at = time.time()
        agent.proc.kill()  # SIGKILL in the middle of the write burst
        agent.proc.wait(5)
    before = count()
    with dxagent_run(cfg) as agent:
        wait(lambda: count() >= before + 80, timeout=20)
        assert agent.stop() == 0
    history = History.open(db)
    try:
        after = [r for r in history.results(killed_at, time.time() + 1) if r.check_id == "c0"]
        assert after, "history continues after the restart"
        assert not list(state.glob("history.sqlite.corrupt-*"))
        assert len(history.alive_intervals(0, time.time() + 1)) >= 1
    finally:
        history.close()


@pytest.mark.parametrize("broken", ["checks: [ {id: x, kind: nope} ]", "server: {listen: 'nonsense'}"])
def test_run_refuses_a_bad_config_at_start(tmp_path: Path, broken: str) -> None:
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"state_dir: {tmp_path}\n{broken}\n")
    done = subprocess.run([sys.executable, "-m", "dxagent", "run", "-c", str(cfg)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2
    assert "c.yml:" in done.stderr and "problem(s)" in done.stderr

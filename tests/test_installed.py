"""The product as users get it: a wheel installed in a fresh venv, every command run as a process.

Why: pytest and setuptools' editable finder import modules (importlib.util, …) before our code runs,
so a missing import can pass every in-process test and still crash the installed console script
(issue #14). Here nothing of the test interpreter leaks in: a new venv, a non-editable install
without test extras, and each command in its own process. Any traceback fails the test.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.promtools import free_port

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ("full", "commune", "province")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel of this checkout installed (dependencies from the package index)."""
    base = tmp_path_factory.mktemp("installed")
    out = base / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
                   check=True, timeout=300, capture_output=True)
    (whl,) = out.glob("dxagent-*.whl")
    env_dir = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=120)
    proc = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(whl)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        if "No matching distribution" in proc.stderr or "Could not find a version" in proc.stderr:
            pytest.skip(f"no package index reachable to install the wheel's dependencies: {proc.stderr.strip()[-300:]}")
        raise AssertionError(proc.stderr)
    return env_dir


def dxagent(venv: Path, *args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed console script with a clean environment (no PYTHONPATH, no test modules)."""
    env = {"PATH": f"{venv / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(cwd or venv), "NO_COLOR": "1", "LANG": "C.UTF-8"}
    proc = subprocess.run([str(venv / "bin" / "dxagent"), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd or venv, env=env)
    assert "Traceback" not in proc.stderr + proc.stdout, f"dxagent {' '.join(args)}:\n{proc.stderr}"
    return proc


def commands(help_text: str) -> list[str]:
    """Names listed in the 'Commands:' section of a click help page."""
    section = help_text.split("Commands:", 1)
    if len(section) < 2:
        return []
    return [m.group(1) for m in re.finditer(r"^  ([a-z][\w-]*)\s", section[1], re.MULTILINE)]


def test_installed_package_is_not_the_checkout(venv: Path) -> None:
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", "import dxagent, sys; print(dxagent.__file__)"],
                          capture_output=True, text=True, timeout=60, cwd=venv, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(str(venv)), proc.stdout
    test_extras = subprocess.run([str(venv / "bin" / "python"), "-c", "import pytest"], capture_output=True, timeout=60)
    assert test_extras.returncode != 0, "the fresh venv must not hold the test extras"


def test_help_of_every_command_and_subcommand(venv: Path) -> None:
    top = dxagent(venv, "--help")
    assert top.returncode == 0 and "Commands:" in top.stdout
    names = commands(top.stdout)
    assert {"check", "config", "run", "reload", "report", "inventory", "alerts"} <= set(names), names
    seen = 0
    todo = [[n] for n in names]
    while todo:
        path = todo.pop()
        proc = dxagent(venv, *path, "--help")
        assert proc.returncode == 0, f"dxagent {' '.join(path)} --help: {proc.stderr}"
        assert "Usage:" in proc.stdout
        seen += 1
        todo.extend([*path, sub] for sub in commands(proc.stdout))
    assert seen > len(names)  # subcommands were walked too


def test_version(venv: Path) -> None:
    proc = dxagent(venv, "--version")
    assert proc.returncode == 0 and "dxagent" in proc.stdout


@pytest.mark.parametrize("template", TEMPLATES)
def test_config_check_on_each_shipped_template(venv: Path, tmp_path: Path, template: str) -> None:
    target = tmp_path / f"{template}.yml"
    init = dxagent(venv, "config", "init", str(target), "--template", template)
    assert init.returncode == 0, init.stderr
    check = dxagent(venv, "config", "check", str(target))
    assert check.returncode == 0, check.stderr


def test_config_check_names_file_line_field(venv: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("checks:\n  - id: a\n    kind: tcp\n    host: 127.0.0.1\n    port: nope\n", encoding="utf-8")
    proc = dxagent(venv, "config", "check", str(bad))
    assert proc.returncode == 2
    assert f"{bad}:5:" in proc.stderr and "port" in proc.stderr


def test_config_reference_and_alerts_files(venv: Path, tmp_path: Path) -> None:
    ref = dxagent(venv, "config", "reference")
    assert ref.returncode == 0 and "kind" in ref.stdout
    names = commands(dxagent(venv, "alerts", "--help").stdout)
    assert names, "alerts has subcommands"


def test_check_builtin_offline(venv: Path, tmp_path: Path) -> None:
    """`dxagent check --config builtin` from the installed venv, in a namespace with no network."""
    from tests import netns

    netns.skip_unless_available()
    with netns.NetLab() as lab:
        host = lab.lan().add_host(default_route=False)
        lab.write_etc(host, "resolv.conf", "nameserver 127.0.0.1\n")
        proc = lab.run_in(host, "env", "-i", f"PATH={venv / 'bin'}:/usr/bin:/bin", "NO_COLOR=1", f"HOME={tmp_path}",
                          str(venv / "bin" / "dxagent"), "check", "--config", "builtin", "--format", "json", check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout)
    assert proc.returncode == doc["exit_code"] and proc.returncode in (0, 1, 2, 3)
    (tmp_path / "check.json").write_text(proc.stdout, encoding="utf-8")


def _config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "agent.yml"
    path.write_text(f"""\
site: {{id: hn-installed, name: "UBND xã Cài Đặt", province: ha-noi}}
state_dir: {tmp_path / 'state'}
server: {{listen: "127.0.0.1:{port}"}}
checks:
  - {{id: host, kind: system, interval: 2s, timeout: 1s}}
  - {{id: loop, kind: tcp, host: 127.0.0.1, port: {port}, interval: 1s, timeout: 1s}}
""", encoding="utf-8")
    return path


@pytest.fixture
def daemon(venv: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    port = free_port()
    cfg = _config(tmp_path, port)
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1"}
    proc = subprocess.Popen([str(venv / "bin" / "dxagent"), "run", "--config", str(cfg)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        yield proc, port, cfg
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def _healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
            return int(resp.status)
    except OSError:
        return 0


def test_run_serves_healthz_then_sigterm_exits_0(venv: Path, daemon: tuple[subprocess.Popen[str], int, Path]) -> None:
    proc, port, cfg = daemon
    deadline = time.monotonic() + 30
    while _healthz(port) != 200:
        assert proc.poll() is None, f"dxagent run exited {proc.returncode}: {proc.communicate()[1]}"
        assert time.monotonic() < deadline, "no /healthz within 30 s"
        time.sleep(0.2)
    time.sleep(1.5)  # a run of each check, so the snapshot and history have data
    # the status page's templates and the report templates ship in the wheel
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
        html = page.read().decode()
    assert page.status == 200 and "UBND xã Cài Đặt" in html and "host" in html
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/report", timeout=30) as report_page:
        assert report_page.status == 200 and "<html" in report_page.read().decode().lower()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as metrics:
        assert b"dxagent_check_status" in metrics.read()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    # the daemon's state serves `dxagent report` from the same venv
    report = dxagent(venv, "report", "--config", str(cfg), "--format", "json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["site"]["id"] == "hn-installed"
    reload = dxagent(venv, "reload", "--config", str(cfg))  # no daemon left: a clear message, not a crash
    assert reload.returncode != 0 and reload.stderr.strip()


def test_report_on_the_json_of_one_check_run(venv: Path, tmp_path: Path) -> None:
    port = free_port()
    cfg = _config(tmp_path, port)
    check = dxagent(venv, "check", "--config", str(cfg), "--format", "json")
    assert check.returncode in (0, 1, 2, 3)
    snap = tmp_path / "check.json"
    snap.write_text(check.stdout, encoding="utf-8")
    for fmt in ("json", "html", "md", "csv"):
        proc = dxagent(venv, "report", "--config", str(cfg), "--snapshot", str(snap), "--format", fmt)
        assert proc.returncode == 0, f"--format {fmt}: {proc.stderr}"
        assert proc.stdout.strip()
    doc = json.loads(dxagent(venv, "report", "--config", str(cfg), "--snapshot", str(snap), "--format", "json").stdout)
    assert doc["site"]["id"] == "hn-installed"


def test_inventory_runs(venv: Path, tmp_path: Path) -> None:
    proc = dxagent(venv, "inventory", "--config", "builtin", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)


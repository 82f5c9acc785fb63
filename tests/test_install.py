"""scripts/install in a throwaway root: layout, idempotence, config kept, upgrade checks, rollback, uninstall.

The release venv is installed from a wheel built here with `--no-deps --no-index` (tests never
reach a package index); the dependencies come from the test environment via PYTHONPATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "install"
PREFIX = "/opt/dxagent"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
                   check=True, timeout=300)
    return next(out.glob("dxagent-*.whl"))


def install(root: Path, wheel: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    proc = subprocess.run(["bash", str(SCRIPT), "--root", str(root), "--no-user", "--wheel", str(wheel),
                           "--pip-args", "--no-deps --no-index", *extra],
                          capture_output=True, text=True, timeout=600, env=env)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_install_upgrade_rollback_uninstall(tmp_path: Path, wheel: Path) -> None:
    root = tmp_path / "root"
    install(root, wheel, "--template", "full")
    opt = root / PREFIX.lstrip("/")
    venv = opt / "venv"
    assert venv.is_symlink() and (venv / "bin" / "dxagent").exists()
    config = root / "etc/dxagent/dxagent.yml"
    assert config.exists() and (root / "etc/dxagent/dxagent.yml.example").exists()
    unit = (root / "etc/systemd/system/dxagent.service").read_text()
    assert f"ExecStart={PREFIX}/venv/bin/dxagent run --config /etc/dxagent/dxagent.yml" in unit
    assert (root / "etc/systemd/system/dxagent-report.timer").exists()
    assert (opt / "share/doc/operations.md").exists() or (opt / "share/doc/deployment.md").exists() or any((opt / "share/doc").iterdir())

    # the operator edits the config; an upgrade keeps it and switches to a new release
    config.write_text(config.read_text() + "\n# edited by the site\n")
    edited = config.read_text()
    first = os.readlink(venv)
    time.sleep(1.1)  # releases are named by the second
    install(root, wheel)
    assert config.read_text() == edited
    second = os.readlink(venv)
    assert second != first and Path(first).exists()  # the previous release is kept for rollback

    # an upgrade that would reject the existing config is refused and changes nothing
    config.write_text("site: {id: x}\nbogus: 1\n")
    time.sleep(1.1)
    proc = install(root, wheel, check=False)
    assert proc.returncode != 0 and "rejects" in proc.stderr and "bogus" in proc.stderr
    assert os.readlink(venv) == second
    config.write_text(edited)

    # rollback goes to the previous release
    proc = subprocess.run(["bash", str(SCRIPT), "--root", str(root), "--rollback"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert os.readlink(venv) == first

    # history survives uninstall; purge removes it
    state = root / "var/lib/dxagent"
    (state / "history.sqlite").write_bytes(b"x")
    proc = subprocess.run(["bash", str(SCRIPT), "--root", str(root), "--uninstall"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert not opt.exists() and not (root / "etc/systemd/system/dxagent.service").exists()
    assert config.exists() and (state / "history.sqlite").exists()
    proc = subprocess.run(["bash", str(SCRIPT), "--root", str(root), "--uninstall", "--purge"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not config.exists() and not state.exists()


def test_bad_option_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run(["bash", str(SCRIPT), "--root", str(tmp_path), "--frobnicate"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "unknown option --frobnicate" in proc.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_installed_units_verify(tmp_path: Path) -> None:
    """The units as installed (prefix substituted) pass `systemd-analyze verify`."""
    exe = Path(sysconfig.get_paths()["scripts"]) / "dxagent"
    for name in ("dxagent.service", "dxagent-report.service", "dxagent-report.timer"):
        text = (ROOT / "systemd" / name).read_text().replace(f"{PREFIX}/venv/bin/dxagent", str(exe))
        (tmp_path / name).write_text(text)
    for name in ("dxagent.service", "dxagent-report.service", "dxagent-report.timer"):
        proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / name)], capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)
        assert proc.returncode == 0 and not proc.stderr.strip(), f"{name}: {proc.stderr}"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_service_exposure_is_ok() -> None:
    proc = subprocess.run(["systemd-analyze", "security", "--offline=true", str(ROOT / "systemd" / "dxagent.service")],
                          capture_output=True, text=True, timeout=60)
    line = next(ln for ln in proc.stdout.splitlines() if "Overall exposure level" in ln)
    score = float(line.split(":")[1].split()[0])
    assert score <= 2.0, line

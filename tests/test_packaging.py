"""The wheel carries every package and data file, and an installed (non-editable) copy runs."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (whl,) = out.glob("dxagent-*.whl")
    return whl


def test_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("dxagent/__init__.py", "dxagent/cli.py", "dxagent/checks/__init__.py", "dxagent/checks/tcp.py",
                     "dxagent/defaults/default.yml", "dxagent/schemas/results.schema.json",
                     "dxagent/exporters/__init__.py", "dxagent/alerts/__init__.py", "dxagent/reports/__init__.py",
                     "dxagent/daemon/statuspage/templates/page.html.j2", "dxagent/daemon/statuspage/templates/page.js"):
        assert required in names, required
    assert not any(n.startswith(("agent/", "checks/", "tests/")) for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "dxagent = dxagent.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
    # every kind module in the registry is in the wheel
    from dxagent import checks

    for module in checks.KINDS.values():
        path = module.replace(".", "/")
        assert f"{path}.py" in names or f"{path}/__init__.py" in names, module


def test_installed_wheel_runs(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target), "DXAGENT_CONFIG": "builtin", "NO_COLOR": "1"}
    code = "import dxagent, sys; print(dxagent.__file__); sys.exit(0)"
    where = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert where.stdout.strip().startswith(str(target)), where.stdout
    proc = subprocess.run([sys.executable, "-m", "dxagent", "check", "--only", "system", "--format", "json"], env=env,
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode in (0, 1, 2), proc.stderr
    assert '"kind": "system"' in proc.stdout


def test_version_matches_pyproject(wheel: Path) -> None:
    """`dxagent.__version__` is written in the code (no importlib.metadata at run time); it must
    stay equal to the version the wheel is built with."""
    import tomllib

    import dxagent

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert dxagent.__version__ == declared
    assert wheel.name.startswith(f"dxagent-{declared}-")

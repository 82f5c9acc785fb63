"""`dxagent alerts export DIR`: writes the verified files; the exported copies still pass promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

from click.testing import CliRunner

from dxagent import alerts
from dxagent.cli import cli
from tests.promtools import need


def test_export_writes_every_file_and_they_check(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    result = CliRunner().invoke(cli, ["alerts", "export", str(out)])
    assert result.exit_code == 0, result.output
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == sorted(alerts.bundle())
    assert {"prometheus/prometheus.yml", "prometheus/rules.yml", "prometheus/recording.yml",
            "alertmanager/alertmanager.yml"} <= set(files)
    assert any(f.startswith("grafana/") and f.endswith(".json") for f in files)
    assert (out / "prometheus/rules.yml").read_text(encoding="utf-8") == \
        alerts.resource("rules.yml").read_text(encoding="utf-8")
    promtool = need("promtool")
    done = subprocess.run([promtool, "test", "rules", *sorted(p.name for p in (out / "prometheus/tests").glob("*.yml"))],
                          cwd=out / "prometheus/tests", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_runbook_base_makes_links_absolute_and_tests_follow(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    base = "https://git.tinh.example/dxagent/-/blob/main"
    result = CliRunner().invoke(cli, ["alerts", "export", str(out), "--runbook-base", base])
    assert result.exit_code == 0, result.output
    rules = (out / "prometheus/rules.yml").read_text(encoding="utf-8")
    assert f"runbook_url: {base}/docs/runbooks/site-uplink-down.md" in rules
    assert "runbook_url: docs/" not in rules
    promtool = need("promtool")
    done = subprocess.run([promtool, "test", "rules", "portals.yml", "network.yml"], cwd=out / "prometheus/tests",
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_refuses_to_overwrite_and_bad_base(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["alerts", "export", str(tmp_path)]).exit_code == 0
    again = runner.invoke(cli, ["alerts", "export", str(tmp_path)])
    assert again.exit_code == 2 and "--force" in again.output
    assert runner.invoke(cli, ["alerts", "export", str(tmp_path), "--force"]).exit_code == 0
    bad = runner.invoke(cli, ["alerts", "export", str(tmp_path / "x"), "--runbook-base", "docs"])
    assert bad.exit_code == 2 and "http" in bad.output

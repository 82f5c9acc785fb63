"""The Alertmanager example: amtool accepts it, routes by province and severity as documented, and
its inhibition rules name alerts that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dxagent import alerts
from tests.alerts import promql

CONFIG = Path(alerts.resource(alerts.ALERTMANAGER_FILE))  # type: ignore[arg-type]


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("amtool")
    if binary is None:
        pytest.skip("needs amtool (Debian package prometheus-alertmanager)")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)


def test_amtool_check_config() -> None:
    done = amtool("check-config", str(CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout and "4 inhibit rules" in done.stdout


@pytest.mark.parametrize(("labels", "receivers"), [
    ({"alertname": "SiteUplinkDown", "province": "ha-noi", "severity": "critical"}, "ha-noi-oncall"),
    ({"alertname": "SiteUplinkDegraded", "province": "ha-noi", "severity": "warning"}, "ha-noi-it"),
    ({"alertname": "WorkstationCoverageLow", "province": "hai-phong", "severity": "info"}, "hai-phong-digest"),
    ({"alertname": "PortalUnreachableInProvince", "province": "ha-noi", "severity": "critical"},
     "fleet-noc,ha-noi-oncall"),
    ({"alertname": "DxagentDown", "severity": "critical"}, "fleet-noc"),
    ({"alertname": "DxagentDown", "province": "quang-ninh", "severity": "critical"}, "fleet-noc"),
])
def test_routing(labels: dict[str, str], receivers: str) -> None:
    done = amtool("config", "routes", "test", f"--config.file={CONFIG}", *(f"{k}={v}" for k, v in labels.items()))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == receivers


def test_inhibitions_name_real_alerts_and_labels() -> None:
    doc = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    names = {r["alert"] for r in promql.alerting_rules()}
    labels_of = {}
    for rule in promql.alerting_rules():
        labels_of.setdefault(rule["alert"], set()).update(re.findall(r"\b(province|site_id|target)\b", rule["expr"]))
    assert len(doc["inhibit_rules"]) == 4
    for rule in doc["inhibit_rules"]:
        for key in ("source_matchers", "target_matchers"):
            for matcher in rule[key]:
                m = re.fullmatch(r'alertname(=~|=)"(.*)"', matcher)
                assert m, matcher
                pattern = m.group(2) if m.group(1) == "=~" else re.escape(m.group(2))
                hit = {n for n in names if re.fullmatch(pattern, n)}
                assert hit, f"{matcher} matches no alert of rules.yml"
    # the portal inhibition: the province alert mutes the per-site ones with the same province/target
    portal = doc["inhibit_rules"][0]
    assert portal["equal"] == ["province", "target"]
    assert portal["source_matchers"] == ['alertname="PortalUnreachableInProvince"']
    assert doc["route"]["group_by"] == ["alertname", "province", "target"]


def test_secrets_are_files_not_inline() -> None:
    text = CONFIG.read_text(encoding="utf-8")
    assert "smtp_auth_password_file" in text and "credentials_file" in text
    assert not re.search(r"(smtp_auth_password|credentials|password):\s*\S", text.replace("_file:", "_file_:"))

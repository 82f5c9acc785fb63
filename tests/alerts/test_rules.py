"""The packaged Prometheus rules: promtool clean, promtool unit tests pass, and every alert is
tested both firing and quiet, uses real metric names, carries severity and bilingual annotations
and links an existing runbook."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from dxagent import alerts
from tests.alerts import promql
from tests.promtools import need

ROOT = Path(__file__).resolve().parents[2]
ALERTS_DIR = ROOT / "alerts"
TEST_FILES = sorted((ALERTS_DIR / "tests").glob("*.yml"))


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([need("promtool"), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_promtool_check_rules_is_clean() -> None:
    done = promtool("check", "rules", *(str(ALERTS_DIR / f) for f in alerts.RULE_FILES))
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "SUCCESS" in out and "lint" not in out.lower() and "warning" not in out.lower(), out


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests(path: Path) -> None:
    done = promtool("test", "rules", path.name, cwd=path.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def _cases() -> list[tuple[str, bool]]:
    """(alertname, fires) for every alert_rule_test case of every promtool test file."""
    out = []
    for path in TEST_FILES:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for test in doc["tests"]:
            for case in test.get("alert_rule_test", []):
                out.append((case["alertname"], bool(case.get("exp_alerts"))))
    return out


def test_every_alert_is_tested_firing_and_quiet() -> None:
    cases = _cases()
    names = {r["alert"] for r in promql.alerting_rules()}
    assert names, "no alerting rules found"
    untested = {n for n in names if (n, True) not in cases}
    never_quiet = {n for n in names if (n, False) not in cases}
    assert not untested, f"alerts never shown firing in alerts/tests: {sorted(untested)}"
    assert not never_quiet, f"alerts never shown quiet in alerts/tests: {sorted(never_quiet)}"
    assert {n for n, _ in cases} <= names, "a promtool test names an alert that does not exist"


def test_the_issue_s_alerts_exist() -> None:
    names = {r["alert"] for r in promql.alerting_rules()}
    assert {"DxagentDown", "DxagentResultsStale", "SiteUplinkDown", "SiteUplinkDegraded", "PortalUnreachableFromSite",
            "PortalUnreachableInProvince", "CertificateExpiringSoon", "CertificateExpiryImminent", "CertificateExpired",
            "CertificateInvalid", "SNMPInterfaceDown", "SNMPInterfaceErrors", "SNMPInterfaceSaturated",
            "WorkstationCoverageLow", "AgentHostDiskPressure", "AgentHostMemoryPressure", "ClockOffsetHigh",
            "ReadinessScoreDropped"} <= names


def _minutes(duration: str) -> float:
    units = {"s": 1 / 60, "m": 1, "h": 60, "d": 1440}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", duration))


@pytest.mark.parametrize("rule", promql.alerting_rules(), ids=lambda r: f"{r['alert']}-{r['labels'].get('symptom', '')}")
def test_alert_shape(rule: dict) -> None:
    assert rule["labels"]["severity"] in ("critical", "warning", "info")
    assert _minutes(rule.get("for", "0s")) >= 2, "a `for:` of at least 2 minutes keeps one bad scrape from paging"
    ann = rule["annotations"]
    assert set(ann) == {"summary", "description", "summary_vi", "description_vi", "runbook_url"}
    # Vietnamese text is really Vietnamese (diacritics), not a copy of the English one.
    for key in ("summary_vi", "description_vi"):
        assert re.search(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", ann[key]), (key, ann[key])
        assert ann[key] != ann[key.removesuffix("_vi")]
    runbook = ROOT / ann["runbook_url"]
    assert runbook.is_file(), f"missing runbook {ann['runbook_url']}"
    text = runbook.read_text(encoding="utf-8")
    assert rule["alert"] in text
    assert "## English" in text and "## Tiếng Việt" in text


def test_expressions_use_real_metric_names() -> None:
    exprs = [r["expr"] for g in promql.rule_groups() for r in g["rules"]]
    assert not promql.unknown_metrics(exprs)
    # the helper itself must see names, including a wrong one
    assert promql.metric_names('max(dxagent_no_such_metric{check="a:b"}[5m]) by (job)') == {"dxagent_no_such_metric"}
    assert promql.unknown_metrics(["dxagent_no_such_metric"]) == {"dxagent_no_such_metric": {"dxagent_no_such_metric"}}


def test_site_alerts_carry_province_and_site() -> None:
    """Site-level alerts join dxagent_site_info; province-level ones aggregate by province."""
    for rule in promql.alerting_rules():
        expr = rule["expr"]
        assert "instance:dxagent_site_info:last1d" in expr or "by (province" in expr or "province_target:" in expr, \
            rule["alert"]

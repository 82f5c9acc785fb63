"""Early warning: Prometheus alerting and recording rules, the Alertmanager example, Grafana
dashboards (all package data, deployed with `dxagent alerts export DIR`) and the local notifier
for sites without a central Prometheus (`dxagent.alerts.notifier`).

The rule and dashboard files are data, not code: they are read from the installed package so the
exported copies are exactly what the tests ran against.
"""

from __future__ import annotations

import importlib.resources
from importlib.resources.abc import Traversable

__all__ = ["RULE_FILES", "PROMETHEUS_FILE", "ALERTMANAGER_FILE", "DASHBOARD_DIR", "PROMTOOL_TEST_DIR", "resource", "bundle"]

RULE_FILES = ("recording.yml", "rules.yml")
PROMETHEUS_FILE = "prometheus.yml"
ALERTMANAGER_FILE = "alertmanager.yml"
DASHBOARD_DIR = "dashboards"
PROMTOOL_TEST_DIR = "tests"


def resource(*parts: str) -> Traversable:
    """A file or folder of the installed `dxagent.alerts` package data."""
    node: Traversable = importlib.resources.files(__name__)
    for part in parts:
        node = node.joinpath(part)
    return node


def bundle() -> dict[str, str]:
    """Every deployable file (relative path → text): Prometheus example, rules and their promtool tests,
    the Alertmanager example, dashboards. Relative paths inside them (rule_files, ../rules.yml) hold."""
    out: dict[str, str] = {}
    for name in (PROMETHEUS_FILE, *RULE_FILES):
        out[f"prometheus/{name}"] = resource(name).read_text(encoding="utf-8")
    out[f"alertmanager/{ALERTMANAGER_FILE}"] = resource(ALERTMANAGER_FILE).read_text(encoding="utf-8")
    for folder, target in ((PROMTOOL_TEST_DIR, "prometheus/tests"), (DASHBOARD_DIR, "grafana")):
        node = resource(folder)
        if not node.is_dir():
            continue
        for item in sorted(node.iterdir(), key=lambda t: t.name):
            if item.is_file() and item.name.endswith((".yml", ".json")):
                out[f"{target}/{item.name}"] = item.read_text(encoding="utf-8")
    return out

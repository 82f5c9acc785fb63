"""Helpers for the alerts tests: the metric names PromQL expressions use, and the names that exist.

Why: rules and dashboards must use the metric names the code really emits. The known set is
built from the code itself (the exporter's GENERIC families, each kind's METRICS, the readiness
METRICS) plus the recording rules, so a renamed sample breaks these tests instead of silently
emptying an alert or a panel.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import yaml

from dxagent import alerts, checks
from dxagent.exporters.prometheus import GENERIC, PROCESS
from dxagent.reports.metrics import METRICS as READINESS_METRICS

# Series Prometheus itself or the Pushgateway adds; rules may use them.
FOREIGN = {"up", "push_time_seconds", "ALERTS", "ALERTS_FOR_STATE", "scrape_samples_scraped"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_NAME = re.compile(r"(?<![\w:$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?=\s*(?:\{|\[|\)|$|\s|offset|[-+*/<>=!,]))")


def rule_groups() -> list[dict]:
    """Every rule group of the packaged rule files."""
    groups = []
    for name in alerts.RULE_FILES:
        groups += yaml.safe_load(alerts.resource(name).read_text(encoding="utf-8"))["groups"]
    return groups


def alerting_rules() -> list[dict]:
    return [r for g in rule_groups() for r in g["rules"] if "alert" in r]


def recorded_names() -> set[str]:
    return {r["record"] for g in rule_groups() for r in g["rules"] if "record" in r}


def known_metrics() -> set[str]:
    """Every series name the agent can emit, recorded series, and Prometheus' own."""
    names = set(GENERIC) | set(PROCESS) | {"dxagent_" + n for n in READINESS_METRICS}
    for kind in checks.KINDS:
        names |= {"dxagent_" + n for n in getattr(checks.module(kind), "METRICS", {})}
    return names | recorded_names() | FOREIGN


def metric_names(expr: str) -> set[str]:
    """Series names an expression selects (dxagent_*, recorded level:metric:ops names, foreign ones)."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^{}]*\}", "{}", text)                       # label matchers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", "", text)
    found = set()
    for m in _NAME.finditer(text):
        token = m.group(1)
        if token.startswith("dxagent") or ":" in token or token in FOREIGN:
            found.add(token)
    return found


def unknown_metrics(exprs: Iterable[str]) -> dict[str, set[str]]:
    known = known_metrics()
    out = {}
    for expr in exprs:
        missing = metric_names(expr) - known
        if missing:
            out[expr] = missing
    return out

"""The metric families dxagent exposes, as data, and docs/metrics.md generated from them.

GENERIC lists the series every check gets plus the agent's own state, PROCESS the series of
prometheus_client's ProcessCollector; each check kind declares its samples in `METRICS`. The
collector (exporters/prometheus.py) emits these names, and a test keeps docs/metrics.md equal
to `doc_markdown()` and to what the collector emits.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Sequence

from dxagent.history.writer import METRICS as STATE_METRICS

__all__ = ["Family", "GENERIC", "PROCESS", "EXTRA_KINDS", "declared_metrics", "doc_markdown", "main"]


@dataclasses.dataclass(frozen=True)
class Family:
    """A metric family as exposed in the text format: sample name, type (gauge, counter, info), help, labels."""

    name: str
    type: str
    help: str
    labels: tuple[str, ...] = ()


_CHECK_LABELS = ("check", "kind", "target")
# The series every check gets, plus the agent's own state. Order here is exposition order.
GENERIC: dict[str, Family] = {f.name: f for f in (
    Family("dxagent_check_status", "gauge",
           "Status of the last run per target: 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN.", _CHECK_LABELS),
    Family("dxagent_check_success", "gauge",
           "1 when the last run's status was OK or WARN (the target works), else 0.", _CHECK_LABELS),
    Family("dxagent_check_failure_info", "info",
           "Present (value 1) while the last run was not OK; `reason` is one of a fixed set "
           "(dns, connect, timeout, tls, status, content, auth, permission, config, internal, threshold, down).",
           (*_CHECK_LABELS, "reason")),
    Family("dxagent_check_duration_seconds", "gauge", "Wall time of the last run, retries included.", _CHECK_LABELS),
    Family("dxagent_check_last_run_timestamp_seconds", "gauge", "When the last run started (Unix time).",
           _CHECK_LABELS),
    Family("dxagent_check_attempts", "gauge", "Attempts the last run took (1 + retries used).", _CHECK_LABELS),
    Family("dxagent_check_interval_seconds", "gauge", "Configured interval of the check.", ("check", "kind")),
    Family("dxagent_check_skipped_runs_total", "counter",
           "Scheduled runs skipped because the previous run was still going or the agent was too late.",
           ("check", "kind")),
    Family("dxagent_checks_configured", "gauge", "Enabled checks in the running configuration.", ()),
    Family("dxagent_config_last_reload_successful", "gauge",
           "1 if the last configuration (re)load succeeded, 0 if the new file was rejected.", ()),
    Family("dxagent_config_last_reload_success_timestamp_seconds", "gauge",
           "When the running configuration was loaded (Unix time).", ()),
    Family("dxagent_site_info", "info", "Identity of the site this agent speaks for.",
           ("site_id", "site_name", "province", "level")),
    Family("dxagent_build_info", "info", "Version of dxagent and of the Python running it.",
           ("version", "python_version")),
)}
# The daemon's state-folder series (writable, write failures, buffered and dropped results), declared
# beside the history writer that counts them; the daemon passes their samples in ScrapeView.agent.
GENERIC.update({name: Family(name, typ, text, labels) for name, typ, text, labels in STATE_METRICS})

# The families of prometheus_client's ProcessCollector (Linux); a test keeps names and help equal to it.
PROCESS: dict[str, Family] = {f.name: f for f in (
    Family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."),
    Family("process_open_fds", "gauge", "Number of open file descriptors."),
    Family("process_max_fds", "gauge", "Maximum number of open file descriptors."),
    Family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes."),
    Family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes."),
    Family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds."),
)}

# Result kinds that are not check kinds: the daemon's readiness evaluation (reports/metrics.py).
EXTRA_KINDS = {"readiness": "dxagent.reports.metrics"}


def declared_metrics(kind: str) -> dict[str, str]:
    """A kind's METRICS (sample name → help), from its check module or EXTRA_KINDS; {} if unknown."""
    from dxagent import checks

    try:
        module = importlib.import_module(EXTRA_KINDS[kind]) if kind in EXTRA_KINDS else checks.module(kind)
    except (KeyError, ImportError):
        return {}
    return dict(getattr(module, "METRICS", {}))


def _kinds_docs() -> list[tuple[str, dict[str, str]]]:
    from dxagent import checks

    return [(kind, declared_metrics(kind)) for kind in sorted([*checks.KINDS, *EXTRA_KINDS])]


def doc_markdown() -> str:
    """docs/metrics.md: every family the exporter can emit (a test compares file and code)."""
    lines = [
        "# dxagent metrics",
        "",
        "<!-- Generated by `python -m dxagent.exporters.prometheus --doc > docs/metrics.md`; a test keeps it",
        "     equal to the exporter. Edit the code (GENERIC, each kind's METRICS), not this file. -->",
        "",
        "Served by `dxagent run` on `/metrics` (Prometheus text format, or OpenMetrics when the scraper",
        "asks for it) and pushed to a Pushgateway when `push.url` is set. Every series also carries the",
        "constant `labels` of the config; check series carry the check's own `labels` too.",
        "Status codes: 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN. No summary or other free text is ever a label.",
        "",
        "## Generic series",
        "",
        "| metric | type | labels | meaning |",
        "|---|---|---|---|",
    ]
    for fam in GENERIC.values():
        lines.append(f"| `{fam.name}` | {fam.type} | {', '.join(f'`{x}`' for x in fam.labels) or '-'} | {fam.help} |")
    lines += ["", "## Process", "", "The series of prometheus_client's ProcessCollector (Linux), read from /proc.", "",
              "| metric | type | meaning |", "|---|---|---|"]
    for fam in PROCESS.values():
        lines.append(f"| `{fam.name}` | {fam.type} | {fam.help} |")
    lines += ["", "## Per kind", "",
              "Each sample a check kind declares becomes `dxagent_<name>` with the labels `check`, `kind`,",
              "`target` and the sample's own labels. Names ending in `_total` are counters, the rest gauges.", ""]
    for kind, metrics in _kinds_docs():
        lines += [f"### `{kind}`", ""]
        if not metrics:
            lines += ["(no kind-specific samples)", ""]
            continue
        lines += ["| metric | type | meaning |", "|---|---|---|"]
        for name in sorted(metrics):
            kind_type = "counter" if name.endswith("_total") else "gauge"
            lines.append(f"| `dxagent_{name}` | {kind_type} | {metrics[name]} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m dxagent.exporters.prometheus --doc` prints docs/metrics.md."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["--doc"]:
        print("usage: python -m dxagent.exporters.prometheus --doc > docs/metrics.md", file=sys.stderr)
        return 2
    sys.stdout.write(doc_markdown())
    return 0

"""The Prometheus collector: the latest Results become metric families at scrape time.

Nothing is set from inside checks and nothing carries over between scrapes, so a check or a
target removed from the config disappears from the next scrape. For a check `gw` of kind `tcp`
(site label `zone="north"` from the config) a scrape contains, among others::

    # HELP dxagent_check_status Status of the last run per target: 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN.
    # TYPE dxagent_check_status gauge
    dxagent_check_status{check="gw",kind="tcp",target="10.0.0.1:22",zone="north"} 2
    # TYPE dxagent_check_failure_info gauge
    dxagent_check_failure_info{check="gw",kind="tcp",target="10.0.0.1:22",reason="timeout",zone="north"} 1
    # TYPE dxagent_tcp_connect_success gauge
    dxagent_tcp_connect_success{check="gw",kind="tcp",target="10.0.0.1:22",zone="north"} 0

Rendering is written out here rather than through prometheus_client's generic exposition,
which costs ~11 ms (text) and ~15 ms (OpenMetrics) for 2,000 series on the lab machine: the
sample lines of each Result are the same in both formats and are cached per Result object, so a
scrape only joins strings for results that did not change. `python -m dxagent.exporters.prometheus
--doc` prints docs/metrics.md, which a test keeps equal to what this module emits.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import platform
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dxagent import __version__
from dxagent.history.writer import METRICS as STATE_METRICS
from dxagent.model import Result, Sample, Status

__all__ = [
    "GENERIC", "PROCESS", "Family", "ScrapeView", "Exporter", "doc_markdown",
    "CONTENT_TYPE_TEXT", "CONTENT_TYPE_OPENMETRICS", "wants_openmetrics",
]

log = logging.getLogger(__name__)

CONTENT_TYPE_TEXT = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class Family:
    """A metric family as exposed: sample name, type (gauge, counter, info), help, label names."""

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

# The families of prometheus_client's ProcessCollector (Linux), same names and help; see process_values().
PROCESS: dict[str, Family] = {f.name: f for f in (
    Family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."),
    Family("process_open_fds", "gauge", "Number of open file descriptors."),
    Family("process_max_fds", "gauge", "Maximum number of open file descriptors."),
    Family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes."),
    Family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes."),
    Family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds."),
)}


@dataclasses.dataclass(frozen=True)
class ScrapeView:
    """What one scrape reads: the latest results and the running config, taken together.

    `generation` changes whenever the config does, which invalidates cached sample lines (check
    and constant labels may have changed). `checks` maps enabled check ids to their configs:
    results of other ids are not exported. `agent` holds the daemon's own samples
    (reload state, skipped runs) keyed by GENERIC family name.
    """

    results: Sequence[Result]
    checks: Mapping[str, Any]
    site: Any = None
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    generation: int = 0
    agent: Mapping[str, Sequence[Sample]] = dataclasses.field(default_factory=dict)


def _fmt(value: float) -> str:
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{_esc(v)}"' for k, v in pairs)


def _sample_family(kind: str, sample: Sample, declared: Mapping[str, str]) -> Family | None:
    name = "dxagent_" + sample.name
    if name in GENERIC or not _NAME.match(name):
        return None
    kind_type = "counter" if name.endswith("_total") else "gauge"
    help_text = declared.get(sample.name) or f"Undeclared sample of kind {kind} (a defect: declare it in METRICS)."
    return Family(name, kind_type, help_text, ())


class Exporter:
    """Renders a ScrapeView in the Prometheus text format or OpenMetrics; one per daemon."""

    def __init__(self, process: bool = True) -> None:
        self._cache: dict[int, tuple[Result, dict[str, list[str]]]] = {}
        self._generation: int | None = None
        self._help: dict[str, Mapping[str, str]] = {}
        self._warned: set[tuple[str, str]] = set()
        self._process = process and _proc_available()

    def _declared(self, kind: str) -> Mapping[str, str]:
        if kind not in self._help:
            self._help[kind] = _declared_metrics(kind)
        return self._help[kind]

    def _warn_once(self, kind: str, what: str, message: str, *args: Any) -> None:
        if (kind, what) not in self._warned:
            self._warned.add((kind, what))
            log.warning(message, *args)

    def _result_lines(self, r: Result, check: Any, const: str, families: dict[str, Family]) -> dict[str, list[str]]:
        """Sample lines of one result, per family name (cached while the result and config stay)."""
        extra = [(k, v) for k, v in sorted((getattr(check, "labels", None) or {}).items())]
        base = _labels([("check", r.check_id), ("kind", r.kind), ("target", r.target), *extra])
        tail = f",{const}" if const else ""
        lab = "{" + base + tail + "}"
        out: dict[str, list[str]] = {
            "dxagent_check_status": [f"dxagent_check_status{lab} {int(r.status)}"],
            "dxagent_check_success": [f"dxagent_check_success{lab} {1 if r.status <= Status.WARN else 0}"],
            "dxagent_check_duration_seconds": [f"dxagent_check_duration_seconds{lab} {_fmt(r.duration)}"],
            "dxagent_check_last_run_timestamp_seconds": [
                f"dxagent_check_last_run_timestamp_seconds{lab} {_fmt(round(r.started, 3))}"],
            "dxagent_check_attempts": [f"dxagent_check_attempts{lab} {r.attempts}"],
        }
        if r.status != Status.OK and r.reason is not None:
            reason = _labels([("check", r.check_id), ("kind", r.kind), ("target", r.target), ("reason", r.reason.value),
                              *extra])
            out["dxagent_check_failure_info"] = [f"dxagent_check_failure_info{{{reason}{tail}}} 1"]
        declared = self._declared(r.kind)
        fixed = {"check", "kind", "target", *(k for k, _ in extra)}
        for s in r.samples:
            fam = _sample_family(r.kind, s, declared)
            if fam is None:
                self._warn_once(r.kind, s.name, "kind %s emits sample %r, which is not a valid or free metric name; "
                                "dropped", r.kind, s.name)
                continue
            if s.name not in declared:
                self._warn_once(r.kind, s.name, "kind %s emits sample %r without a METRICS declaration (a defect)",
                                r.kind, s.name)
            own = [(k, v) for k, v in s.labels if k not in fixed and _LABEL.match(k) and not k.startswith("__")]
            if len(own) != len(s.labels):
                self._warn_once(r.kind, s.name + "{}", "kind %s sample %r has labels clashing with check labels or "
                                "invalid; those labels are dropped", r.kind, s.name)
            labels = _labels([("check", r.check_id), ("kind", r.kind), ("target", r.target), *own, *extra])
            families.setdefault(fam.name, fam)
            out.setdefault(fam.name, []).append(f"{fam.name}{{{labels}{tail}}} {_fmt(s.value)}")
        return out

    def collect(self, view: ScrapeView) -> list[tuple[Family, list[str]]]:
        """Families with their sample lines, built from this view only (nothing from earlier scrapes)."""
        if view.generation != self._generation:
            self._cache.clear()
            self._generation = view.generation
        const_pairs = sorted(view.labels.items())
        const = _labels(const_pairs)
        tail = f",{const}" if const else ""
        kind_families: dict[str, Family] = {}
        lines: dict[str, list[str]] = {name: [] for name in GENERIC}
        seen: dict[str, set[str]] = {}
        cache: dict[int, tuple[Result, dict[str, list[str]]]] = {}
        for r in view.results:
            check = view.checks.get(r.check_id)
            if check is None:
                continue  # removed from the config: never exported again
            hit = self._cache.get(id(r))
            if hit is not None and hit[0] is r:
                per = hit[1]
                for name in per:
                    if name not in GENERIC and name not in kind_families:
                        kind_families[name] = self._family_for(name, r.kind)
            else:
                per = self._result_lines(r, check, const, kind_families)
            cache[id(r)] = (r, per)
            for name, items in per.items():
                bucket = lines.setdefault(name, [])
                if len(items) == 1 and name in GENERIC:
                    key = items[0].rpartition(" ")[0]
                    s = seen.setdefault(name, set())
                    if key in s:
                        continue
                    s.add(key)
                    bucket.append(items[0])
                    continue
                s = seen.setdefault(name, set())
                for line in items:
                    key = line.rpartition(" ")[0]
                    if key not in s:
                        s.add(key)
                        bucket.append(line)
        self._cache = cache
        self._agent_lines(view, lines, tail)
        out = [(fam, lines[name]) for name, fam in GENERIC.items() if lines[name]]
        out += [(kind_families[name], lines[name]) for name in sorted(kind_families) if lines.get(name)]
        out += self._process_families(const_pairs)
        return out

    def _family_for(self, name: str, kind: str) -> Family:
        sample = name.removeprefix("dxagent_")
        fam = _sample_family(kind, Sample(sample, 0.0), self._declared(kind))
        return fam or Family(name, "gauge", "")

    def _agent_lines(self, view: ScrapeView, lines: dict[str, list[str]], tail: str) -> None:
        for name, samples in view.agent.items():
            for s in samples:
                body = _labels(s.labels)
                inner = body + tail if body else tail.lstrip(",")
                lines[name].append(f"{name}{{{inner}}} {_fmt(s.value)}" if inner else f"{name} {_fmt(s.value)}")
        site = view.site
        if site is not None:
            pairs = [("site_id", site.id), ("site_name", site.name), ("province", site.province), ("level", site.level)]
            lines["dxagent_site_info"].append(f"dxagent_site_info{{{_labels(pairs)}{tail}}} 1")
        build = [("version", __version__), ("python_version", platform.python_version())]
        lines["dxagent_build_info"].append(f"dxagent_build_info{{{_labels(build)}{tail}}} 1")

    def _process_families(self, const_pairs: list[tuple[str, str]]) -> list[tuple[Family, list[str]]]:
        if not self._process:
            return []
        const = _labels(const_pairs)
        body = "{" + const + "}" if const else ""
        values = process_values()
        return [(fam, [f"{name}{body} {_fmt(values[name])}"]) for name, fam in PROCESS.items() if name in values]

    def render(self, view: ScrapeView, openmetrics: bool = False) -> bytes:
        """The exposition for one scrape, in the requested format."""
        parts: list[str] = []
        for fam, items in self.collect(view):
            parts.append(_header(fam, openmetrics))
            parts.append("\n".join(items))
            parts.append("\n")
        if openmetrics:
            parts.append("# EOF\n")
        return "".join(parts).encode("utf-8")


_PROC = "/proc/self"


def _proc_available() -> bool:
    return os.path.exists(f"{_PROC}/stat")


def _btime() -> float:
    with open("/proc/stat", "rb") as fh:
        for line in fh:
            if line.startswith(b"btime "):
                return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


@functools.cache
def _constants() -> tuple[float, int, float]:
    """Clock ticks, page size and boot time: fixed for the life of the process."""
    return float(os.sysconf("SC_CLK_TCK")), os.sysconf("SC_PAGESIZE"), _btime()


def process_values() -> dict[str, float]:
    """The PROCESS families' values, read from /proc as prometheus_client's ProcessCollector reads them.

    Written out (a dozen lines) because importing prometheus_client for this pulls in its
    exposition, http.server, wsgiref and email: about 1 MiB of the daemon's RSS (bench/bench_daemon.py).
    A family whose file cannot be read is left out of the scrape, as ProcessCollector does.
    """
    out: dict[str, float] = {}
    try:
        ticks, pagesize, btime = _constants()
        with open(f"{_PROC}/stat", "rb") as fh:
            parts = fh.read().rsplit(b")", 1)[-1].split()
        out["process_cpu_seconds_total"] = (int(parts[11]) + int(parts[12])) / ticks
        out["process_virtual_memory_bytes"] = float(parts[20])
        out["process_resident_memory_bytes"] = float(int(parts[21]) * pagesize)
        out["process_start_time_seconds"] = int(parts[19]) / ticks + btime
    except (OSError, ValueError, IndexError):
        pass
    try:
        out["process_open_fds"] = float(len(os.listdir(f"{_PROC}/fd")))
        with open(f"{_PROC}/limits", "rb") as fh:
            for line in fh:
                if line.startswith(b"Max open files"):
                    out["process_max_fds"] = float(line.split()[3])
                    break
    except (OSError, ValueError, IndexError):
        pass
    return out


def _header(fam: Family, openmetrics: bool) -> str:
    if openmetrics:
        name, kind = fam.name, fam.type
        if kind == "counter":
            name = name.removesuffix("_total")
        elif kind == "info":
            name = name.removesuffix("_info")
        help_text = fam.help.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        return f"# TYPE {name} {kind}\n# HELP {name} {help_text}\n"
    kind = "gauge" if fam.type == "info" else fam.type
    help_text = fam.help.replace("\\", "\\\\").replace("\n", "\\n")
    return f"# HELP {fam.name} {help_text}\n# TYPE {fam.name} {kind}\n"


def wants_openmetrics(accept: str) -> bool:
    """Content negotiation as prometheus_client does it: OpenMetrics only when asked for."""
    return any(part.split(";")[0].strip() == "application/openmetrics-text" for part in accept.split(","))


# Result kinds that are not check kinds: the daemon's readiness evaluation (reports/metrics.py).
EXTRA_KINDS = {"readiness": "dxagent.reports.metrics"}


def _declared_metrics(kind: str) -> dict[str, str]:
    """A kind's METRICS (sample name → help), from its check module or EXTRA_KINDS; {} if unknown."""
    import importlib

    from dxagent import checks

    try:
        module = importlib.import_module(EXTRA_KINDS[kind]) if kind in EXTRA_KINDS else checks.module(kind)
    except (KeyError, ImportError):
        return {}
    return dict(getattr(module, "METRICS", {}))


def _kinds_docs() -> list[tuple[str, dict[str, str]]]:
    from dxagent import checks

    return [(kind, _declared_metrics(kind)) for kind in sorted([*checks.KINDS, *EXTRA_KINDS])]


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


if __name__ == "__main__":
    sys.exit(main())

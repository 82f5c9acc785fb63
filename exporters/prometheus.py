"""The Prometheus collector: the latest Results become metric families at scrape time.

`ResultsCollector` is a prometheus_client custom collector. Each `collect()` asks its source
for the current `ScrapeView` and builds the families from it alone, so nothing is set from
inside checks and nothing carries over between scrapes: a check or target removed from the
config is gone from the next scrape. The registry is private to the `Exporter` (never the
library's global one); exposition and content negotiation are prometheus_client's
(`choose_encoder`), and the process series are its `ProcessCollector`.

For a check `gw` of kind `tcp` that timed out (site label `zone="north"` from the config), a
text-format scrape contains, among others::

    # HELP dxagent_check_status Status of the last run per target: 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN.
    # TYPE dxagent_check_status gauge
    dxagent_check_status{check="gw",kind="tcp",target="10.0.0.1:22",zone="north"} 2.0
    # HELP dxagent_check_failure_info Present (value 1) while the last run was not OK; ...
    # TYPE dxagent_check_failure_info gauge
    dxagent_check_failure_info{check="gw",kind="tcp",reason="timeout",target="10.0.0.1:22",zone="north"} 1.0
    # HELP dxagent_tcp_connect_success 1 if the TCP connection was opened, else 0.
    # TYPE dxagent_tcp_connect_success gauge
    dxagent_tcp_connect_success{check="gw",kind="tcp",target="10.0.0.1:22",zone="north"} 0.0
    # HELP process_resident_memory_bytes Resident memory size in bytes.
    # TYPE process_resident_memory_bytes gauge
    process_resident_memory_bytes{zone="north"} 6.1e+07

OpenMetrics (when the scraper asks for it) gives the same samples, with `info` and `counter`
types. `python -m dxagent.exporters.prometheus --doc` prints docs/metrics.md, which a test
keeps equal to what this module emits.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample as PromSample

from dxagent import __version__
from dxagent.exporters.metricsdoc import EXTRA_KINDS, GENERIC, PROCESS, Family, declared_metrics, doc_markdown, main
from dxagent.model import Result, Sample, Status

__all__ = ["GENERIC", "PROCESS", "EXTRA_KINDS", "Family", "ScrapeView", "ResultsCollector", "Exporter",
           "doc_markdown", "main"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class ScrapeView:
    """What one scrape reads: the latest results and the running config, taken together.

    `generation` changes whenever the config does, which drops the samples cached per Result
    (check and constant labels may have changed). `checks` maps enabled check ids to their
    configs: results of other ids are not exported. `agent` holds the daemon's own samples
    (reload state, skipped runs) keyed by GENERIC family name.
    """

    results: Sequence[Result]
    checks: Mapping[str, Any]
    site: Any = None
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    generation: int = 0
    agent: Mapping[str, Sequence[Sample]] = dataclasses.field(default_factory=dict)


# One cached sample: (family name, dedup key, the library's Sample).
_Cached = tuple[str, tuple[str, tuple[tuple[str, str], ...]], PromSample]


def _new_family(fam: Family) -> Metric:
    """The library's family object for one of our Family rows (the names it exposes are fam.name)."""
    if fam.type == "counter":
        return CounterMetricFamily(fam.name, fam.help)  # the library drops `_total` from the family name
    if fam.type == "info":
        return InfoMetricFamily(fam.name.removesuffix("_info"), fam.help)
    return GaugeMetricFamily(fam.name, fam.help)


class ResultsCollector(Collector):
    """Builds the dxagent families from `source()` at every scrape (see the module docstring).

    The library's Sample tuples of each Result are cached while that Result object is the
    latest and the config generation stays: a scrape then only regroups them. `process` is a
    prometheus_client ProcessCollector (or None); its series get the config's constant labels.
    """

    def __init__(self, source: Callable[[], ScrapeView], process: Collector | None = None) -> None:
        self._source = source
        self._process = process
        self._cache: dict[int, tuple[Result, list[_Cached]]] = {}
        self._generation: int | None = None
        self._help: dict[str, Mapping[str, str]] = {}
        self._warned: set[tuple[str, str]] = set()

    def describe(self) -> list[Metric]:
        """Nothing up front: the families depend on the config (registering must not scrape)."""
        return []

    def _declared(self, kind: str) -> Mapping[str, str]:
        if kind not in self._help:
            self._help[kind] = declared_metrics(kind)
        return self._help[kind]

    def _warn_once(self, kind: str, what: str, message: str, *args: Any) -> None:
        if (kind, what) not in self._warned:
            self._warned.add((kind, what))
            log.warning(message, *args)

    def _family(self, kind: str, sample_name: str) -> Family | None:
        name = "dxagent_" + sample_name
        if name in GENERIC or not _NAME.match(name):
            return None
        declared = self._declared(kind)
        help_text = declared.get(sample_name) or f"Undeclared sample of kind {kind} (a defect: declare it in METRICS)."
        return Family(name, "counter" if name.endswith("_total") else "gauge", help_text)

    def _result_samples(self, r: Result, check: Any, const: Mapping[str, str]) -> list[_Cached]:
        """The library samples of one result, with their family names and dedup keys."""
        extra = dict(sorted((getattr(check, "labels", None) or {}).items()))
        base = {"check": r.check_id, "kind": r.kind, "target": r.target, **extra, **const}
        values = [("dxagent_check_status", float(r.status)),
                  ("dxagent_check_success", 1.0 if r.status <= Status.WARN else 0.0),
                  ("dxagent_check_duration_seconds", r.duration),
                  ("dxagent_check_last_run_timestamp_seconds", round(r.started, 3)),
                  ("dxagent_check_attempts", float(r.attempts))]
        out: list[_Cached] = [(name, (name, ()), PromSample(name, base, value)) for name, value in values]
        if r.status != Status.OK and r.reason is not None:
            out.append(("dxagent_check_failure_info", ("dxagent_check_failure_info", ()),
                        PromSample("dxagent_check_failure_info", {**base, "reason": r.reason.value}, 1.0)))
        fixed = {"check", "kind", "target", *extra, *const}
        declared = self._declared(r.kind)
        for s in r.samples:
            fam = self._family(r.kind, s.name)
            if fam is None:
                self._warn_once(r.kind, s.name, "kind %s emits sample %r, which is not a valid or free metric name; "
                                "dropped", r.kind, s.name)
                continue
            if s.name not in declared:
                self._warn_once(r.kind, s.name, "kind %s emits sample %r without a METRICS declaration (a defect)",
                                r.kind, s.name)
            own = tuple((k, v) for k, v in s.labels if k not in fixed and _LABEL.match(k) and not k.startswith("__"))
            if len(own) != len(s.labels):
                self._warn_once(r.kind, s.name + "{}", "kind %s sample %r has labels clashing with check labels or "
                                "invalid; those labels are dropped", r.kind, s.name)
            out.append((fam.name, (fam.name, tuple(sorted(own))), PromSample(fam.name, {**base, **dict(own)}, s.value)))
        return out

    def collect(self) -> Iterator[Metric]:
        """Families built from the current view only; the process series last."""
        view = self._source()
        if view.generation != self._generation:
            self._cache.clear()
            self._generation = view.generation
        const = dict(sorted(view.labels.items()))
        families: dict[str, Metric] = {name: _new_family(fam) for name, fam in GENERIC.items()}
        kind_families: dict[str, Metric] = {}
        seen: set[tuple[str, str, str, tuple[str, tuple[tuple[str, str], ...]]]] = set()
        cache: dict[int, tuple[Result, list[_Cached]]] = {}
        for r in view.results:
            check = view.checks.get(r.check_id)
            if check is None:
                continue  # removed from the config: never exported again
            hit = self._cache.get(id(r))
            per = hit[1] if hit is not None and hit[0] is r else self._result_samples(r, check, const)
            cache[id(r)] = (r, per)
            for name, key, sample in per:
                ident = (r.check_id, r.kind, r.target, key)
                if ident in seen:
                    continue
                seen.add(ident)
                family = families.get(name) or kind_families.get(name)
                if family is None:
                    fam = self._family(r.kind, name.removeprefix("dxagent_"))
                    assert fam is not None  # the name was accepted when the sample was cached
                    family = kind_families[name] = _new_family(fam)
                family.samples.append(sample)
        self._cache = cache
        self._agent_samples(view, families, const)
        for family in families.values():
            if family.samples:
                yield family
        for name in sorted(kind_families):
            yield kind_families[name]
        if self._process is not None:
            yield from self._process_families(const)

    def _agent_samples(self, view: ScrapeView, families: dict[str, Metric], const: Mapping[str, str]) -> None:
        for name, samples in view.agent.items():
            for s in samples:
                families[name].samples.append(PromSample(name, {**dict(s.labels), **const}, s.value))
        site = view.site
        if site is not None:
            labels = {"site_id": site.id, "site_name": site.name, "province": site.province, "level": site.level}
            families["dxagent_site_info"].samples.append(PromSample("dxagent_site_info", {**labels, **const}, 1.0))
        build = {"version": __version__, "python_version": platform.python_version()}
        families["dxagent_build_info"].samples.append(PromSample("dxagent_build_info", {**build, **const}, 1.0))

    def _process_families(self, const: Mapping[str, str]) -> Iterator[Metric]:
        assert self._process is not None
        for metric in self._process.collect():
            if const:
                metric.samples = [s._replace(labels={**s.labels, **const}) for s in metric.samples]
            yield metric


class Exporter:
    """The daemon's exposition: a private registry holding one ResultsCollector (+ process series).

    `source` returns the current ScrapeView; it is called once per scrape, on the caller's
    thread. `proc` is where ProcessCollector reads (tests point it at fixtures).
    """

    def __init__(self, source: Callable[[], ScrapeView], *, process: bool = True, proc: str = "/proc") -> None:
        self._process = process
        self._proc = proc
        self.collector = ResultsCollector(source, self._process_collector())
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)

    def _process_collector(self) -> Collector | None:
        return ProcessCollector(proc=self._proc, registry=None) if self._process else None

    def expose(self, accept: str = "") -> tuple[bytes, str]:
        """Body and Content-Type for a scrape with this Accept header (OpenMetrics only when asked for)."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    def render(self, view: ScrapeView | None = None, openmetrics: bool = False) -> bytes:
        """The exposition of `view` (default: the source's current one), text format or OpenMetrics."""
        registry = self.registry if view is None else self.frozen(view)
        return generate_openmetrics(registry) if openmetrics else generate_latest(registry)

    def frozen(self, view: ScrapeView) -> CollectorRegistry:
        """A registry that always shows `view`: for a push from a worker thread, with its own cache."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(ResultsCollector(lambda: view, self._process_collector()))
        return registry


if __name__ == "__main__":
    raise SystemExit(main())

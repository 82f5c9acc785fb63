"""The Prometheus collector: names, labels, both formats, no stale series, docs in sync, promtool clean."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.process_collector import ProcessCollector

from dxagent import checks
from dxagent.checks.tcp import Config as TcpConfig
from dxagent.config import SiteConfig
from dxagent.exporters import prometheus as prom
from dxagent.model import Reason, Result, Sample, Status, t
from tests.promtools import promtool_check_metrics

DOC = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"
SITE = SiteConfig(id="hn-xa-phu-dong", name="UBND xã Phù Đổng", province="ha-noi")


def tcp(check_id: str, port: int = 22, **labels: str) -> TcpConfig:
    return TcpConfig(id=check_id, host="10.0.0.1", port=port, labels=labels)


def result(check_id: str, status: Status = Status.OK, target: str = "10.0.0.1:22", kind: str = "tcp",
           samples: tuple[Sample, ...] = (), reason: Reason | None = None) -> Result:
    return Result(check_id, kind, target, status, t("summary secret-ish text", "tóm tắt"), reason=reason,
                  samples=samples, started=1751330000.25, duration=0.125)


OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"


def render(view: prom.ScrapeView, openmetrics: bool = False, process: bool = False) -> str:
    """One scrape of an Exporter showing `view`, text format unless OpenMetrics is asked for."""
    body, _ = prom.Exporter(lambda: view, process=process).expose(OPENMETRICS if openmetrics else "")
    return body.decode()


def samples_by_name(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in parse_text(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def test_generic_series_labels_and_values() -> None:
    view = prom.ScrapeView(
        [result("gw", Status.CRIT, reason=Reason.TIMEOUT, samples=(Sample.of("tcp_connect_success", 0),)),
         result("mail", samples=(Sample.of("tcp_connect_success", 1), Sample.of("tcp_connect_seconds", 0.012)))],
        {"gw": tcp("gw", room="a"), "mail": tcp("mail")}, SITE, {"zone": "north"})
    text = render(view)
    got = samples_by_name(text)
    gw = {"check": "gw", "kind": "tcp", "target": "10.0.0.1:22", "room": "a", "zone": "north"}
    assert (gw, 2.0) in got["dxagent_check_status"]
    assert (gw, 0.0) in got["dxagent_check_success"]
    assert ({**gw, "reason": "timeout"}, 1.0) in got["dxagent_check_failure_info"]
    assert len(got["dxagent_check_failure_info"]) == 1  # only the failing check
    assert (gw, 0.125) in got["dxagent_check_duration_seconds"]
    assert (gw, 1751330000.25) in got["dxagent_check_last_run_timestamp_seconds"]
    mail = {"check": "mail", "kind": "tcp", "target": "10.0.0.1:22", "zone": "north"}
    assert (mail, 0.012) in got["dxagent_tcp_connect_seconds"]
    assert got["dxagent_site_info"] == [({"site_id": "hn-xa-phu-dong", "site_name": "UBND xã Phù Đổng",
                                          "province": "ha-noi", "level": "commune", "zone": "north"}, 1.0)]
    assert got["dxagent_build_info"][0][0]["version"]
    assert "summary" not in text and "tóm tắt" not in text  # free text never becomes a label
    assert "# HELP dxagent_tcp_connect_seconds " + checks.module("tcp").METRICS["tcp_connect_seconds"] in text


def test_removed_checks_and_targets_disappear() -> None:
    """One exporter, two scrapes: the second shows only what the second view holds."""
    both = [result("a", target="h1:1"), result("a", target="h2:1"), result("b")]
    views = [prom.ScrapeView(both, {"a": tcp("a"), "b": tcp("b")}),
             # check b removed from the config (its result still lingers in memory), check a lost target h2
             prom.ScrapeView([both[0], both[2]], {"a": tcp("a")}, generation=1)]
    exporter = prom.Exporter(lambda: views[0], process=False)
    first = exporter.expose()[0].decode()
    assert 'target="h2:1"' in first and 'check="b"' in first
    views.pop(0)
    second = exporter.expose()[0].decode()
    assert 'target="h2:1"' not in second
    assert 'check="b"' not in second
    assert 'target="h1:1"' in second


def test_openmetrics_matches_text_format() -> None:
    view = prom.ScrapeView(
        [result("gw", Status.WARN, reason=Reason.THRESHOLD, samples=(Sample.of("tcp_connect_seconds", 0.7),))],
        {"gw": tcp("gw")}, SITE, {}, agent={"dxagent_check_skipped_runs_total": [Sample.of("x", 3, check="gw",
                                                                                            kind="tcp")]})
    exporter = prom.Exporter(lambda: view)
    om_body, om_type = exporter.expose(OPENMETRICS)
    om = om_body.decode()
    assert om_type.startswith("application/openmetrics-text; version=1.0.0")
    assert exporter.expose("text/plain")[1] == "text/plain; version=0.0.4; charset=utf-8"
    assert om.endswith("# EOF\n")
    fams = {f.name: f for f in parse_om(om)}
    assert fams["dxagent_check_skipped_runs"].type == "counter"
    assert fams["dxagent_site"].type == "info"
    assert fams["dxagent_check_failure"].samples[0].labels["reason"] == "threshold"
    text_values = {(n, tuple(sorted(lab.items()))): v for n, items in samples_by_name(exporter.expose()[0].decode()).items()
                   for lab, v in items if not n.startswith("process_")}
    om_values = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in fams.values() for s in f.samples
                 if not s.name.startswith("process_")}
    assert text_values == om_values


def test_escaping_duplicates_and_bad_samples(caplog: pytest.LogCaptureFixture) -> None:
    odd = 'we"ird\\host\nname:1'
    r = result("gw", target=odd, samples=(Sample.of("tcp_connect_success", 1), Sample.of("tcp_connect_success", 1),
                                           Sample.of("undeclared_thing", 5), Sample.of("bad-name", 1),
                                           Sample.of("check_status", 9), Sample.of("tcp_connect_seconds", 1, check="x")))
    with caplog.at_level(logging.WARNING):
        text = render(prom.ScrapeView([r, r], {"gw": tcp("gw")}))
    got = samples_by_name(text)
    assert got["dxagent_check_status"] == [({"check": "gw", "kind": "tcp", "target": odd}, 0.0)]  # deduplicated
    assert len(got["dxagent_tcp_connect_success"]) == 1
    assert got["dxagent_undeclared_thing"][0][1] == 5  # exported, but logged as a defect
    assert "bad-name" not in text
    assert got["dxagent_tcp_connect_seconds"][0][0]["check"] == "gw"  # a sample cannot relabel the check
    assert "without a METRICS declaration" in caplog.text
    ok, out = promtool_check_metrics(text)
    assert ok, out


def test_config_change_invalidates_cached_samples() -> None:
    r = result("gw")
    views = [prom.ScrapeView([r], {"gw": tcp("gw", room="a")}, generation=1),
             prom.ScrapeView([r], {"gw": tcp("gw", room="b")}, generation=2)]
    exporter = prom.Exporter(lambda: views[0], process=False)
    a = exporter.expose()[0].decode()
    views.pop(0)
    b = exporter.expose()[0].decode()
    assert 'room="a"' in a and 'room="b"' in b and 'room="a"' not in b


def _every_declared_sample() -> tuple[list[Result], dict[str, TcpConfig]]:
    results, cfgs = [], {}
    for kind in sorted(checks.KINDS):
        metrics = getattr(checks.module(kind), "METRICS", {})
        check_id = f"c-{kind}"
        cfgs[check_id] = tcp(check_id)
        results.append(result(check_id, Status.CRIT, kind=kind, reason=Reason.DOWN,
                              samples=tuple(Sample.of(name, 1, item="x") for name in metrics)))
    return results, cfgs


def test_promtool_accepts_the_generic_exposition() -> None:
    r = result("gw", Status.CRIT, reason=Reason.TIMEOUT, samples=(Sample.of("tcp_connect_success", 0),))
    agent = {"dxagent_check_skipped_runs_total": [Sample.of("x", 1, check="gw", kind="tcp")],
             "dxagent_checks_configured": [Sample("x", 1.0)]}
    view = prom.ScrapeView([r], {"gw": tcp("gw")}, SITE, {"zone": "n"}, agent=agent)
    ok, out = promtool_check_metrics(render(view, process=True))  # promtool 2.42 lints the text format only
    assert ok, out
    assert list(parse_om(render(view, openmetrics=True, process=True)))  # the library's strict OpenMetrics parser
    assert ok, out


def test_promtool_accepts_every_declared_kind_sample() -> None:
    """Each kind's METRICS names must pass the linter too (base units: seconds, bytes, ratio)."""
    results, cfgs = _every_declared_sample()
    text = render(prom.ScrapeView(results, cfgs, SITE, {"zone": "n"}), process=True)
    ok, out = promtool_check_metrics(text)
    assert ok, "rename these samples in their kind's METRICS and probe:\n" + out


def test_docs_match_exporter() -> None:
    assert DOC.read_text(encoding="utf-8") == prom.doc_markdown(), (
        "docs/metrics.md is out of date: run `python -m dxagent.exporters.prometheus --doc > docs/metrics.md`")
    results, cfgs = _every_declared_sample()
    view = prom.ScrapeView(results, cfgs, SITE, {}, agent={name: [Sample("x", 1.0)] for name in
                                                           ("dxagent_checks_configured",)})
    documented = DOC.read_text(encoding="utf-8")
    for fam in parse_text(render(view, process=True)):
        assert fam.documentation, f"{fam.name} has no HELP text"
        for sample in fam.samples:
            assert f"`{sample.name}`" in documented, sample.name
    for kind in checks.KINDS:
        for name in getattr(checks.module(kind), "METRICS", {}):
            assert not name.startswith("dxagent_"), f"{kind}: sample names carry no prefix ({name})"
            assert f"`dxagent_{name}`" in documented


def test_process_series_are_prometheus_clients_with_the_constant_labels() -> None:
    """ProcessCollector gives the process_* series, with the documented names and help, plus the config's labels."""
    helps = {m.name + ("_total" if m.type == "counter" else ""): m.documentation
             for m in ProcessCollector(registry=None).collect()}
    assert helps == {name: fam.help for name, fam in prom.PROCESS.items()}
    got = samples_by_name(render(prom.ScrapeView([], {}, None, {"zone": "n"}), process=True))
    process = {name: items for name, items in got.items() if name.startswith("process_")}
    assert sorted(process) == sorted(prom.PROCESS)
    assert all(items == [({"zone": "n"}, items[0][1])] for items in process.values())
    assert process["process_open_fds"][0][1] >= 3
    assert process["process_max_fds"][0][1] > 0
    assert not any(name.startswith("process_") for name in samples_by_name(render(prom.ScrapeView([], {}))))


def test_process_collector_reads_the_given_proc(tmp_path: Path) -> None:
    """`proc` is ProcessCollector's own parameter: a folder without our pid gives no process series."""
    body, _ = prom.Exporter(lambda: prom.ScrapeView([], {}), proc=str(tmp_path)).expose()
    assert b"process_" not in body and b"dxagent_build_info" in body
    assert os.path.exists("/proc/self/stat")


def test_private_registry_and_scrape_time_only() -> None:
    """Nothing lands in the library's global registry; the source is read at each scrape, not before."""
    calls: list[int] = []

    def source() -> prom.ScrapeView:
        calls.append(1)
        return prom.ScrapeView([result("gw")], {"gw": tcp("gw")})

    before = set(REGISTRY._names_to_collectors) if hasattr(REGISTRY, "_names_to_collectors") else None
    exporter = prom.Exporter(source)
    assert isinstance(exporter.registry, CollectorRegistry) and exporter.registry is not REGISTRY
    assert calls == []
    assert exporter.registry.get_sample_value("dxagent_check_status", {"check": "gw", "kind": "tcp",
                                                                      "target": "10.0.0.1:22"}) == 0.0
    assert calls == [1]
    assert exporter.render(openmetrics=True).endswith(b"# EOF\n") and calls == [1, 1]
    if before is not None:
        assert set(REGISTRY._names_to_collectors) == before
    frozen = exporter.frozen(prom.ScrapeView([result("gw", Status.CRIT, reason=Reason.DOWN)], {"gw": tcp("gw")}))
    assert frozen.get_sample_value("dxagent_check_status", {"check": "gw", "kind": "tcp",
                                                           "target": "10.0.0.1:22"}) == 2.0
    assert calls == [1, 1]  # a frozen registry never asks the source

"""The Prometheus collector: names, labels, both formats, no stale series, docs in sync, promtool clean."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

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
    text = prom.Exporter(process=False).render(view).decode()
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
    exporter = prom.Exporter(process=False)
    both = [result("a", target="h1:1"), result("a", target="h2:1"), result("b")]
    first = exporter.render(prom.ScrapeView(both, {"a": tcp("a"), "b": tcp("b")})).decode()
    assert 'target="h2:1"' in first and 'check="b"' in first
    # check b removed from the config (its result still lingers in memory), check a lost target h2
    second = exporter.render(prom.ScrapeView([both[0], both[2]], {"a": tcp("a")}, generation=1)).decode()
    assert 'target="h2:1"' not in second
    assert 'check="b"' not in second
    assert 'target="h1:1"' in second


def test_openmetrics_matches_text_format() -> None:
    view = prom.ScrapeView(
        [result("gw", Status.WARN, reason=Reason.THRESHOLD, samples=(Sample.of("tcp_connect_seconds", 0.7),))],
        {"gw": tcp("gw")}, SITE, {}, agent={"dxagent_check_skipped_runs_total": [Sample.of("x", 3, check="gw",
                                                                                            kind="tcp")]})
    exporter = prom.Exporter()
    om = exporter.render(view, openmetrics=True).decode()
    assert om.endswith("# EOF\n")
    fams = {f.name: f for f in parse_om(om)}
    assert fams["dxagent_check_skipped_runs"].type == "counter"
    assert fams["dxagent_site"].type == "info"
    assert fams["dxagent_check_failure"].samples[0].labels["reason"] == "threshold"
    text_values = {(n, tuple(sorted(lab.items()))): v for n, items in samples_by_name(exporter.render(view).decode()).items()
                   for lab, v in items if not n.startswith("process_")}
    om_values = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in fams.values() for s in f.samples
                 if not s.name.startswith("process_")}
    assert text_values == om_values
    assert prom.wants_openmetrics("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
    assert not prom.wants_openmetrics("text/plain")


def test_escaping_duplicates_and_bad_samples(caplog: pytest.LogCaptureFixture) -> None:
    odd = 'we"ird\\host\nname:1'
    r = result("gw", target=odd, samples=(Sample.of("tcp_connect_success", 1), Sample.of("tcp_connect_success", 1),
                                           Sample.of("undeclared_thing", 5), Sample.of("bad-name", 1),
                                           Sample.of("check_status", 9), Sample.of("tcp_connect_seconds", 1, check="x")))
    with caplog.at_level(logging.WARNING):
        text = prom.Exporter(process=False).render(prom.ScrapeView([r, r], {"gw": tcp("gw")})).decode()
    got = samples_by_name(text)
    assert got["dxagent_check_status"] == [({"check": "gw", "kind": "tcp", "target": odd}, 0.0)]  # deduplicated
    assert len(got["dxagent_tcp_connect_success"]) == 1
    assert got["dxagent_undeclared_thing"][0][1] == 5  # exported, but logged as a defect
    assert "bad-name" not in text
    assert got["dxagent_tcp_connect_seconds"][0][0]["check"] == "gw"  # a sample cannot relabel the check
    assert "without a METRICS declaration" in caplog.text
    ok, out = promtool_check_metrics(text)
    assert ok, out


def test_config_change_invalidates_cached_lines() -> None:
    exporter = prom.Exporter(process=False)
    r = result("gw")
    a = exporter.render(prom.ScrapeView([r], {"gw": tcp("gw", room="a")}, generation=1)).decode()
    b = exporter.render(prom.ScrapeView([r], {"gw": tcp("gw", room="b")}, generation=2)).decode()
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
    text = prom.Exporter().render(prom.ScrapeView([r], {"gw": tcp("gw")}, SITE, {"zone": "n"}, agent=agent)).decode()
    ok, out = promtool_check_metrics(text)
    assert ok, out


def test_promtool_accepts_every_declared_kind_sample() -> None:
    """Each kind's METRICS names must pass the linter too (base units: seconds, bytes, ratio)."""
    results, cfgs = _every_declared_sample()
    text = prom.Exporter().render(prom.ScrapeView(results, cfgs, SITE, {"zone": "n"})).decode()
    ok, out = promtool_check_metrics(text)
    assert ok, "rename these samples in their kind's METRICS and probe:\n" + out


def test_docs_match_exporter() -> None:
    assert DOC.read_text(encoding="utf-8") == prom.doc_markdown(), (
        "docs/metrics.md is out of date: run `python -m dxagent.exporters.prometheus --doc > docs/metrics.md`")
    results, cfgs = _every_declared_sample()
    view = prom.ScrapeView(results, cfgs, SITE, {}, agent={name: [Sample("x", 1.0)] for name in
                                                           ("dxagent_checks_configured",)})
    documented = DOC.read_text(encoding="utf-8")
    for fam, _ in prom.Exporter().collect(view):
        assert f"`{fam.name}`" in documented, fam.name
        assert fam.help, f"{fam.name} has no HELP text"
    for kind in checks.KINDS:
        for name in getattr(checks.module(kind), "METRICS", {}):
            assert not name.startswith("dxagent_"), f"{kind}: sample names carry no prefix ({name})"
            assert f"`dxagent_{name}`" in documented


def test_process_series_agree_with_prometheus_client() -> None:
    """The /proc reader gives what ProcessCollector gives (same names, help and values), without importing it."""
    from prometheus_client.process_collector import ProcessCollector

    theirs = {s.name: s.value for m in ProcessCollector(registry=None).collect() for s in m.samples}
    helps = {m.name + ("_total" if m.type == "counter" else ""): m.documentation
             for m in ProcessCollector(registry=None).collect()}
    ours = prom.process_values()
    assert set(ours) == set(theirs) == set(prom.PROCESS)
    for name, fam in prom.PROCESS.items():
        assert fam.help == helps[name], name
    for name in ("process_max_fds", "process_start_time_seconds"):
        assert ours[name] == pytest.approx(theirs[name], abs=0.02), name
    assert ours["process_resident_memory_bytes"] == pytest.approx(theirs["process_resident_memory_bytes"], rel=0.2)
    assert -1e-9 < ours["process_cpu_seconds_total"] - theirs["process_cpu_seconds_total"] < 5  # ours is read later
    assert abs(ours["process_open_fds"] - theirs["process_open_fds"]) <= 2
    lines = [line for line in prom.Exporter().render(prom.ScrapeView([], {}, None, {"zone": "n"})).decode().splitlines()
             if line.startswith("process_")]
    assert sorted(line.split("{")[0] for line in lines) == sorted(prom.PROCESS)
    assert all('{zone="n"}' in line for line in lines)
    assert not any(line.startswith("process_") for line in
                   prom.Exporter(process=False).render(prom.ScrapeView([], {})).decode().splitlines())

"""Outage events in the site report (real History files): merged per link, power cause, JSON, renderings,
roll-up counts, and `--period` honoured by every criterion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from dxagent.model import Status
from dxagent.reports import rollup as ru
from dxagent.reports.cli import report
from dxagent.reports.data import SnapshotData, StoreData
from dxagent.reports.evaluate import evaluate
from dxagent.reports.outages import host_of
from dxagent.reports.profile import load_profile
from dxagent.reports.render_html import render_site
from dxagent.reports.render_text import rollup_csv, rollup_markdown, site_markdown
from dxagent.reports.schema import ROLLUP_SCHEMA, SITE_SCHEMA
from dxagent.reports.site import document, site_outages
from tests.reports.demo import UNTIL as DEMO_UNTIL
from tests.reports.demo import build_demo
from tests.reports.histories import T0, Site, no_samples, ok

PLAN = load_profile("plan02")
STEP = 60.0


def down(*spans: tuple[float, float], status: Status = Status.CRIT):  # type: ignore[no-untyped-def]
    """CRIT while T0 + a <= ts < T0 + b for one of the spans (seconds after T0)."""
    return lambda ts: status if any(T0 + a <= ts < T0 + b for a, b in spans) else Status.OK


def report_doc(site: Site, until: float, period: float | None = None) -> dict[str, Any]:
    data = StoreData(site.history, list(site.checks.values()), staff=None)
    ev = evaluate(PLAN, data, until, period)
    doc = document(ev, {"id": "x-test", "name": "Xã Thử"}, outages=site_outages(data, ev.since, until),
                   generated=until)
    jsonschema.validate(doc, SITE_SCHEMA)
    return doc


def test_host_of_targets_of_every_kind() -> None:
    assert host_of("10.0.0.9") == "10.0.0.9"
    assert host_of("10.0.0.9:443") == "10.0.0.9"
    assert host_of("https://Portal.Tinh.gov.vn:8443/dvc?x=1") == "portal.tinh.gov.vn"
    assert host_of("[fd00::9]:443") == "fd00::9"
    assert host_of("fd00:0::9") == "fd00::9"
    assert host_of("dichvucong.gov.vn@10.0.0.53") == "10.0.0.53"  # a DNS check reaches its server
    assert host_of("mcu.tinh:5060/udp") == "mcu.tinh"
    assert host_of("eth0") == "eth0"


def test_checks_of_one_host_failing_together_are_one_event(tmp_path: Path) -> None:
    """ping, tcp and https to 10.0.0.9 down together (staggered by a run) = one event; another host apart."""
    site = Site(tmp_path)
    site.steps(T0, T0 + 3600, [
        ("dc-ping", "ping", "10.0.0.9", down((600, 1200)), no_samples),
        ("dc-tcp", "tcp", "10.0.0.9:443", down((660, 1260)), no_samples),
        ("dc-web", "http", "https://10.0.0.9/", down((600, 1140)), no_samples),
        ("isp", "ping", "8.8.8.8", down((900, 1000), (2400, 2460)), no_samples),
        ("dc-ping-late", "ping", "10.0.0.9", down((3000, 3120)), no_samples),
    ], interval=STEP)
    doc = report_doc(site, T0 + 3600, 3600)
    events = doc["outages"]
    assert [(e["link"], e["start"] - T0, e["end"] - T0, e["seconds"]) for e in events] == [
        ("10.0.0.9", 600, 1260, 660), ("8.8.8.8", 900, 1020, 120), ("8.8.8.8", 2400, 2460, 60),
        ("10.0.0.9", 3000, 3120, 120)]
    first = events[0]
    assert [c["check"] for c in first["checks"]] == ["dc-ping", "dc-web", "dc-tcp"]
    assert first["targets"] == ["10.0.0.9", "10.0.0.9:443", "https://10.0.0.9/"]
    assert (first["worst"], first["ongoing"], first["cause"]) == ("CRIT", False, None)
    assert doc["outage_summary"] == {"count": 4, "seconds": 960.0, "longest_seconds": 660.0, "ongoing": 0, "power": 0}
    site.close()


def test_checks_sharing_a_group_are_one_link(tmp_path: Path) -> None:
    """The provincial gateway and the DC behind it (group tslcd) fail together: one event."""
    site = Site(tmp_path)
    site.steps(T0, T0 + 3600, [
        ("tslcd-gw", "ping", "10.1.0.1", down((600, 900)), no_samples),
        ("dc-portal", "http", "https://dc.tinh/", down((660, 960)), no_samples),
        ("other", "http", "https://other/", down((700, 800)), no_samples),
    ], interval=STEP, groups={"tslcd-gw": ("tslcd",), "dc-portal": ("tslcd",)})
    events = report_doc(site, T0 + 3600, 3600)["outages"]
    assert [(e["link"], sorted(c["check"] for c in e["checks"])) for e in events] == [
        ("tslcd", ["dc-portal", "tslcd-gw"]), ("other", ["other"])]
    site.close()


def test_only_availability_kinds_make_outages_and_ongoing_is_marked(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.steps(T0, T0 + 3600, [
        ("sig-cert", "certfile", "/etc/ssl/sig.pem", lambda ts: Status.CRIT, no_samples),
        ("disk", "system", "/", down((0, 600)), no_samples),
        ("dc-ping", "ping", "10.0.0.9", down((3000, 9999)), no_samples),
    ], interval=STEP)
    doc = report_doc(site, T0 + 3600, 3600)
    (event,) = doc["outages"]
    assert (event["link"], event["ongoing"], event["end"], event["seconds"]) == ("10.0.0.9", True, None, 600)
    assert doc["outage_summary"]["ongoing"] == 1
    site.close()


def _ups_samples(on_battery: tuple[float, float], low: tuple[float, float] | None = None):  # type: ignore[no-untyped-def]
    """A UPS's samples: on battery in [a, b) after T0, battery low in `low`."""
    def samples(ts: float) -> dict[str, Any]:
        battery = T0 + on_battery[0] <= ts < T0 + on_battery[1]
        is_low = low is not None and T0 + low[0] <= ts < T0 + low[1]
        return {"ups_on_battery": float(battery), "ups_low_battery": float(is_low), "ups_up": 1.0}
    return samples


def test_outage_starting_after_a_power_event_is_marked_power(tmp_path: Path) -> None:
    """Power events are when the UPS ran on battery; a link outage during one or within 2 min after it is "power"."""
    site = Site(tmp_path)
    site.steps(T0, T0 + 3600, [
        ("ups", "ups", "dummy@127.0.0.1", down((600, 1200), status=Status.WARN), _ups_samples((600, 1200), (1080, 1200))),
        ("dc-ping", "ping", "10.0.0.9", down((660, 900), (1260, 1300), (2400, 2500)), no_samples),
    ], interval=STEP)
    doc = report_doc(site, T0 + 3600, 3600)
    assert [(p["start"] - T0, p["end"] - T0, p["worst"]) for p in doc["power_events"]] == [(600, 1200, "CRIT")]
    assert [(e["start"] - T0, e["cause"]) for e in doc["outages"]] == [(660, "power"), (1260, "power"), (2400, None)]
    assert doc["outage_summary"]["power"] == 2
    site.close()


def test_a_ups_that_cannot_be_read_or_a_worn_battery_is_no_power_event(tmp_path: Path) -> None:
    """Only the UPS's own word (on battery) makes a power event, not the check's status."""
    site = Site(tmp_path)
    site.steps(T0, T0 + 3600, [
        ("ups", "ups", "localhost:3493", down((0, 1800), status=Status.UNKNOWN), lambda ts: {"ups_up": 0.0}),
        ("ups-rack", "ups", "10.0.0.20", down((0, 3600)), _ups_samples((9999, 9999))),   # CRIT: runtime short, on mains
        ("dc-ping", "ping", "10.0.0.9", down((660, 900)), no_samples),
    ], interval=STEP)
    doc = report_doc(site, T0 + 3600, 3600)
    assert doc["power_events"] == []
    assert [e["cause"] for e in doc["outages"]] == [None]
    site.close()


def test_power_event_still_going_and_one_cut_short_by_the_agent_stopping(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.steps(T0, T0 + 3600, [("ups", "ups", "u", down((300, 9999), status=Status.WARN), _ups_samples((300, 9999)))],
               alive=lambda ts: not T0 + 900 <= ts < T0 + 1500, interval=STEP)
    doc = report_doc(site, T0 + 3600, 3600)
    events = [(p["start"] - T0, None if p["end"] is None else p["end"] - T0) for p in doc["power_events"]]
    assert events == [(300, 900), (1500, None)]   # the agent (on the same UPS) went dark at 900
    site.close()


def test_demo_report_lists_the_link_outage_in_both_languages(tmp_path: Path) -> None:
    hist, snap, cfg = build_demo(tmp_path / "state")
    out = tmp_path / "r.json"
    res = CliRunner().invoke(report, ["--config", str(cfg), "--history", str(hist), "--snapshot", str(snap),
                                      "--until", str(DEMO_UNTIL), "--format", "json", "-o", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SITE_SCHEMA)
    (event,) = doc["outages"]
    assert (event["link"], event["seconds"], event["checks"][0]["check"]) == ("10.20.0.1", 5 * 3600, "dc-ping")
    vi, en = render_site(doc, "vi"), render_site(doc, "en")
    assert 'id="outages"' in vi and "Gián đoạn" in vi and "5h 00m" in vi and "10.20.0.1" in vi
    assert "Outages" in en and "Checks and targets affected" in en
    md = site_markdown(doc, "vi")
    assert "## Gián đoạn" in md and "| 5h 00m | 10.20.0.1 |" in md
    assert "Outages: 1 · total 5h 00m · longest 5h 00m" in site_markdown(doc, "en")
    assert "Số lần gián đoạn: <b>1</b> · tổng thời gian 5h 00m" in vi


def test_no_history_says_outages_are_unknown() -> None:
    data = SnapshotData({"generated_at": T0, "results": []})
    ev = evaluate(PLAN, data, T0)
    doc = document(ev, {"id": "s"}, outages=site_outages(data, ev.since, T0))
    jsonschema.validate(doc, SITE_SCHEMA)
    assert doc["outages"] is None and doc["outage_summary"] is None
    assert "No history: outages cannot be listed." in render_site(doc, "en")
    assert "Không có lịch sử" in site_markdown(doc, "vi")


def test_period_shortens_every_windowed_criterion(tmp_path: Path) -> None:
    """`--period 1h`: NET-01 (30 d) and NET-04 (7 d) read the last hour, and say so."""
    hist, _snap, cfg = build_demo(tmp_path / "state")
    out = tmp_path / "r.json"
    res = CliRunner().invoke(report, ["--config", str(cfg), "--history", str(hist), "--until", str(DEMO_UNTIL),
                                      "--period", "1h", "--format", "json", "-o", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["period"]["seconds"] == 3600
    by = {t["id"]: t for t in doc["targets"]}
    net01 = by["NET-01"]["criteria"][0]
    assert (net01["window_seconds"], net01["profile_window_seconds"]) == (3600, 30 * 86400)
    assert net01["value"] == 1.0 and net01["why"] is None  # not "data covers 0.0 %"
    assert all(c["window_seconds"] == 3600 for c in by["NET-04"]["criteria"])
    assert all(c["evidence"]["until"] - c["evidence"]["since"] == 3600 for t in doc["targets"] for c in t["criteria"])
    md = site_markdown(doc, "en")
    assert "30-day availability: 100 % (window 1h; profile 30d)" in md
    assert "window 1h (profile 30d)" in render_site(doc, "en")


def test_rollup_counts_outages_per_site(tmp_path: Path) -> None:
    folder = tmp_path / "fleet"
    folder.mkdir()
    for name, spans in (("a", [(600, 900)]), ("b", [(600, 720), (1980, 2100)]), ("c", [])):
        site = Site(tmp_path / name)
        site.steps(T0, T0 + 3600, [("dc-ping", "ping", "10.0.0.9", down(*spans) if spans else ok, no_samples)],
                   interval=STEP)
        doc = report_doc(site, T0 + 3600, 3600)
        doc["site"] = {"id": name, "name": name, "province": "p", "level": "commune", "staff": None}
        (folder / f"{name}.json").write_text(json.dumps(doc))
        site.close()
    (folder / "snap.json").write_text(json.dumps({"generated_at": T0, "site": {"id": "snap"}, "results": []}))
    doc = ru.rollup(ru.records_from_dir(folder, PLAN), PLAN, source="t")
    jsonschema.validate(doc, ROLLUP_SCHEMA)
    by = {s["site"]: s for s in doc["sites"]}
    assert [(by[s]["outages"], by[s]["outage_seconds"]) for s in "abc"] == [(1, 300.0), (2, 240.0), (0, 0.0)]
    assert by["snap"]["outages"] is None
    assert doc["counts"]["outages"] == 3
    csv_rows = rollup_csv(doc).splitlines()
    assert csv_rows[0].split(",")[-3:] == ["outages", "outage_seconds", "problem"]
    assert "| 2 (4m 00s) |" in rollup_markdown(doc, "en")


@pytest.mark.parametrize("seconds,text", [(0, "0s"), (45.4, "45s"), (90, "1m 30s"), (3600 + 300, "1h 05m"),
                                          (3 * 86400 + 4 * 3600, "3d 4h")])
def test_span_format(seconds: float, text: str) -> None:
    from dxagent.reports.fmt import fmt_span

    assert fmt_span(seconds) == text

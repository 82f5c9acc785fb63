"""Site report outputs: HTML in real headless Chromium, hostile strings, JSON schema, Markdown, CSV, CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from dxagent.reports.cli import report
from dxagent.reports.metrics import METRICS, readiness_results
from dxagent.reports.render_text import csv_safe, md_escape
from dxagent.reports.schema import SITE_SCHEMA
from tests.reports.demo import UNTIL, build_demo

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0"]


def _site(tmp_path: Path, fmt: str, hostile: bool = False, lang: str = "vi") -> tuple[Path, Any]:
    hist, snap, cfg = build_demo(tmp_path / "state", hostile=hostile)
    out = tmp_path / f"report.{fmt}"
    res = CliRunner().invoke(report, ["--config", str(cfg), "--history", str(hist), "--snapshot", str(snap),
                                      "--until", str(UNTIL), "--format", fmt, "--lang", lang, "-o", str(out)])
    assert res.exit_code == 0, res.output
    return out, out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def demo_json(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    _, text = _site(tmp_path_factory.mktemp("json"), "json")
    return json.loads(text)  # type: ignore[no-any-return]


def chromium(tmp_path: Path, page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("needs Debian chromium (apt-get install chromium)")
    profile = tmp_path / f"chromium-{page.stem}-{len(extra)}"
    return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
                          capture_output=True, text=True, timeout=90, env={**os.environ, "HOME": str(tmp_path)})


def console_messages(stderr: str) -> list[str]:
    """Chromium logs every console message (errors, CSP violations, uncaught exceptions) as INFO:CONSOLE."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_console_detector_catches_errors(tmp_path: Path) -> None:
    """Positive control: the detector used below really sees console errors."""
    page = tmp_path / "bad.html"
    page.write_text('<html><body><script>console.error("detector-ok"); missing();</script></body></html>')
    msgs = console_messages(chromium(tmp_path, page, "--dump-dom").stderr)
    assert any("detector-ok" in m for m in msgs) and any("missing is not defined" in m for m in msgs), msgs


def test_site_html_in_chromium(tmp_path: Path) -> None:
    page, html = _site(tmp_path, "html")
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    dom = chromium(tmp_path, page, "--dump-dom")
    assert console_messages(dom.stderr) == []
    assert dom.stdout.count("<svg") >= 4  # availability, latency trend(s), certificate expiry, coverage
    for title in ("Khả dụng theo tiêu chí", "Xu hướng độ trễ", "Thời hạn chứng chỉ", "Mức độ trang bị"):
        assert title in dom.stdout
    assert 'class="bar"' in dom.stdout and 'class="series"' in dom.stdout
    shot = tmp_path / "page.png"
    run = chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=794,1123")
    assert console_messages(run.stderr) == []
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_hostile_strings_stay_text(tmp_path: Path) -> None:
    page, html = _site(tmp_path, "html", hostile=True)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    dom = chromium(tmp_path, page, "--dump-dom")
    assert console_messages(dom.stderr) == []
    assert "<script" not in dom.stdout and "<img" not in dom.stdout  # never became elements
    assert "&lt;script&gt;alert" in dom.stdout  # the text is shown


def test_json_matches_schema_and_numbers(demo_json: dict[str, Any]) -> None:
    jsonschema.validate(demo_json, SITE_SCHEMA)
    assert demo_json["site"]["id"] == "hn-xa-phu-dong" and demo_json["site"]["staff"] == 24
    by_id = {t["id"]: t for t in demo_json["targets"]}
    net01 = by_id["NET-01"]["criteria"][0]
    # 5 h outage inside ~29 days of measured time, the day the PC was off is a gap: 1 - 18000/measured
    secs = net01["evidence"]["checks"][0]["seconds"]
    assert net01["value"] == pytest.approx(secs["OK"] / (secs["OK"] + secs["CRIT"]), abs=1e-6)
    assert secs["CRIT"] == pytest.approx(18_000) and secs["nodata"] > 86_400
    assert by_id["NET-01"]["outcome"] == "not_met" and by_id["TLS-01"]["at_risk"]
    assert by_id["SVC-01"]["outcome"] == "met" and by_id["WS-01"]["outcome"] == "not_met"
    assert by_id["SIG-01"]["outcome"] == "unknown"
    met = sum(t["weight"] for t in demo_json["targets"] if t["outcome"] == "met")
    assert demo_json["score"] == pytest.approx(met / sum(t["weight"] for t in demo_json["targets"]), abs=1e-6)


def test_metrics_results_mirror_the_document(demo_json: dict[str, Any]) -> None:
    results = readiness_results(demo_json)
    assert len(results) == len(demo_json["targets"]) + 1
    for r, t in zip(results, demo_json["targets"], strict=False):
        samples = {s.name: s.value for s in r.samples}
        assert r.target == t["id"] and samples["readiness_target_met"] == (t["outcome"] == "met")
        assert samples["readiness_target_unknown"] == (t["outcome"] == "unknown")
        assert (r.reason is None) == (r.status.name == "OK") and r.summary.vi and r.summary.en
    score = results[-1]
    assert {s.name: s.value for s in score.samples}["readiness_score"] == pytest.approx(demo_json["score"])
    assert {s.name for r in results for s in r.samples} <= set(METRICS)


def test_markdown_and_csv(tmp_path: Path) -> None:
    _, md = _site(tmp_path, "md", hostile=True, lang="en")
    assert "| **NET-01** Dedicated-network \\(Level II\\) link | not met | 30-day availability: 99.28 % | ≥ 99.50 % |" in md
    assert "<script>" not in md and "\\<script\\>" in md
    assert md_escape("a|b\nc") == "a\\|b c"
    _, text = _site(tmp_path / "csv", "csv", lang="en")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == sum(1 for _ in rows) and {r["target_id"] for r in rows} >= {"NET-01", "VC-01"}
    net04 = [r for r in rows if r["target_id"] == "NET-04"]
    assert [r["criterion"] for r in net04] == ["p95 RTT", "Mean packet loss", "p95 jitter"]
    assert float(net04[0]["value"]) < 0.05 and net04[0]["unit"] == "seconds"
    assert csv_safe("=HYPERLINK(1)") == "'=HYPERLINK(1)" and csv_safe("ok") == "ok"


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    runner = CliRunner()
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"state_dir: {tmp_path / 'empty'}\n")
    res = runner.invoke(report, ["--config", str(cfg)])
    assert res.exit_code == 2 and "no history or snapshot found" in res.output
    res = runner.invoke(report, ["--config", str(cfg), "--snapshot", str(cfg)])
    assert res.exit_code == 2 and "cannot read snapshot" in res.output
    res = runner.invoke(report, ["--config", str(cfg), "--history", str(tmp_path / "nope.sqlite")])
    assert res.exit_code == 2 and "no history file" in res.output
    res = runner.invoke(report, ["--config", str(cfg), "--snapshot", str(cfg), "--period", "3 weeks"])
    assert res.exit_code == 2 and "--period" in res.output
    res = runner.invoke(report, ["schema", "site"])
    assert res.exit_code == 0 and json.loads(res.output)["$id"] == "dxagent.site-report/1"
    assert re.search(r"report.*rollup", runner.invoke(report, ["--help"]).output, re.S)


def test_daemon_entry_point_evaluates_the_live_store(tmp_path: Path) -> None:
    """`evaluate_results` is what the daemon calls: History + config → readiness Results."""
    from dxagent.config import load
    from dxagent.history import History
    from dxagent.reports.metrics import evaluate_results
    from dxagent.reports.profile import load_profile

    hist, _, cfg = build_demo(tmp_path / "state")
    with History.open(hist) as history:
        results = evaluate_results(load_profile("plan02"), history, load(cfg), now=UNTIL)
    by = {r.target: r for r in results}
    assert len(results) == 16 and by["NET-01"].status.name == "CRIT" and by["SVC-01"].status.name == "OK"
    assert by["SIG-01"].status.name == "UNKNOWN" and by["SIG-01"].reason is not None
    assert "đạt" in by["SVC-01"].summary.vi

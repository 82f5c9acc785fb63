"""Province roll-up: 3,321 site files and a real Prometheus backfilled with the same sites give the same shares."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from dxagent.reports import rollup as ru
from dxagent.reports.cli import report
from dxagent.reports.profile import load_profile
from dxagent.reports.promsource import PrometheusError, records_from_prometheus
from dxagent.reports.schema import ROLLUP_SCHEMA
from tests.promtools import Proc, free_port, need, wait_http
from tests.reports import fleet

PLAN = load_profile("plan02")


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("fleet")
    fleet.write_files(folder / "files")
    (folder / "expected.txt").write_text("\n".join(fleet.site_ids()) + "\n")
    return folder / "files", folder / "expected.txt"


@contextlib.contextmanager
def backfilled_prometheus(folder: Path, ts: float) -> Iterator[str]:
    """A real Prometheus whose TSDB was created by `promtool tsdb create-blocks-from openmetrics`."""
    promtool, prometheus = need("promtool"), need("prometheus")
    om = folder / "fleet.om"
    fleet.write_openmetrics(om, ts)
    data = folder / "data"
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(data)], check=True,
                   capture_output=True, timeout=120)
    (folder / "prometheus.yml").write_text("global: {scrape_interval: 1m}\nscrape_configs: []\n")
    port = free_port()
    proc = Proc([prometheus, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={data}",
                  f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"])
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop(10)


def shares(doc: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    return {t["id"]: (t["met"], t["not_met"], t["unknown"]) for t in doc["targets"]}


def test_files_and_prometheus_give_the_same_rollup(fleet_dir: tuple[Path, Path], tmp_path: Path) -> None:
    files, expected = fleet_dir
    from_files = ru.rollup(ru.records_from_dir(files, PLAN), PLAN, source="files",
                           expected=ru.read_expected(expected))
    jsonschema.validate(from_files, ROLLUP_SCHEMA)
    silent = fleet.N_SITES // fleet.SILENT_EVERY
    assert from_files["counts"]["sites"] == fleet.N_SITES
    no_data = [s for s in from_files["sites"] if s["score"] is None]
    assert len(no_data) == from_files["counts"]["no_data"] > silent
    assert sum(1 for s in no_data if s["problem"] == "no report received") == silent
    ts = time.time() - 3 * 3600
    with backfilled_prometheus(tmp_path, ts) as url:
        records = list(records_from_prometheus(url, at=ts + 60))
    from_prom = ru.rollup(records, PLAN, source=f"prometheus {url}")
    assert from_prom["counts"] == from_files["counts"]
    assert shares(from_prom) == shares(from_files)
    assert [t["share"] for t in from_prom["targets"]] == [t["share"] for t in from_files["targets"]]
    rank_f = {s["site"]: (s["rank"], s["score"], s["not_met"], s["unknown"]) for s in from_files["sites"]}
    rank_p = {s["site"]: (s["rank"], s["score"], s["not_met"], s["unknown"]) for s in from_prom["sites"]}
    assert rank_p == rank_f
    one = next(s for s in from_prom["sites"] if s["site"] == "xa-0001")
    assert one["name"] == 'UBND xã Số 1 "Đông"' and one["province"] == "tinh-02"


def test_rollup_of_one_province_and_trend(fleet_dir: tuple[Path, Path], tmp_path: Path) -> None:
    files, _ = fleet_dir
    runner = CliRunner()
    first = tmp_path / "prev.json"
    res = runner.invoke(report, ["rollup", str(files), "--province", "tinh-03", "--format", "json", "-o", str(first)])
    assert res.exit_code == 0, res.output
    prev = json.loads(first.read_text())
    assert {s["province"] for s in prev["sites"]} == {"tinh-03"} and prev["counts"]["sites"] < 110
    # an earlier roll-up with lower shares: the trend is the difference
    for t in prev["targets"]:
        t["share"] = round(t["share"] - 0.1, 6)
    prev["mean_score"] -= 0.05
    first.write_text(json.dumps(prev))
    res = runner.invoke(report, ["rollup", str(files), "--province", "tinh-03", "--previous", str(first),
                                 "--format", "json"])
    doc = json.loads(res.output)
    assert all(t["share_delta"] == pytest.approx(0.1, abs=1e-5) for t in doc["targets"])
    assert doc["previous"]["mean_score_delta"] == pytest.approx(0.05, abs=1e-5)
    ranked = [s for s in doc["sites"] if s["score"] is not None]
    assert [s["score"] for s in ranked] == sorted((s["score"] for s in ranked), reverse=True)
    assert ranked[0]["rank"] == 1 and all(a["rank"] <= b["rank"] for a, b in itertools.pairwise(ranked))


def test_rollup_outputs_html_csv_xlsx(fleet_dir: tuple[Path, Path], tmp_path: Path) -> None:
    from openpyxl import load_workbook

    files, expected = fleet_dir
    runner = CliRunner()
    for fmt in ("html", "csv", "xlsx", "md"):
        out = tmp_path / f"r.{fmt}"
        res = runner.invoke(report, ["rollup", str(files), "--province", "tinh-05", "--expect", str(expected),
                                     "--format", fmt, "-o", str(out)])
        assert res.exit_code == 0, res.output
    html = (tmp_path / "r.html").read_text()
    assert html.count("<svg") == 2 and "Tỷ lệ đơn vị đạt" in html and "&#34;Đông&#34;" in html
    rows = (tmp_path / "r.csv").read_text().splitlines()
    assert rows[0].startswith("rank,site,name,province,score,score_delta,NET-01")
    wb = load_workbook(io.BytesIO((tmp_path / "r.xlsx").read_bytes()))
    assert len(wb.sheetnames) == 3
    targets = wb.worksheets[0]
    assert targets.cell(2, 1).value == "NET-01" and 0 <= targets.cell(2, 7).value <= 1
    # --expect lists every site of the fleet; the other provinces' sites without files are listed too
    assert wb.worksheets[2].max_row > 1


def test_bad_files_and_snapshots(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "other.json").write_text('{"hello": 1}')
    snap = {"generated_at": 1_750_000_000, "site": {"id": "snap-site", "province": "p"},
            "results": [{"id": "gateway", "kind": "ping", "target": "gw", "status": "OK", "samples": []},
                        {"id": "tls-a", "kind": "tls", "target": "a:443", "status": "OK",
                         "samples": [{"name": "tls_chain_earliest_not_after_timestamp_seconds", "labels": {}, "value": 1_750_000_000 + 90 * 86400},
                                     {"name": "tls_verified", "labels": {}, "value": 1}]}]}
    (tmp_path / "snap.json").write_text(json.dumps(snap))
    doc = ru.rollup(ru.records_from_dir(tmp_path, PLAN), PLAN, source="t")
    by = {s["site"]: s for s in doc["sites"]}
    assert "broken.json" in by["broken"]["problem"] and "not a JSON object" in by["list"]["problem"]
    assert "neither a site report" in by["other"]["problem"]
    assert by["snap-site"]["score"] is not None and "LAN-01" in by["snap-site"]["unknown"]
    assert "TLS-01" not in by["snap-site"]["unknown"] + by["snap-site"]["not_met"]  # evaluated from the snapshot
    assert doc["counts"] == {"sites": 4, "with_data": 1, "no_data": 3, "outages": 0}
    assert by["snap-site"]["outages"] is None  # a snapshot cannot tell


def test_prometheus_errors_are_clear() -> None:
    port = free_port()
    with pytest.raises(PrometheusError, match="cannot query Prometheus"):
        list(records_from_prometheus(f"http://127.0.0.1:{port}", timeout=2))
    res = CliRunner().invoke(report, ["rollup", "--prometheus", f"http://127.0.0.1:{port}"])
    assert res.exit_code == 2 and "cannot query Prometheus" in res.output
    res = CliRunner().invoke(report, ["rollup"])
    assert res.exit_code == 2 and "either a FOLDER" in res.output

"""`inventory` kind, the `dxagent inventory` command and workstation self-reports (accept, push, folder)."""

from __future__ import annotations

import asyncio
import csv
import http.server
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dxagent import hostfacts, selfreport
from dxagent.checks import inventory
from dxagent.cli import cli
from dxagent.config import load_text
from dxagent.config.types import Secret
from dxagent.model import Reason, Status
from dxagent.probe import ProbeContext

GiB = 2**30
TOKEN = "s3cret-site-token-9f2c"


def _facts(**over: Any) -> dict[str, Any]:
    f: dict[str, Any] = {"os": {"name": "Windows", "version": "11", "pretty": "Windows 11 Pro"},
                         "memory": {"total_bytes": 8 * GiB},
                         "disks": [{"mount": "C:\\", "total_bytes": 200 * GiB, "free_bytes": 50 * GiB}],
                         "antimalware": {"state": "running"}}
    f.update(over)
    return f


@pytest.mark.parametrize(("over", "facts_failing", "status"), [
    ({}, [], Status.OK),
    ({"memory": {"total_bytes": int(3.9 * GiB)}}, [], Status.OK),   # 4 GB installed, ~3.9 visible: allowed
    ({"memory": {"total_bytes": 2 * GiB}}, ["memory"], Status.WARN),
    ({"disks": [{"mount": "C:\\", "total_bytes": 200 * GiB, "free_bytes": 5 * GiB}]}, ["disk"], Status.WARN),
    ({"disks": [{"mount": "/", "total_bytes": 2000 * GiB, "free_bytes": 60 * GiB}]}, ["disk"], Status.WARN),  # 3 % free
    ({"os": {"name": "Windows", "version": "10", "pretty": "Windows 10"}}, ["os"], Status.WARN),
    ({"os": {"name": "Windows", "version": "7", "pretty": "Windows 7"}}, ["os"], Status.CRIT),
    ({"antimalware": {"state": "not_found"}}, ["antimalware"], Status.WARN),
    ({"antimalware": {"state": "unknown"}, "memory": None, "disks": [], "os": None}, [], Status.OK),  # unknown: not judged
])
def test_conformance(over: dict[str, Any], facts_failing: list[str], status: Status) -> None:
    baseline = inventory.Baseline(require_antimalware=True)
    failures = inventory.conformance(_facts(**over), baseline)
    assert [f["fact"] for f in failures] == facts_failing
    assert inventory.judge(failures)[0] == status
    assert all(f["vi"] and f["en"] for f in failures)
    if failures:  # one action per failing fact, with this host's values
        hint = inventory.advice(failures, _facts(**over), baseline)
        value = {"memory": "4 GiB", "disk": (over.get("disks") or [{}])[0].get("mount", ""),
                 "os": (over.get("os") or {}).get("pretty", ""), "antimalware": "Defender"}[failures[0]["fact"]]
        assert value in hint.en and value in hint.vi and hint.en != hint.vi


def test_os_policy_from_config() -> None:
    cfg = load_text("checks:\n  - id: inv\n    kind: inventory\n    baseline:\n      os_policy:\n"
                    "        - {name: windows, versions: ['10', '11'], state: supported}\n", "c.yml").checks[0]
    assert cfg.baseline.os_state({"name": "Windows", "version": "10"}) == "supported"
    assert cfg.baseline.os_state({"name": "Debian GNU/Linux", "version": "12"}) == "unknown"


def test_probe_on_this_host_reports_facts_and_declared_samples() -> None:
    cfg = inventory.Config(id="inv", baseline={"min_memory": 2**40})
    result = asyncio.run(inventory.probe(cfg, ProbeContext("inv", "inventory")))
    assert result.status == Status.WARN and result.reason == Reason.THRESHOLD
    assert "below the 1024 GiB baseline" in result.summary.en and "thấp hơn mức chuẩn" in result.summary.vi
    assert result.details["hostname"] == hostfacts.collect()["hostname"]
    names = {s.name for s in result.samples}
    assert names <= set(inventory.METRICS)
    assert {"inventory_memory_bytes", "inventory_disk_free_bytes", "inventory_uptime_seconds"} <= names
    json.dumps(result.to_dict())


def test_example_validates() -> None:
    cfg = load_text("checks:\n" + "".join("  " + ln + "\n" for ln in inventory.EXAMPLE.splitlines()), "ex.yml")
    assert cfg.checks[0].baseline.min_memory == 4 * GiB


# --- self-reports ------------------------------------------------------------------------------

def _report_bytes(hostname: str = "PC-01", **facts: Any) -> bytes:
    f = {"hostname": hostname, "os": {"name": "Windows", "version": "11"}, **facts}
    return json.dumps(selfreport.build_report(f, "0.1.0")).encode()


def test_accept_report_checks_token_size_json_schema_in_that_order() -> None:
    secret = Secret(TOKEN)
    rep = selfreport.accept_report(_report_bytes(), f"Bearer {TOKEN}", secret)
    assert rep.facts.hostname == "PC-01"
    cases = [
        (b"x" * 10, None, 401), (_report_bytes(), "Bearer wrong", 401), (_report_bytes(), TOKEN[:-1], 401),
        (b"{" + b" " * 2000 + b"}", TOKEN, 413), (b"{not json", TOKEN, 400),
        (_report_bytes(hostname="../../etc/passwd"), TOKEN, 422),
        (json.dumps({"schema": "other/1", "sent_at": 1, "facts": {}}).encode(), TOKEN, 422),
    ]
    for body, header, status in cases:
        with pytest.raises(selfreport.ReportRejected) as err:
            selfreport.accept_report(body, header, secret, max_bytes=1024)
        assert err.value.status == status
        assert TOKEN not in err.value.message


def test_folder_reading_keeps_valid_reports_and_names_bad_files(tmp_path: Path) -> None:
    good = selfreport.parse_report(_report_bytes("PC-01"))
    path = selfreport.save_report(good, tmp_path)
    assert path.name == "pc-01.json"
    (tmp_path / "bad.json").write_text('{"schema": "dxagent.inventory/1", "sent_at": 1, "facts": {"hostname": "x"}}')
    (tmp_path / "big.json").write_bytes(b" " * 3000)
    reports, problems = selfreport.read_folder(tmp_path, max_bytes=2048)
    assert [r.report.facts.hostname for r in reports] == ["PC-01"]
    assert problems == [f"{tmp_path / 'bad.json'}: does not match schema dxagent.inventory/1: facts.os: Field required",
                        f"{tmp_path / 'big.json'}: 3000 bytes exceeds the limit of 2048"]
    assert selfreport.read_folder(tmp_path, max_age=10, now=path.stat().st_mtime + 60)[0] == []


class _Receiver(http.server.BaseHTTPRequestHandler):
    """What the daemon's endpoint does: accept_report, then save_report into the folder."""

    folder: Path

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            rep = selfreport.accept_report(body, self.headers.get("Authorization"), Secret(TOKEN))
        except selfreport.ReportRejected as exc:
            self.send_response(exc.status)
            self.end_headers()
            self.wfile.write(exc.message.encode())
            return
        selfreport.save_report(rep, self.folder)
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    handler = type("H", (_Receiver,), {"folder": tmp_path / "reports"})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/api/inventory", tmp_path / "reports"
    srv.shutdown()
    srv.server_close()


def test_push_then_folder_roundtrip(receiver: tuple[str, Path], tmp_path: Path) -> None:
    url, folder = receiver
    (tmp_path / "token").write_text(TOKEN + "\n")
    out = CliRunner().invoke(cli, ["inventory", "--push", url, "--token-file", str(tmp_path / "token")])
    assert out.exit_code == 0, out.output
    assert "HTTP 202" in out.output and TOKEN not in out.output
    reports, problems = selfreport.read_folder(folder)
    assert problems == [] and reports[0].report.facts.hostname == hostfacts.collect()["hostname"]
    (tmp_path / "token").write_text("wrong")
    out = CliRunner().invoke(cli, ["inventory", "--push", url, "--token-file", str(tmp_path / "token")])
    assert out.exit_code == 1 and "HTTP 401: missing or wrong site token" in out.output


def test_cli_local_formats() -> None:
    runner = CliRunner()
    doc = json.loads(runner.invoke(cli, ["inventory", "--format", "json"]).output)
    assert doc["host"]["hostname"] == hostfacts.collect()["hostname"]
    assert {s["name"] for s in doc["samples"]} <= set(inventory.METRICS)
    rows = list(csv.DictReader(io.StringIO(runner.invoke(cli, ["inventory", "--format", "csv"]).output)))
    assert len(rows) == 1 and int(rows[0]["memory_bytes"]) == doc["host"]["memory"]["total_bytes"]
    table = runner.invoke(cli, ["inventory", "--lang", "vi"]).output
    assert "Hệ điều hành" in table and "Chuẩn cấu hình" in table


def test_cli_refuses_a_subnet_too_large() -> None:
    out = CliRunner().invoke(cli, ["inventory", "--subnet", "10.0.0.0/16"])
    assert out.exit_code == 2
    assert "10.0.0.0/16 has 65536 addresses, above the sweep limit of 1024" in out.output

"""`dxagent run` extras: readiness metrics from the live history, and workstation self-reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.promtools import dxagent_run, http_get, promtool_check_metrics
from tests.test_daemon import tcp_check, wait, wait_metrics, write_config


def test_readiness_is_evaluated_and_exported(tmp_path: Path, tcp_listener: tuple[str, int]) -> None:
    checks = tcp_check("dc-tinh", tcp_listener[1])  # NET-01 reads ids dc-*: a reachable DC
    cfg = write_config(tmp_path / "c.yml", tmp_path / "state", checks, extra="readiness: {interval: 1m}")
    with dxagent_run(cfg) as agent:
        text = wait_metrics(agent.url, "dxagent_readiness_score{", timeout=30)
        ok, out = promtool_check_metrics(text)
        assert ok, out
        lines = {ln.rpartition(" ")[0]: float(ln.rpartition(" ")[2]) for ln in text.splitlines()
                 if ln.startswith("dxagent_readiness_")}
        score = next(v for k, v in lines.items() if k.startswith('dxagent_readiness_score{check="readiness",kind="readiness",target="plan02"'))
        assert 0 <= score <= 1
        # every plan02 target is there, met or unknown, and unknown is never counted as met
        targets = [k for k in lines if k.startswith("dxagent_readiness_target_met{")]
        assert len(targets) == 15  # plan02 has 15 targets (PWR-01 since issue #18)
        for key, met in lines.items():
            if key.startswith("dxagent_readiness_target_unknown{") and met == 1:
                assert lines[key.replace("_unknown{", "_met{")] == 0
        assert "# HELP dxagent_readiness_score Weighted share" in text
        # readiness is a metric, not a check result
        doc = json.loads(http_get(f"{agent.url}/api/results")[2])
        assert {r["id"] for r in doc["results"]} == {"dc-tinh"}


def test_self_report_endpoint_with_the_real_push_client(tmp_path: Path, tcp_listener: tuple[str, int]) -> None:
    token = tmp_path / "site-token"
    token.write_text("tok-3f9a1c77e2\n")
    folder = tmp_path / "reports"
    checks = tcp_check("smtp", tcp_listener[1]) + (
        f"  - {{id: lan, kind: discovery, subnets: [127.0.0.1/32], interval: 1h, timeout: 30s, "
        f"self_reports: {{folder: {folder}, token: {{file: {token}}}}}}}\n")
    cfg = write_config(tmp_path / "c.yml", tmp_path / "state", checks)
    with dxagent_run(cfg) as agent:
        wait(lambda: http_get(f"{agent.url}/healthz")[0] in (200, 503))
        url = f"{agent.url}/api/inventory/report"
        push = [sys.executable, "-m", "dxagent", "inventory", "--push", url, "--token-file"]
        wrong = tmp_path / "wrong"
        wrong.write_text("not-the-token")
        bad = subprocess.run([*push, str(wrong)], capture_output=True, text=True, timeout=60)
        assert bad.returncode != 0 and "401" in bad.stdout + bad.stderr
        assert "tok-3f9a1c77e2" not in bad.stdout + bad.stderr
        good = subprocess.run([*push, str(token)], capture_output=True, text=True, timeout=60)
        assert good.returncode == 0, good.stdout + good.stderr
        saved = list(folder.glob("*.json"))
        assert len(saved) == 1 and json.loads(saved[0].read_text())["schema"] == "dxagent.inventory/1"
        status, _, body = http_get(url, method="POST", headers={"Authorization": "Bearer tok-3f9a1c77e2",
                                                               "Content-Type": "application/json"})
        assert status == 400, body  # empty body: not JSON
        status, _, _ = http_get(url)  # GET is not allowed
        assert status == 405
        agent_log = agent.stop()
        assert agent_log == 0

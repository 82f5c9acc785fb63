"""End-to-end alert delivery: `dxagent run` → Prometheus (the project's rules) → Alertmanager (the
project's routing) → a webhook receiver in this test, for a loopback target the test breaks and fixes.

Time compression: the real rules wait minutes on purpose (3 failed runs in a 5-minute window, then
`for: 2m`). Run as they are, this test would take ten minutes. A temporary copy of recording.yml and
rules.yml divides every range window and every `for:` by 60 (one minute becomes one second), which
keeps their logic (3 runs, all failed, held for a while) with a 1-second check interval, scrape and
evaluation. Alertmanager uses the example's routes and inhibitions unchanged; only its receivers are
replaced by this test's webhook (one URL path per receiver, so the test sees which route matched)
and its timers shortened; the SMTP settings go, since nothing here may leave loopback.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml

from dxagent import alerts
from tests.pki import serve_https
from tests.promtools import alertmanager, dxagent_run, prometheus

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def compress(text: str, factor: int = 60) -> str:
    """Every `[N<unit>]` range and `for: N<unit>` divided by `factor` (in whole seconds, at least 1 s)."""

    def seconds(num: str, unit: str) -> str:
        return f"{max(1, int(num) * _UNITS[unit] // factor)}s"

    text = re.sub(r"\[(\d+)([smhdw])\]", lambda m: f"[{seconds(m.group(1), m.group(2))}]", text)
    return re.sub(r"\bfor: (\d+)([smhdw])\b", lambda m: f"for: {seconds(m.group(1), m.group(2))}", text)


def test_compress() -> None:
    assert compress("rate(x[5m]) and y[1d]\n        for: 2m\n") == "rate(x[5s]) and y[1440s]\n        for: 2s\n"


class Receiver:
    """Alertmanager's webhook notifications, as (receiver from the URL path, JSON body)."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with receiver.lock:
                    receiver.got.append((self.path.strip("/"), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                """quiet"""

        self.handler = Handler

    def wait(self, status: str, alertname: str, timeout: float) -> tuple[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for path, body in self.got:
                    if body["status"] == status and body["commonLabels"].get("alertname") == alertname:
                        return path, body
            time.sleep(0.1)
        raise AssertionError(f"no {status} {alertname} notification within {timeout} s; got {self.got}")


def am_config(hook_url: str) -> dict[str, Any]:
    doc = yaml.safe_load(alerts.resource(alerts.ALERTMANAGER_FILE).read_text(encoding="utf-8"))
    doc["global"] = {"resolve_timeout": "10s"}
    doc["route"].update(group_wait="1s", group_interval="1s")
    doc["receivers"] = [{"name": r["name"], "webhook_configs": [{"url": f"{hook_url}{r['name']}", "send_resolved": True}]}
                        for r in doc["receivers"]]
    return doc


@pytest.fixture
def target() -> Iterator[dict[str, Any]]:
    """A loopback TCP service the test can stop and start again on the same port."""
    state: dict[str, Any] = {"srv": socket.create_server(("127.0.0.1", 0))}
    state["port"] = state["srv"].getsockname()[1]
    yield state
    state["srv"].close()


def test_alert_fires_and_resolves_through_alertmanager(tmp_path: Path, target: dict[str, Any]) -> None:
    port = target["port"]
    rules = []
    for name in alerts.RULE_FILES:
        copy = tmp_path / name
        copy.write_text(compress(alerts.resource(name).read_text(encoding="utf-8")), encoding="utf-8")
        rules.append(copy)
    cfg = tmp_path / "dxagent.yml"
    cfg.write_text(f"""\
site: {{id: hn-xa-e2e, name: "UBND xã Liên Thông", province: ha-noi}}
state_dir: {tmp_path / 'state'}
checks:
  - {{id: dc-tinh, kind: tcp, host: 127.0.0.1, port: {port}, interval: 1s, timeout: 1s}}
""", encoding="utf-8")
    receiver = Receiver()
    with serve_https(None, receiver.handler) as hook, alertmanager(tmp_path, am_config(hook.url)) as am, \
            dxagent_run(cfg) as agent, \
            prometheus(tmp_path, [{"job_name": "dxagent", "static_configs": [{"targets": [f"127.0.0.1:{agent.port}"]}]}],
                       rule_files=rules, alertmanagers=[am.address]) as prom:
        prom.wait_for('dxagent_check_success{check="dc-tinh"} == 1 and on (job, instance) '
                      'instance:dxagent_site_info:last1d', timeout=20)
        target["srv"].close()  # break it: connection refused from now on
        broke = time.monotonic()
        path, firing = receiver.wait("firing", "SiteUplinkDown", timeout=30)
        fired_after = time.monotonic() - broke
        assert path == "ha-noi-oncall"  # province ha-noi, severity critical: the province's on-call receiver
        labels = firing["alerts"][0]["labels"]
        assert {k: labels.get(k) for k in ("alertname", "severity", "province", "site_id", "site_name", "check",
                                           "target", "kind")} == {
            "alertname": "SiteUplinkDown", "severity": "critical", "province": "ha-noi", "site_id": "hn-xa-e2e",
            "site_name": "UBND xã Liên Thông", "check": "dc-tinh", "target": f"127.0.0.1:{port}", "kind": "tcp"}
        annotations = firing["alerts"][0]["annotations"]
        assert annotations["summary"].startswith("UBND xã Liên Thông: 127.0.0.1:") and "runbook_url" in annotations
        assert fired_after >= 5  # never on one failed probe: the (compressed) 3-run window and `for:` held
        target["srv"] = socket.create_server(("127.0.0.1", port))  # fix it
        path, resolved = receiver.wait("resolved", "SiteUplinkDown", timeout=30)
        assert path == "ha-noi-oncall" and resolved["alerts"][0]["labels"]["target"] == f"127.0.0.1:{port}"
        assert resolved["alerts"][0]["endsAt"] >= firing["alerts"][0]["startsAt"]
        assert not [b for _, b in receiver.got if b["commonLabels"].get("alertname") == "DxagentDown"]

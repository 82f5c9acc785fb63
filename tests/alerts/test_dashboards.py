"""Grafana dashboards: valid structure (panels, targets, datasource variable), real metric names, and
every PromQL expression run against a real Prometheus (rules loaded) that scraped a real agent
probing real loopback services: no expression errors, and the site dashboard's panels return data."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dxagent import alerts
from dxagent.checks import clock
from tests import nut
from tests.alerts import promql
from tests.pki import TestPKI, serve_https
from tests.promtools import dxagent_run, prometheus
from tests.snmpd import running_snmpd
from tests.udpserver import serve_udp

DASHBOARDS = sorted(Path(str(alerts.resource(alerts.DASHBOARD_DIR))).glob("*.json"))
SITE = "site-detail.json"
# Site panels allowed to be empty here, with the reason.
MAY_BE_EMPTY = {
    "Firing alerts": "no alert fires in this healthy lab site",
    "Workstation coverage": "needs a discovery check with an asset register and LAN sweep (tests/checks/test_discovery.py)",
    "Readiness targets": "readiness series appear only where the agent exports dxagent_readiness_*",
    "Readiness score": "readiness series appear only where the agent exports dxagent_readiness_*",
}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def panels(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in doc["panels"]:
        out.append(p)
        out += p.get("panels", [])
    return out


def test_there_are_three_dashboards() -> None:
    assert [p.name for p in DASHBOARDS] == ["certificates.json", "fleet-overview.json", "site-detail.json"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_structure(path: Path) -> None:
    doc = load(path)
    assert doc["uid"].startswith("dxagent-") and doc["title"].startswith("dxagent") and doc["schemaVersion"] >= 36
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in panels(doc)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    data_panels = [p for p in panels(doc) if p["type"] != "row"]
    assert data_panels
    for p in data_panels:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        assert p["targets"] and p.get("description"), p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs))
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}" and t["expr"].strip()
            for name in re.findall(r"\$(\w+)", t["expr"]):
                assert name in variables, f"{p['title']}: ${name} is not a dashboard variable"
    for v in variables.values():
        if v["type"] == "query":
            assert v["datasource"]["uid"] == "${datasource}"
    assert not promql.unknown_metrics(t["expr"] for p in data_panels for t in p["targets"])


# --- the live stack: agent → Prometheus ------------------------------------------------------------


def _sntp_answer(data: bytes, peer: object) -> bytes | None:
    """A minimal real SNTP answer with our own clock (stratum 2)."""
    if len(data) < 48:
        return None
    now = time.time()
    return (bytes([0x24, 2, 6, 0xEC]) + struct.pack("!iI", 0, 0) + b"\x7f\x00\x00\x01"
            + clock.to_ntp(now - 10) + data[40:48] + clock.to_ntp(now) + clock.to_ntp(time.time()))


@contextlib.contextmanager
def sntp_server() -> Iterator[str]:
    """A real SNTP server on loopback, in a thread."""
    with serve_udp(_sntp_answer) as port:
        yield f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("dash")
    pki = TestPKI(tmp)
    leaf = pki.leaf(hosts=("localhost", "127.0.0.1"), days_left=20)
    listener = socket.create_server(("127.0.0.1", 0))
    with contextlib.ExitStack() as stack_:
        stack_.callback(listener.close)
        https = stack_.enter_context(serve_https(leaf))
        snmp = stack_.enter_context(running_snmpd(tmp / "snmpd"))
        ntp = stack_.enter_context(sntp_server())
        ups = ""
        if nut.available():
            upsd = stack_.enter_context(nut.running_upsd(tmp))
            ups = f"  - {{id: ups, kind: ups, host: 127.0.0.1, port: {upsd.port}, ups: dummy, interval: 2s, timeout: 1s}}\n"
        ping = ""
        if os.geteuid() == 0:
            ping = ("  - {id: gateway, kind: ping, targets: [127.0.0.1], count: 3, packet_interval: 50ms, "
                    "interval: 2s, timeout: 1500ms}\n")
        cfg = tmp / "dxagent.yml"
        cfg.write_text(f"""\
site: {{id: hn-dash, name: "UBND xã Bảng Điều Khiển", province: ha-noi, staff: 3}}
state_dir: {tmp / 'state'}
checks:
{ping}  - {{id: dc-tinh, kind: tcp, host: 127.0.0.1, port: {listener.getsockname()[1]}, interval: 2s, timeout: 1s}}
  - {{id: portal-test, kind: http, url: "{https.url}", ca_file: {leaf.ca}, interval: 2s, timeout: 1500ms}}
  - {{id: tls-test, kind: tls, host: 127.0.0.1, port: {https.port}, ca_file: {leaf.ca}, interval: 2s, timeout: 1500ms}}
  - {{id: chungthu, kind: certfile, paths: ["{leaf.cert}"], interval: 5s, timeout: 2s}}
  - {{id: lan, kind: interfaces, include: [lo], exclude: [], interval: 2s, timeout: 1s}}
  - {{id: router, kind: snmp, host: 127.0.0.1, port: {snmp.port}, version: v2c, community: {snmp.community}, request_timeout: 500ms,
     interval: 2s, timeout: 1500ms}}
  - {{id: inventory, kind: inventory, interval: 5s, timeout: 4s}}
  - {{id: system, kind: system, interval: 2s, timeout: 1500ms}}
  - {{id: clock, kind: clock, servers: ["{ntp}"], interval: 2s, timeout: 1s}}
{ups}""", encoding="utf-8")
        agent = stack_.enter_context(dxagent_run(cfg))
        rules = [Path(str(alerts.resource(name))) for name in alerts.RULE_FILES]
        prom = stack_.enter_context(prometheus(tmp, [
            {"job_name": "dxagent", "static_configs": [{"targets": [f"127.0.0.1:{agent.port}"]}]}], rule_files=rules))
        instance = f"127.0.0.1:{agent.port}"
        # rates (interfaces, snmp) need two runs; then the recording rules one more evaluation
        for expr in ("dxagent_snmp_interface_receive_bytes_per_second", "dxagent_interface_receive_bytes_per_second",
                     "dxagent:certificate_days_left", "province:dxagent_sites_up:ratio", "dxagent_clock_offset_seconds",
                     "dxagent_http_duration_seconds"):
            prom.wait_for(expr, timeout=30)
        yield {"prom": prom, "instance": instance, "site": "hn-dash", "province": "ha-noi", "agent": agent}


def substitute(expr: str, ctx: dict[str, Any]) -> str:
    values = {"datasource": "", "province": ctx["province"], "site": ctx["site"], "instance": ctx["instance"],
              "days": "100000", "__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], expr)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_expression_runs_and_site_panels_have_data(stack: dict[str, Any], path: Path) -> None:
    prom = stack["prom"]
    empty = []
    for p in panels(load(path)):
        if p["type"] == "row":
            continue
        got = 0
        for t in p["targets"]:
            got += len(prom.query(substitute(t["expr"], stack)))  # raises on any PromQL error
        if not got:
            empty.append(p["title"])
    if path.name == SITE:
        exported = prom.query('{__name__=~"dxagent_readiness_.*"}')
        allowed = {k for k, why in MAY_BE_EMPTY.items() if not (exported and "readiness" in why)}
        if os.geteuid() != 0:
            allowed |= {"Packet loss", "Round-trip time"}
        if not nut.available():
            allowed |= {"UPS state", "Battery runtime and charge", "Load and voltages"}
        assert set(empty) <= allowed, f"site panels without data: {sorted(set(empty) - allowed)}"
    else:
        # fleet and certificate views: the lab has one site, so most panels have data too
        assert len(empty) <= len(panels(load(path))) // 2, f"{path.name}: empty panels {empty}"


def test_template_variables_resolve(stack: dict[str, Any]) -> None:
    prom = stack["prom"]
    assert {r["metric"]["province"] for r in prom.query("dxagent_site_info")} == {"ha-noi"}
    assert [r["metric"]["instance"] for r in prom.query('dxagent_site_info{site_id="hn-dash"}')] == [stack["instance"]]

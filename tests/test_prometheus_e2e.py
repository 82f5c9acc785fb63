"""Real Prometheus scrapes a running `dxagent run` (plain, then TLS + basic auth); a real Pushgateway gets the push."""

from __future__ import annotations

import json
import time
from pathlib import Path

import bcrypt
import pytest

from dxagent.config import PushConfig
from dxagent.exporters import prometheus as prom
from dxagent.exporters import pushgateway
from dxagent.model import Result, Status, t
from tests.pki import TestPKI
from tests.promtools import (
    Proc,
    dxagent_run,
    free_port,
    http_get,
    need,
    prometheus,
    promtool_check_metrics,
    wait_http,
)
from tests.promtools import pushgateway as pushgateway_fixture
from tests.test_daemon import tcp_check, write_config


def test_prometheus_scrapes_expected_series(tmp_path: Path, tcp_listener: tuple[str, int]) -> None:
    closed = free_port()
    cfg = write_config(tmp_path / "c.yml", tmp_path / "state",
                       tcp_check("smtp", tcp_listener[1]) + tcp_check("closed", closed))
    with dxagent_run(cfg) as agent, prometheus(tmp_path, [
        {"job_name": "dxagent", "static_configs": [{"targets": [f"127.0.0.1:{agent.port}"]}]},
    ]) as prom:
        up = prom.wait_for('up{job="dxagent"} == 1')
        assert up[0]["metric"]["instance"] == f"127.0.0.1:{agent.port}"
        status = prom.wait_for('dxagent_check_status{check="closed"}')
        labels = status[0]["metric"]
        assert labels["kind"] == "tcp" and labels["target"] == f"127.0.0.1:{closed}" and labels["zone"] == "north"
        assert status[0]["value"][1] == "2"
        reason = prom.wait_for('dxagent_check_failure_info{check="closed"}')
        assert reason[0]["metric"]["reason"] == "connect"
        ok = prom.wait_for('dxagent_check_success{check="smtp"} == 1')
        assert ok[0]["metric"]["target"] == f"127.0.0.1:{tcp_listener[1]}"
        assert prom.wait_for("dxagent_tcp_connect_seconds{check=\"smtp\"} > 0")
        site = prom.wait_for("dxagent_site_info")[0]["metric"]
        assert (site["site_id"], site["site_name"], site["province"]) == ("hn-test", "UBND xã Thử Nghiệm", "ha-noi")
        assert prom.wait_for("process_resident_memory_bytes{job=\"dxagent\"} > 0")
        # Prometheus negotiates OpenMetrics: no sample was rejected on the way in.
        assert prom.wait_for('scrape_samples_scraped{job="dxagent"} > 20')
        assert not [t for t in prom.targets() if t["health"] != "up"]
        ok_lint, out = promtool_check_metrics(http_get(f"{agent.url}/metrics")[2])
        assert ok_lint, out


def test_tls_and_basic_auth_scrape(tmp_path: Path, tcp_listener: tuple[str, int]) -> None:
    pki = TestPKI(tmp_path)
    leaf = pki.leaf(hosts=("localhost", "127.0.0.1"))
    hashed = bcrypt.hashpw(b"mat-khau", bcrypt.gensalt(4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {leaf.chain}\n  key_file: {leaf.key}\n"
                   f"basic_auth_users:\n  prometheus: {hashed}\n")
    cfg = write_config(tmp_path / "c.yml", tmp_path / "state", tcp_check("smtp", tcp_listener[1]),
                       extra=f"server: {{web_config_file: {web}}}")
    (tmp_path / "pw").write_text("mat-khau")
    with dxagent_run(cfg, scheme="https", ca=leaf.ca) as agent:
        assert http_get(f"{agent.url}/metrics", ca=leaf.ca)[0] == 401
        assert http_get(f"{agent.url}/metrics", ca=leaf.ca, auth=("prometheus", "wrong"))[0] == 401
        status, _, body = http_get(f"{agent.url}/metrics", ca=leaf.ca, auth=("prometheus", "mat-khau"))
        assert status == 200 and b"dxagent_build_info" in body
        with prometheus(tmp_path, [
            {"job_name": "secure", "scheme": "https", "static_configs": [{"targets": [f"127.0.0.1:{agent.port}"]}],
             "basic_auth": {"username": "prometheus", "password_file": str(tmp_path / "pw")},
             "tls_config": {"ca_file": str(leaf.ca), "server_name": "localhost"}},
            {"job_name": "anonymous", "scheme": "https", "static_configs": [{"targets": [f"127.0.0.1:{agent.port}"]}],
             "tls_config": {"ca_file": str(leaf.ca), "server_name": "localhost"}},
        ]) as prom:
            assert prom.wait_for('up{job="secure"} == 1')
            assert prom.wait_for('dxagent_check_status{job="secure",check="smtp"} == 0')
            assert prom.wait_for('up{job="anonymous"} == 0')
            errors = [t["lastError"] for t in prom.targets() if t["labels"]["job"] == "anonymous"]
            assert "401" in errors[0]
        assert not any("mat-khau" in line for line in agent.log())


def test_push_to_pushgateway(tmp_path: Path, tcp_listener: tuple[str, int]) -> None:
    with pushgateway_fixture(tmp_path) as pgw:
        cfg = write_config(tmp_path / "c.yml", tmp_path / "state", tcp_check("smtp", tcp_listener[1]),
                           extra=f"push: {{url: '{pgw.url}', interval: 5s, job: dxagent}}")
        with dxagent_run(cfg):
            deadline = time.monotonic() + 20
            text = ""
            while time.monotonic() < deadline:
                text = pgw.metrics()
                if 'dxagent_check_status{check="smtp"' in text:
                    break
                time.sleep(0.2)
            assert 'dxagent_check_status{check="smtp",instance="",job="dxagent",kind="tcp",site_id="hn-test",' \
                   f'target="127.0.0.1:{tcp_listener[1]}",zone="north"}} 0' in text
            groups = pgw.groups()
            assert [g["labels"] for g in groups] == [{"job": "dxagent", "site_id": "hn-test"}]
            assert 'push_time_seconds{instance="",job="dxagent",site_id="hn-test"}' in text


def _push_config(url: str, **extra: object) -> PushConfig:
    return PushConfig.model_validate({"url": url, "job": "dxagent", "timeout": 5, **extra})


def test_push_with_tls_and_basic_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Pushgateway behind TLS (own CA) and basic auth: the right password lands, wrong ones say why, safely."""
    pki = TestPKI(tmp_path)
    leaf = pki.leaf(hosts=("localhost", "127.0.0.1"))
    hashed = bcrypt.hashpw(b"day-len", bcrypt.gensalt(4)).decode()
    web = tmp_path / "pgw-web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {leaf.chain}\n  key_file: {leaf.key}\n"
                   f"basic_auth_users:\n  site: {hashed}\n")
    port = free_port()
    gateway = Proc([need("prometheus-pushgateway"), f"--web.listen-address=127.0.0.1:{port}",
                    f"--persistence.file={tmp_path / 'pgw.data'}", f"--web.config.file={web}", "--log.level=warn"])
    url = f"https://127.0.0.1:{port}"
    view = prom.ScrapeView([Result("smtp", "tcp", "127.0.0.1:25", Status.OK, t("ok", "ok"), started=1.0)],
                           {"smtp": PushConfig()}, None, {"zone": "north"})
    registry = prom.Exporter(lambda: view).frozen(view)
    try:
        wait_http(f"{url}/-/ready", timeout=15, ca=leaf.ca, auth=("site", "day-len"))
        monkeypatch.setenv("PGW_PASSWORD", "day-len")
        good = _push_config(url, username="site", password={"env": "PGW_PASSWORD"}, ca_file=str(leaf.ca))
        pushgateway.push(good, "hn/test", registry)  # a '/' in the site id: base64 in the group path
        status, _, body = http_get(f"{url}/api/v1/metrics", ca=leaf.ca, auth=("site", "day-len"))
        groups = [g["labels"] for g in json.loads(body)["data"]]
        assert status == 200 and groups == [{"job": "dxagent", "site_id": "hn/test"}]
        text = http_get(f"{url}/metrics", ca=leaf.ca, auth=("site", "day-len"))[2].decode()
        assert 'dxagent_check_status{check="smtp",instance="",job="dxagent",kind="tcp",site_id="hn/test",' \
               'target="127.0.0.1:25",zone="north"} 0' in text
        assert 'process_resident_memory_bytes{instance="",job="dxagent",site_id="hn/test",zone="north"}' in text

        monkeypatch.setenv("PGW_PASSWORD", "sai-mat-khau")
        with pytest.raises(pushgateway.PushError) as wrong:
            pushgateway.push(_push_config(url, username="site", password={"env": "PGW_PASSWORD"},
                                          ca_file=str(leaf.ca)), "hn-test", registry)
        assert "401" in str(wrong.value) and "sai-mat-khau" not in str(wrong.value)
        with pytest.raises(pushgateway.PushError) as untrusted:  # system CAs only: the own CA is unknown
            pushgateway.push(_push_config(url, username="site", password={"env": "PGW_PASSWORD"}), "hn-test", registry)
        assert "certificate verify failed" in str(untrusted.value) and "sai-mat-khau" not in str(untrusted.value)
        with pytest.raises(pushgateway.PushError) as missing:
            pushgateway.push(_push_config(url, ca_file=str(tmp_path / "nope.pem")), "hn-test", registry)
        assert "nope.pem" in str(missing.value)
    finally:
        gateway.stop()


def test_push_basic_auth_over_http_and_dead_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain http with basic auth goes through the library's basic_auth_handler; a closed port fails within the timeout."""
    hashed = bcrypt.hashpw(b"day-len", bcrypt.gensalt(4)).decode()
    web = tmp_path / "pgw-web.yml"
    web.write_text(f"basic_auth_users:\n  site: {hashed}\n")
    monkeypatch.setenv("PGW_PASSWORD", "day-len")
    view = prom.ScrapeView([], {}, None, {})
    registry = prom.Exporter(lambda: view, process=False).frozen(view)
    port = free_port()
    gateway = Proc([need("prometheus-pushgateway"), f"--web.listen-address=127.0.0.1:{port}",
                    f"--persistence.file={tmp_path / 'pgw.data'}", f"--web.config.file={web}", "--log.level=warn"])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/-/ready", timeout=15, auth=("site", "day-len"))
        pushgateway.push(_push_config(url, username="site", password={"env": "PGW_PASSWORD"}), "hn-test", registry)
        body = http_get(f"{url}/api/v1/metrics", auth=("site", "day-len"))[2]
        assert [g["labels"] for g in json.loads(body)["data"]] == [{"job": "dxagent", "site_id": "hn-test"}]
        with pytest.raises(pushgateway.PushError) as anonymous:
            pushgateway.push(_push_config(url), "hn-test", registry)
        assert "401" in str(anonymous.value)
    finally:
        gateway.stop()
    started = time.monotonic()
    with pytest.raises(pushgateway.PushError) as dead:
        pushgateway.push(_push_config(f"http://127.0.0.1:{free_port()}"), "hn-test", registry)
    assert "cannot push to http://127.0.0.1:" in str(dead.value) and time.monotonic() - started < 5

"""`tcp` against real loopback listeners: open, closed, banner match, unresolvable, judge."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from conftest import free_port

from dxagent import aio
from dxagent.checks.tcp import Config, judge
from dxagent.model import Reason, Status
from dxagent.runner import Runner


def run(**fields: object):
    cfg = Config.model_validate({"id": "t", "kind": "tcp", "timeout": "2s", **fields})
    (result,) = aio.run(Runner().run_all([cfg]))
    return result


def test_open_port(tcp_listener: tuple[str, int]) -> None:
    host, port = tcp_listener
    r = run(host=host, port=port)
    assert r.status == Status.OK and r.reason is None
    assert r.target == f"127.0.0.1:{port}"
    values = {s.name: s.value for s in r.samples}
    assert values["tcp_connect_success"] == 1 and 0 < values["tcp_connect_seconds"] < 1


def test_closed_port_is_refused() -> None:
    port = free_port()
    r = run(host="127.0.0.1", port=port)
    assert r.status == Status.CRIT and r.reason == Reason.CONNECT
    assert "refused" in r.summary.en and "từ chối" in r.summary.vi
    assert f"127.0.0.1 port {port}" in r.hint.en and f"127.0.0.1 cổng {port}" in r.hint.vi  # the values that failed


def test_banner_expectation(tcp_listener: tuple[str, int]) -> None:
    host, port = tcp_listener
    assert run(host=host, port=port, expect="^220 ").status == Status.OK
    r = run(host=host, port=port, expect="^SSH-2.0")
    assert r.status == Status.CRIT and r.reason == Reason.CONTENT and "220" in r.details["banner"]
    assert f"Port {port} answered, but not with '^SSH-2.0'" in r.hint.en


def test_silent_server_times_out_in_conversation() -> None:
    srv = socket.create_server(("127.0.0.1", 0))
    conns = []
    threading.Thread(target=lambda: conns.append(srv.accept()), daemon=True).start()
    try:
        t0 = time.monotonic()
        r = run(host="127.0.0.1", port=srv.getsockname()[1], expect="hello", timeout="1s")
        assert time.monotonic() - t0 < 1.5
        assert r.status == Status.CRIT and r.reason == Reason.TIMEOUT
    finally:
        srv.close()


def test_unresolvable_name() -> None:
    r = run(host="no-such-host.invalid", port=80)
    assert r.status == Status.CRIT and r.reason == Reason.DNS
    assert "no-such-host.invalid" in r.hint.en and "no-such-host.invalid" in r.hint.vi


def test_ipv6_loopback() -> None:
    try:
        srv = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        import pytest

        pytest.skip("no IPv6 loopback on this machine")
    try:
        r = run(host="::1", port=srv.getsockname()[1], ip_family="ipv6")
        assert r.status == Status.OK and r.target.startswith("[::1]:")
    finally:
        srv.close()


def test_judge_thresholds() -> None:
    cfg = Config.model_validate({"id": "t", "kind": "tcp", "host": "h", "port": 1, "thresholds": {"warn": 0.1, "crit": 0.5}})
    assert judge(cfg, 0.05) == (Status.OK, None)
    assert judge(cfg, 0.1) == (Status.OK, None)  # at the limit is still OK
    assert judge(cfg, 0.2) == (Status.WARN, Reason.THRESHOLD)
    assert judge(cfg, 0.6) == (Status.CRIT, Reason.THRESHOLD)


def test_thresholds_take_durations_and_must_be_ordered() -> None:
    from dxagent.config import ConfigError, load_text

    text = "checks:\n  - id: t\n    kind: tcp\n    host: h\n    port: 1\n    thresholds: {warn: 500ms, crit: %s}\n"
    assert load_text(text % "2s").checks[0].thresholds.crit == 2.0
    with pytest.raises(ConfigError) as err:
        load_text(text % "100ms", "t.yml")
    assert "t.yml:6: checks[0].thresholds: warn must not be above crit" in str(err.value)

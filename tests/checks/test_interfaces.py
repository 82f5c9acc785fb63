"""Tests of the interfaces kind: pure selection, rates and judging; then real veth links in namespaces."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from dxagent.checks import interfaces as ifs
from dxagent.config import ConfigError, load_text
from dxagent.icmp import ping_address
from dxagent.model import Reason, Result, Status
from dxagent.runner import Runner
from tests import netns


def _cfg(**kw: Any) -> ifs.Config:
    return ifs.Config.model_validate({"id": "if", **kw})


# --- pure parts -------------------------------------------------------------------------------


def test_rates_and_counter_reset() -> None:
    prev = {"bytes_recv": 1000, "bytes_sent": 500, "errin": 4}
    cur = {"bytes_recv": 3000, "bytes_sent": 100, "errin": 4, "dropin": 9}
    # bytes_sent went backwards: a reset, no rate; dropin has no previous reading: no rate
    assert ifs.rates(prev, cur, 2.0) == {"bytes_recv": 1000.0, "errin": 0.0}
    assert ifs.rates(prev, cur, 0.0) == {}


def test_shares() -> None:
    r = {"packets_recv": 999.0, "errin": 1.0, "packets_sent": 0.0, "errout": 0.0, "dropin": 0.0}
    assert ifs.shares(r) == {"error:receive": 0.001, "drop:receive": 0.0}   # no packets out: no transmit share


def test_judge() -> None:
    cfg = _cfg(expected_up=["eth0"], min_speed_mbps=1000,
               thresholds={"errors": {"warn": "0.1%", "crit": "1%"}, "drops": {"warn": 0.01}})
    assert ifs.judge(cfg, "eth0", False, 1000, {}) == (Status.CRIT, Reason.DOWN, ["down"])
    assert ifs.judge(cfg, "eth1", False, 0, {}) == (Status.OK, None, [])          # not expected: reported only
    assert ifs.judge(cfg, "eth0", True, 1000, {"error:receive": 0.001}) == (Status.OK, None, [])  # equal: fine
    assert ifs.judge(cfg, "eth0", True, 1000, {"error:transmit": 0.002})[:2] == (Status.WARN, Reason.THRESHOLD)
    assert ifs.judge(cfg, "eth0", True, 1000, {"error:receive": 0.02, "drop:receive": 0.5}) == (
        Status.CRIT, Reason.THRESHOLD, ["errors"])
    assert ifs.judge(cfg, "eth0", True, 1000, {"drop:transmit": 0.02}) == (Status.WARN, Reason.THRESHOLD, ["drops"])
    assert ifs.judge(cfg, "eth0", True, 100, {}) == (Status.WARN, Reason.THRESHOLD, ["speed"])
    assert ifs.judge(cfg, "eth0", True, 0, {}) == (Status.OK, None, [])           # speed unknown (virtual link)


def _stat(up: bool, flags: str = "up,broadcast,running") -> dict[str, Any]:
    return {"up": up, "flags": flags}


def test_select() -> None:
    stats = {"lo": _stat(True, "up,loopback,running"), "eth0": _stat(True), "eth1": _stat(False),
             "docker0": _stat(True), "wlan0": _stat(False)}
    assert ifs.select(_cfg(), stats) == (["eth0", "eth1", "wlan0"], [])
    assert ifs.select(_cfg(only_up=True), stats) == (["eth0"], [])
    assert ifs.select(_cfg(only_up=True, expected_up=["wlan*", "eth9"]), stats) == (["eth0", "wlan0"], ["eth9"])
    assert ifs.select(_cfg(include=["eth*", "lo"]), stats) == (["eth0", "eth1", "lo"], [])
    assert ifs.select(_cfg(exclude=[]), stats)[0] == ["docker0", "eth0", "eth1", "wlan0"]


def test_prefix_lengths() -> None:
    assert ifs._prefixlen("255.255.255.0") == 24 and ifs._prefixlen("ffff:ffff:ffff:ffff::") == 64
    assert ifs._prefixlen("255.0.255.0") is None and ifs._prefixlen(None) is None


@pytest.mark.parametrize(("body", "message"), [
    ("thresholds: {errors: {warn: 5%, crit: 1%}}", "warn must not be above crit"),
    ("thresholds: {drops: {warn: 200%}}", "less than or equal to 1"),
    ("min_speed_mbps: 0", "greater than 0"),
    ("expected: [eth0]", "unknown field"),
])
def test_config_errors(body: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(f"checks:\n  - id: lan\n    kind: interfaces\n    {body}\n", "site.yml")
    assert "site.yml:4" in str(err.value) and message in str(err.value)


def test_example_validates() -> None:
    cfg = ifs.Config.model_validate(yaml.safe_load(ifs.EXAMPLE)[0])
    assert cfg.thresholds.errors.warn == 0.001 and cfg.expected_up == ("eth0",)


def test_loopback_only_when_included() -> None:
    """Real psutil data; loopback is there on every Linux machine."""
    (r,) = asyncio.run(Runner().run_all(load_text(
        "checks:\n  - id: lo\n    kind: interfaces\n    include: [lo]\n").checks))
    assert r.target == "lo" and r.status == Status.OK and r.details["up"]
    names = {s.name for s in r.samples}
    assert {"interface_up", "interface_mtu_bytes", "interface_receive_bytes_total"} <= names
    assert not any(n.endswith(("_per_second", "_ratio")) and "speed" not in n for n in names)  # totals only
    assert set(names) <= set(ifs.METRICS)


# --- real veth links in namespaces ------------------------------------------------------------


@pytest.fixture(scope="module")
def lan() -> Iterator[tuple[netns.NetLab, netns.Lan]]:
    netns.skip_unless_available()
    with netns.NetLab() as lab:
        yield lab, lab.lan()


def _rate_samples(r: Result) -> list[str]:
    return [s.name for s in r.samples if s.name.endswith(("_per_second", "_ratio")) and "speed" not in s.name]


def _samples(r: Result) -> dict[str, float]:
    return {s.name + "".join(f"{{{v}}}" for _, v in s.labels): s.value for s in r.samples}


def test_expected_up_interface_going_down(lan: tuple[netns.NetLab, netns.Lan]) -> None:
    lab, net = lan
    host = net.add_host()
    cfg = load_text(f"checks:\n  - id: lan\n    kind: interfaces\n    include: ['{host.veth}']\n"
                    f"    expected_up: ['{host.veth}']\n").checks
    (r,) = asyncio.run(Runner().run_all(cfg))
    assert (r.status, r.target, _samples(r)["interface_up"]) == (Status.OK, host.veth, 1)
    assert r.details["mtu"] == 1500 and r.details["admin_up"]
    lab.set_link(host, up=False)            # the far end goes down: our end loses its carrier
    for _ in range(40):
        (r,) = asyncio.run(Runner().run_all(cfg))
        if r.status != Status.OK:
            break
        time.sleep(0.05)
    assert (r.status, r.reason, _samples(r)["interface_up"]) == (Status.CRIT, Reason.DOWN, 0)
    assert r.details["admin_up"] is True    # still enabled here: the link is what is down
    assert r.hint is not None and "cable" in r.hint.en and "cáp" in r.hint.vi
    assert f"{host.veth} has no link" in r.hint.en and host.veth in r.hint.vi
    lab.set_link(host, up=True)


def test_hints_name_the_interface_the_value_and_the_limit() -> None:
    cfg = ifs.Config.model_validate({"id": "i", "include": ["eth0"], "min_speed_mbps": 1000})
    info = {"flags": "up,broadcast", "duplex": "half", "speed": 100}
    status, reason, crossed = ifs.judge(cfg, "eth0", True, 100, {})
    hint = ifs._hint(cfg, "eth0", info, status, reason, crossed, {})
    assert "eth0 negotiated 100 Mbps, below `min_speed_mbps` 1000" in hint.en and "100 Mbps" in hint.vi
    ratio = {"error:receive": 0.05, "error:transmit": 0.0}
    status, reason, crossed = ifs.judge(cfg, "eth0", True, 1000, ratio)
    hint = ifs._hint(cfg, "eth0", info, status, reason, crossed, ratio)
    limit = cfg.thresholds.errors.crit if status == Status.CRIT else cfg.thresholds.errors.warn
    assert f"eth0: receive errors 5.000% (limit {limit:.3%})" in hint.en and "(half)" in hint.en
    down = ifs._hint(cfg, "eth0", {**info, "flags": "broadcast"}, Status.CRIT, Reason.DOWN, ["down"], {})
    assert "`ip link set eth0 up`" in down.en


def test_rates_after_traffic_between_two_runs(lan: tuple[netns.NetLab, netns.Lan]) -> None:
    _, net = lan
    host = net.add_host()
    cfg = load_text(f"checks:\n  - id: lan\n    kind: interfaces\n    include: ['{host.veth}']\n").checks
    runner = Runner()
    (first,) = asyncio.run(runner.run_all(cfg))
    assert first.details["interval_seconds"] is None
    assert _rate_samples(first) == []
    m = asyncio.run(ping_address(host.v4, socket.AF_INET, count=50, interval=0.002, packet_timeout=0.5, size=1000))
    assert len(m.rtts) == 50
    (second,) = asyncio.run(runner.run_all(cfg))
    a, b = _samples(first), _samples(second)
    dt = second.details["interval_seconds"]
    # toward the host, our end of the veth transmits the 50 requests of 1000-byte payload
    delta_tx = b["interface_transmit_bytes_total"] - a["interface_transmit_bytes_total"]
    assert delta_tx >= 50 * 1000
    assert math.isclose(b["interface_transmit_bytes_per_second"] * dt, delta_tx)
    assert b["interface_receive_packets_total"] - a["interface_receive_packets_total"] >= 50
    assert b["interface_error_ratio{receive}"] == 0 and b["interface_drop_ratio{transmit}"] == 0
    assert second.status == Status.OK and "Mbit/s" in second.summary.en
    assert b["interface_speed_bytes_per_second"] == 10_000 * 10**6 / 8      # veth reports 10000 Mbps


def test_counter_reset_gives_no_rate(lan: tuple[netns.NetLab, netns.Lan]) -> None:
    """A previous reading higher than now (interface re-created) must not yield negative rates."""
    _, net = lan
    host = net.add_host()
    cfg = load_text(f"checks:\n  - id: lan\n    kind: interfaces\n    include: ['{host.veth}']\n").checks
    runner = Runner()
    asyncio.run(runner.run_all(cfg))
    when, counters = runner.states["lan"]["counters"][host.veth]
    runner.states["lan"]["counters"][host.veth] = (when, {k: v + 10**9 for k, v in counters.items()})
    (r,) = asyncio.run(runner.run_all(cfg))
    assert _rate_samples(r) == []
    assert set(r.details["counter_resets"]) == set(ifs.COUNTERS)
    assert r.status == Status.OK

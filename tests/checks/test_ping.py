"""Tests of the ping kind: pure judging and parsing, then real ICMP to namespace hosts.

The namespace tests send traffic only to hosts of a LAN built by tests/netns.py (or to loopback
inside those namespaces); names are resolved there with per-namespace hosts/resolv.conf files so
that no query ever reaches the machine's real DNS server.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dxagent import netinfo
from dxagent.checks import ping
from dxagent.config import ConfigError, load_text
from dxagent.icmp import parse_packet
from dxagent.model import Reason, Result, Status
from dxagent.runner import Runner
from tests import netns

# --- pure parts -------------------------------------------------------------------------------


def test_stats_definitions() -> None:
    st = ping.stats([0.010, 0.030, 0.020, 0.020])
    assert st["min"] == 0.010 and st["max"] == 0.030
    assert math.isclose(st["avg"], 0.020)
    # jitter = mean |RTT(i) - RTT(i-1)| = (0.02 + 0.01 + 0) / 3
    assert math.isclose(st["jitter"], 0.01)
    assert "jitter" not in ping.stats([0.01])
    assert ping.stats([]) == {}


def _th(**kw: Any) -> ping.Thresholds:
    return ping.Config.model_validate({"id": "p", "targets": ["x"], "thresholds": kw}).thresholds


def test_judge() -> None:
    th = _th(loss={"warn": "1%", "crit": "20%"}, rtt={"warn": "50ms", "crit": "200ms"}, jitter={"warn": "30ms"})
    assert ping.judge(th, 10, 0, None, None) == (Status.CRIT, Reason.DOWN, ["no reply"])
    assert ping.judge(th, 0, 0, None, None)[1] == Reason.DOWN
    assert ping.judge(th, 100, 100, 0.01, 0.001) == (Status.OK, None, [])
    assert ping.judge(th, 100, 80, 0.01, 0.001) == (Status.WARN, Reason.THRESHOLD, ["loss"])
    assert ping.judge(th, 100, 79, 0.01, 0.001) == (Status.CRIT, Reason.THRESHOLD, ["loss"])
    assert ping.judge(th, 100, 100, 0.06, 0.04) == (Status.WARN, Reason.THRESHOLD, ["rtt", "jitter"])
    assert ping.judge(th, 100, 100, 0.25, 0.04)[:2] == (Status.CRIT, Reason.THRESHOLD)
    assert ping.judge(th, 100, 100, 0.05, 0.03) == (Status.OK, None, [])  # equal is not above


def test_default_loss_limits_and_percent_syntax() -> None:
    th = ping.Config.model_validate({"id": "p", "targets": ["x"]}).thresholds
    assert (th.loss.warn, th.loss.crit) == (0.01, 0.2)
    assert ping.judge(th, 5, 4, 0.001, 0.0)[0] == Status.WARN   # 1 of 5 lost = 20 %: not above crit
    assert ping.judge(th, 5, 3, 0.001, 0.0)[0] == Status.CRIT
    # a limit left out keeps its default; null switches it off
    th = _th(loss={"warn": "0.5%"})
    assert (th.loss.warn, th.loss.crit) == (0.005, 0.2)
    assert ping.judge(th, 10, 9, 0.001, 0.0)[0] == Status.WARN    # 10 % lost
    assert ping.judge(th, 10, 7, 0.001, 0.0)[0] == Status.CRIT    # 30 % lost: the default crit still holds
    th = _th(loss={"warn": "0.5%", "crit": None})
    assert ping.judge(th, 10, 1, 0.001, 0.0)[0] == Status.WARN    # 90 % lost, crit switched off


@pytest.mark.parametrize(("body", "message"), [
    ("targets: []", "at least 1 item"),
    ("targets: [x]\n    count: 50\n    packet_interval: 1s\n    timeout: 10s", "does not fit in timeout"),
    ("targets: [x]\n    thresholds: {loss: {warn: 50%, crit: 10%}}", "warn must not be above crit"),
    ("targets: [x]\n    thresholds: {loss: {warn: 150%}}", "less than or equal to 1"),
    ("targets: [x]\n    socket: icmp", "'auto', 'raw' or 'datagram'"),
])
def test_config_errors_name_the_line(body: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(f"checks:\n  - id: p\n    kind: ping\n    {body}\n", "site.yml")
    text = str(err.value)
    assert "site.yml:" in text and message in text


def test_example_validates() -> None:
    import yaml

    cfg = ping.Config.model_validate(yaml.safe_load(ping.EXAMPLE)[0])
    assert cfg.thresholds.loss.warn == 0.01 and cfg.thresholds.rtt.warn == 0.05


def test_permission_hint_says_how_to_fix() -> None:
    hint = ping.permission_hint(1234)
    for text in (hint.en, hint.vi):
        assert "cap_net_raw" in text and "AmbientCapabilities=CAP_NET_RAW" in text
        assert "ping_group_range" in text and "1234" in text
    assert "Cấp quyền" in hint.vi


def _icmp(kind: int, ident: int, seq: int, payload: bytes = b"x" * 8) -> bytes:
    return struct.pack("!BBHHH", kind, 0, 0, ident, seq) + payload


def _ipv4(payload: bytes, options: bytes = b"") -> bytes:
    ihl = (20 + len(options)) // 4
    return bytes([0x40 | ihl]) + b"\0" * 19 + options + payload


def test_parse_packet() -> None:
    v4, v6 = socket.AF_INET, socket.AF_INET6
    assert parse_packet(_ipv4(_icmp(0, 7, 3)), v4, True) == ("reply", 0, 7, 3)
    assert parse_packet(_ipv4(_icmp(0, 7, 3), options=b"\1" * 4), v4, True) == ("reply", 0, 7, 3)
    assert parse_packet(_icmp(0, 9, 1), v4, False) == ("reply", 0, 9, 1)          # datagram socket
    assert parse_packet(_ipv4(_icmp(8, 7, 3)), v4, True) is None                  # our own request (loopback)
    unreach = struct.pack("!BBHI", 3, 1, 0, 0) + _ipv4(_icmp(8, 7, 5))
    assert parse_packet(_ipv4(unreach), v4, True) == ("destination unreachable", 1, 7, 5)
    assert parse_packet(_icmp(129, 11, 2), v6, False) == ("reply", 0, 11, 2)
    exceeded = struct.pack("!BBHI", 3, 0, 0, 0) + b"\0" * 40 + _icmp(128, 11, 4)
    assert parse_packet(exceeded, v6, False) == ("time exceeded", 0, 11, 4)
    assert parse_packet(b"\0\0", v4, False) is None
    assert parse_packet(struct.pack("!BBHI", 3, 1, 0, 0) + b"\x45", v4, False) is None


def _run(cfg_text: str) -> list[Result]:
    cfg = load_text(cfg_text)
    return asyncio.run(Runner().run_all(cfg.checks))


def test_symbolic_targets_without_route_or_resolver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "route").write_text("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
                                    "eth0\t0001CB0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n")
    (tmp_path / "ipv6_route").write_text("")
    (tmp_path / "resolv.conf").write_text("# nothing configured\nsearch example\n")
    monkeypatch.setattr(netinfo, "ROUTE_PATH", tmp_path / "route")
    monkeypatch.setattr(netinfo, "IPV6_ROUTE_PATH", tmp_path / "ipv6_route")
    monkeypatch.setattr(netinfo, "RESOLV_CONF", tmp_path / "resolv.conf")
    gw, dns = _run("checks:\n  - id: p\n    kind: ping\n    targets: [gateway, dns]\n")
    assert (gw.status, gw.reason, gw.target) == (Status.CRIT, Reason.DOWN, "gateway")
    assert "no default route" in gw.summary.en and "tuyến mặc định" in gw.summary.vi
    assert gw.hint is not None and "ip route" in gw.hint.en
    assert (dns.status, dns.reason, dns.target) == (Status.CRIT, Reason.DNS, "dns")


# --- real ICMP in namespaces ------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab() -> Iterator[netns.NetLab]:
    netns.skip_unless_available()
    with netns.NetLab() as lab:
        yield lab


@pytest.fixture(scope="module")
def lan(lab: netns.NetLab) -> netns.Lan:
    lan = lab.lan()
    lan.add_host()     # hosts[0]: drops a share of echo requests
    lan.add_host()     # hosts[1]: clean
    return lan


def _samples(r: Result) -> dict[str, float]:
    return {s.name + "".join(f"{{{v}}}" for _, v in s.labels): s.value for s in r.samples}


def test_loss_matches_nft_counter_exactly(lab: netns.NetLab, lan: netns.Lan) -> None:
    lossy = lan.hosts[0]
    lab.drop_echo(lossy, 20)
    before = lab.dropped(lossy)
    count, p = 200, 0.2
    (r,) = _run(f"checks:\n  - id: loss\n    kind: ping\n    targets: ['{lossy.v4}']\n    count: {count}\n"
                f"    packet_interval: 2ms\n    packet_timeout: 500ms\n    timeout: 5s\n")
    s = _samples(r)
    sent, received = int(s["ping_packets_sent"]), int(s["ping_packets_received"])
    dropped = lab.dropped(lossy) - before
    assert sent == count
    assert dropped == sent - received                       # ground truth: every lost packet was nft's
    assert s["ping_loss_ratio"] == (sent - received) / sent  # exact, not rounded
    sigma = math.sqrt(count * p * (1 - p))                   # binomial: 4 sigma = 22.6 packets
    assert abs(dropped - count * p) <= 4 * sigma
    assert r.status == (Status.CRIT if s["ping_loss_ratio"] > 0.2 else Status.WARN)
    assert r.reason == Reason.THRESHOLD and r.details["loss_ratio"] == s["ping_loss_ratio"]
    limit = "limit 20%" if r.status == Status.CRIT else "limit 1%"  # the value and the limit it crossed
    assert f"To {lossy.v4}: loss {s['ping_loss_ratio'] * 100:.4g}% ({limit})" in r.hint.en and "ngưỡng" in r.hint.vi
    assert s["ping_rtt_seconds{min}"] <= s["ping_rtt_seconds{avg}"] <= s["ping_rtt_seconds{max}"] < 0.5
    assert s["ping_jitter_seconds"] >= 0


def test_absent_address_is_down_and_many_targets_run_concurrently(lab: netns.NetLab, lan: netns.Lan) -> None:
    clean = lan.hosts[1]
    results = _run(f"checks:\n  - id: many\n    kind: ping\n    targets: ['{lan.absent_v4()}', '{clean.v4}', "
                   f"'{clean.v6}', '{lan.gateway_v4}']\n    count: 20\n    packet_interval: 10ms\n"
                   f"    packet_timeout: 300ms\n    timeout: 3s\n")
    absent, v4, v6, gw = results
    assert (absent.status, absent.reason) == (Status.CRIT, Reason.DOWN)
    assert _samples(absent)["ping_loss_ratio"] == 1.0 and _samples(absent)["ping_packets_sent"] == 20
    assert "no reply" in absent.summary.en and "không có phản hồi" in absent.summary.vi
    assert f"{lan.absent_v4()} did not answer 20 requests" in absent.hint.en or "A router answered" in absent.hint.en
    for r in (v4, v6, gw):
        assert r.status == Status.OK, r.summary
        assert _samples(r)["ping_packets_received"] == 20
    assert v6.details["address"] == clean.v6 and "ping_rtt_seconds{avg}" in _samples(v6)
    # one lost target costs (count - 1) × interval + packet_timeout, not count × timeout
    assert absent.duration < 2.5


def test_localhost_by_name() -> None:
    reason = netns.available()
    if reason:
        pytest.skip(reason)
    (r,) = _run("checks:\n  - id: lo\n    kind: ping\n    targets: [localhost]\n    count: 3\n"
                "    packet_interval: 10ms\n")
    assert r.status == Status.OK and r.target == "localhost"
    assert r.details["address"] in ("127.0.0.1", "::1")


RUNNER = ("import asyncio, json, sys\n"
          "from dxagent.config import load_text\nfrom dxagent.runner import Runner\n"
          "cfg = load_text(sys.stdin.read())\n"
          "print(json.dumps([r.to_dict() for r in asyncio.run(Runner().run_all(cfg.checks))]))\n")


def _run_in(lab: netns.NetLab, host: netns.Host, cfg_text: str, *prefix: str) -> list[dict[str, Any]]:
    """Run a config inside the host's namespace (its own routes, resolv.conf, hosts)."""
    proc = lab.run_in(host, *prefix, sys.executable, "-c", RUNNER, input=cfg_text)
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_names_gateway_and_dns_inside_a_namespace(lab: netns.NetLab, lan: netns.Lan) -> None:
    client, server = lan.add_host(), lan.hosts[1]
    lab.write_etc(client, "hosts", f"127.0.0.1 localhost\n{server.v4} dc.tinh.test\n")
    lab.write_etc(client, "resolv.conf", f"nameserver {server.v4}\n")  # nothing listens on 53 there
    out = _run_in(lab, client, "checks:\n  - id: p\n    kind: ping\n"
                  "    targets: [dc.tinh.test, gateway, dns, missing.tinh.test]\n"
                  "    count: 5\n    packet_interval: 10ms\n    packet_timeout: 300ms\n    timeout: 4s\n")
    by_target = {r["target"]: r for r in out}
    assert by_target["dc.tinh.test"]["status"] == "OK"
    assert by_target["dc.tinh.test"]["details"]["address"] == server.v4
    assert by_target[f"gateway:{lan.gateway_v4}"]["status"] == "OK"
    assert by_target[f"gateway:{lan.gateway_v6}"]["status"] == "OK"
    assert by_target[f"dns:{server.v4}"]["status"] == "OK"
    missing = by_target["missing.tinh.test"]
    assert (missing["status"], missing["reason"]) == ("CRIT", "dns")


def test_no_default_route_inside_a_namespace(lab: netns.NetLab, lan: netns.Lan) -> None:
    lonely = lan.add_host(default_route=False)
    gw, off_lan = _run_in(lab, lonely, "checks:\n  - id: gw\n    kind: ping\n    targets: [gateway, 10.203.254.1]\n"
                          "    count: 3\n    packet_interval: 10ms\n")
    assert (gw["status"], gw["reason"], gw["target"]) == ("CRIT", "down", "gateway")
    # no route: sendto fails inside the namespace, nothing leaves it; each failure is a lost packet
    assert (off_lan["status"], off_lan["reason"]) == ("CRIT", "down")
    assert off_lan["details"]["send_errors"] == 3 and "unreachable" in off_lan["summary"].lower()


def test_permission_unprivileged_then_ping_group_range(lab: netns.NetLab, lan: netns.Lan) -> None:
    """As `nobody` without CAP_NET_RAW: UNKNOWN/permission; once the namespace's ping_group_range
    admits the group, the datagram socket works."""
    host = lan.add_host()
    nobody = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")
    cfg = "checks:\n  - id: lo\n    kind: ping\n    targets: ['127.0.0.1']\n    count: 3\n    packet_interval: 10ms\n"
    lab.run_in(host, "sysctl", "-qw", "net.ipv4.ping_group_range=1 0")
    (denied,) = _run_in(lab, host, cfg, *nobody)
    assert (denied["status"], denied["reason"]) == ("UNKNOWN", "permission")
    assert "CAP_NET_RAW" in denied["summary"] and "ping_group_range" in denied["hint"]
    lab.run_in(host, "sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647")
    (allowed,) = _run_in(lab, host, cfg, *nobody)
    assert allowed["status"] == "OK" and allowed["details"]["socket"] == "datagram"
    assert allowed["details"]["received"] == 3

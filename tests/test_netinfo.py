"""Tests of dxagent.netinfo: default gateways from the kernel's route tables, resolvers from resolv.conf.

Fixture texts are copies of real /proc/net/route and /proc/net/ipv6_route content (a Debian 12
host and a test namespace); one test reads a namespace's own tables through `ip netns exec`.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from dxagent import netinfo
from tests import netns

ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth1\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
wg0\t00000000\t00000000\t0001\t0\t0\t50\t00000000\t0\t0\t0
eth2\t00000000\t0202A8C0\t0203\t0\t0\t10\t00000000\t0\t0\t0
broken line
"""

IPV6_ROUTE = """\
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 \
00000002 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 \
00000001 00000000 00000003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000100 \
00000002 00000000 00000003     eth1
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff \
00000001 00000000 00200200       lo
""".replace("\\\n", "")


def test_ipv4_and_ipv6_gateways_by_metric(tmp_path: Path) -> None:
    (tmp_path / "route").write_text(ROUTE)
    (tmp_path / "ipv6_route").write_text(IPV6_ROUTE)
    gws = netinfo.default_gateways(tmp_path / "route", tmp_path / "ipv6_route")
    # rejected (0x0200) and gateway-less default routes are skipped; each family sorted by metric
    assert [(g.address, g.interface, g.version, g.metric) for g in gws] == [
        ("10.0.0.1", "eth0", 4, 100),
        ("192.168.1.1", "eth1", 4, 600),
        ("fd00::1", "eth1", 6, 256),
        ("fe80::1%eth0", "eth0", 6, 1024),   # link-local next hops carry their interface
    ]
    v6 = netinfo.default_gateways(tmp_path / "route", tmp_path / "ipv6_route", socket.AF_INET6)
    assert [g.family for g in v6] == [socket.AF_INET6, socket.AF_INET6]


def test_missing_files_give_no_gateway(tmp_path: Path) -> None:
    assert netinfo.default_gateways(tmp_path / "none", tmp_path / "none6") == []


def test_resolvers(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# generated\nsearch tinh.gov.vn\nnameserver 10.1.1.53  # primary\nnameserver bogus\n"
                    "nameserver 2001:db8::0035\n;nameserver 10.9.9.9\nnameserver 10.1.1.53\n"
                    "nameserver fe80::1%eth0\noptions edns0\n")
    assert netinfo.resolvers(conf, None) == ["10.1.1.53", "2001:db8::35", "fe80::1%eth0"]
    assert netinfo.resolvers(tmp_path / "missing") == []


def test_systemd_resolved_stub_is_replaced_by_upstream(tmp_path: Path) -> None:
    stub, upstream = tmp_path / "resolv.conf", tmp_path / "upstream.conf"
    stub.write_text("nameserver 127.0.0.53\noptions edns0 trust-ad\n")
    upstream.write_text("nameserver 10.1.1.53\nnameserver 10.1.2.53\n")
    assert netinfo.resolvers(stub, upstream) == ["10.1.1.53", "10.1.2.53"]
    assert netinfo.resolvers(stub, tmp_path / "absent") == ["127.0.0.53"]


@pytest.fixture
def lab():
    netns.skip_unless_available()
    with netns.NetLab() as lab:
        yield lab


def test_gateways_read_inside_a_namespace(lab: netns.NetLab) -> None:
    """/proc/net/* belongs to the reader's namespace: run the parser there and compare with `ip`."""
    lan = lab.lan()
    host = lan.add_host()
    code = ("import json; from dxagent import netinfo\n"
            "print(json.dumps([[g.address, g.interface, g.version] for g in netinfo.default_gateways()]))")
    got = json.loads(lab.run_in(host, sys.executable, "-c", code).stdout)
    assert got == [[lan.gateway_v4, "eth0", 4], [lan.gateway_v6, "eth0", 6]]
    shown = json.loads(lab.run_in(host, "ip", "-j", "route", "show", "default").stdout)
    assert [r["gateway"] for r in shown] == [lan.gateway_v4]
    lab.run_in(host, "ip", "route", "del", "default")
    lab.run_in(host, "ip", "-6", "route", "del", "default")
    assert json.loads(lab.run_in(host, sys.executable, "-c", code).stdout) == []

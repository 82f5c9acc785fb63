"""The ICMP sweeper, neighbour-table parsing, reverse DNS and the TCP port fingerprint."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import netns
import pytest
from _ns_discovery import StubDns

from dxagent import sweep

DROP_ECHO = ("table inet dxdisc {\n chain in {\n  type filter hook input priority 0; policy accept;\n"
             "  icmp type echo-request drop\n }\n}\n")


def test_expand_hosts_and_limits() -> None:
    assert [str(a) for a in sweep.expand(["10.203.9.0/30"], 10)] == ["10.203.9.1", "10.203.9.2"]
    assert len(sweep.expand(["10.203.9.0/24", "10.203.9.128/25"], 254)) == 254      # overlap counted once
    with pytest.raises(sweep.SubnetTooLarge, match=r"10.0.0.0/16 has 65536 addresses, above the sweep limit of 1024"):
        sweep.expand(["10.0.0.0/16"], 1024)
    with pytest.raises(sweep.SubnetTooLarge, match="together"):
        sweep.expand(["10.203.1.0/24", "10.203.2.0/24"], 300)
    with pytest.raises(ValueError, match="only IPv4"):
        sweep.expand(["fd00::/120"], 1024)


def test_checksum_matches_rfc1071_example() -> None:
    # RFC 1071 §3 example words 0001 f203 f4f5 f6f7 sum to ddf2, checksum = ~ddf2
    assert sweep._checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


@pytest.mark.parametrize(("text", "mac"), [
    ("AA-BB-CC-DD-EE-0F", "aa:bb:cc:dd:ee:0f"), ("aabb.ccdd.ee0f", "aa:bb:cc:dd:ee:0f"),
    ("aabbccddee0f", "aa:bb:cc:dd:ee:0f"), ("aa:bb:cc:dd:ee", None), ("zz:bb:cc:dd:ee:0f", None), ("", None),
])
def test_normalise_mac(text: str, mac: str | None) -> None:
    assert sweep.normalise_mac(text) == mac


def test_parse_ip_neigh_keeps_entries_with_a_mac() -> None:
    text = json.dumps([
        {"dst": "10.1.1.2", "dev": "eth0", "lladdr": "52:54:00:12:34:56", "confirmed": 3, "state": ["REACHABLE"]},
        {"dst": "10.1.1.3", "dev": "eth0", "state": ["FAILED"]},
        {"dst": "fe80::1", "dev": "eth0", "lladdr": "52:54:00:12:34:57", "router": None, "state": ["STALE"]},
    ])
    assert sweep.parse_ip_neigh(text) == [sweep.Neighbour("10.1.1.2", "52:54:00:12:34:56", "REACHABLE", "eth0", 3.0),
                                          sweep.Neighbour("fe80::1", "52:54:00:12:34:57", "STALE", "eth0")]


def test_parse_proc_arp_complete_entries_only() -> None:
    text = textwrap.dedent("""\
        IP address       HW type     Flags       HW address            Mask     Device
        10.1.1.2         0x1         0x2         52:54:00:12:34:56     *        eth0
        10.1.1.3         0x1         0x0         00:00:00:00:00:00     *        eth0
    """)
    assert sweep.parse_proc_arp(text) == [sweep.Neighbour("10.1.1.2", "52:54:00:12:34:56", "PROC", "eth0")]


@pytest.fixture(scope="module")
def lab() -> Iterator[netns.NetLab]:
    # one lab per module: NetLab numbers links from 1, and a deleted namespace's veth lingers briefly
    netns.skip_unless_available()
    with netns.NetLab() as lab:
        yield lab


def test_sweep_finds_exactly_the_answering_hosts_and_arp_finds_the_silent_one(lab: netns.NetLab) -> None:
    lan = lab.lan()
    a, b, silent = lan.add_host(), lan.add_host(), lan.add_host()
    lab.run_in(silent, "nft", "-f", "-", input=DROP_ECHO)
    seen: list[int] = []
    result = asyncio.run(sweep.sweep(sweep.expand([lan.cidr_v4], 1024), rate=2000, wait=0.3, retries=1,
                                     progress=seen.append))
    assert set(result.alive) == {lan.gateway_v4, a.v4, b.v4}
    assert result.swept == 254 and sum(seen) == 254
    assert result.sent == 254 + (254 - 3)                   # one retry for each silent address
    assert all(0 <= rtt < 0.3 for rtt in result.alive.values())
    fresh = {n.ip for n in sweep.neighbours() if n.state in sweep.FRESH_STATES}
    assert silent.v4 in fresh and lan.absent_v4() not in fresh


def test_sweep_deadline_stops_early(lab: netns.NetLab) -> None:
    lan = lab.lan()
    lan.add_host()

    async def run() -> sweep.SweepResult:
        return await sweep.sweep(sweep.expand([lan.cidr_v4], 1024), rate=100, wait=1, deadline=time.monotonic() + 0.3)

    result = asyncio.run(run())
    assert result.truncated and result.sent < 100 and result.duration < 1.0


def test_sweep_without_permission_says_how_to_fix_it() -> None:
    if os.geteuid() != 0 or Path("/proc/sys/net/ipv4/ping_group_range").read_text().split() != ["1", "0"]:
        pytest.skip("needs root (to drop to nobody) and ping_group_range off")
    code = ("import asyncio\nfrom dxagent import sweep\ntry:\n asyncio.run(sweep.sweep(['127.0.0.1']))\n"
            "except sweep.SweepPermissionError as e:\n print('DENIED', e)\n")
    proc = subprocess.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
                           sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert "DENIED no permission for ICMP" in proc.stdout, proc.stderr
    assert "ping_group_range" in proc.stdout


@pytest.fixture
def stub_dns() -> Iterator[StubDns]:
    server = StubDns({"127.0.0.2": "PC-01.xa.example.", "127.0.0.3": "printer.xa.example."})
    yield server
    server.close()


def test_reverse_names_from_a_given_server(stub_dns: StubDns) -> None:
    names = asyncio.run(sweep.reverse_names(["127.0.0.2", "127.0.0.3", "127.0.0.4"],
                                            server=f"127.0.0.1:{stub_dns.port}", timeout=1))
    assert names == {"127.0.0.2": "pc-01.xa.example", "127.0.0.3": "printer.xa.example"}


def test_tcp_ports_open_and_refused() -> None:
    srv = socket.create_server(("127.0.0.1", 0))
    with socket.socket() as probe_sock:
        probe_sock.bind(("127.0.0.1", 0))
        closed = probe_sock.getsockname()[1]
    try:
        port = srv.getsockname()[1]
        out = asyncio.run(sweep.tcp_ports(["127.0.0.1"], [port, closed], timeout=1))
    finally:
        srv.close()
    assert out == {"127.0.0.1": {"open": [port], "closed": [closed]}}

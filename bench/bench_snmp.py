"""Benchmark: IF-MIB walk of an agent with ~50 interfaces, dxagent beside snmpbulkwalk and snmp_exporter.

Run by hand as root (needs network namespaces, snmpd, snmp, prometheus-snmp-exporter):

    .venv/bin/python bench/bench_snmp.py [--rounds 20]

A namespace on a test bridge (tests/netns.py) gets 24 veth pairs (48 interfaces + lo + eth0) and
runs snmpd via `ip netns exec`; every tool queries it over the bridge. Figures printed:
- walk time for the same 15 IF-MIB columns: dxagent's multi-column GETBULK (`Session.walk_columns`),
  the whole `snmp` probe (v2c and v3 authPriv), `snmpbulkwalk` of ifTable + ifXTable, and
  snmp_exporter's /snmp scrape with a numeric-OID module (Debian ships no usable snmp.yml);
- time to give up on a silent agent (a UDP socket that never answers): ours with its defaults
  (1 s × 2), snmpbulkwalk's defaults, snmp_exporter's defaults (5 s × 4);
- RSS cost of importing pysnmp, and snmp_exporter's RSS.
Traffic goes only to the namespace this script creates and to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import netns  # noqa: E402
from tests.snmpd import start_snmpd  # noqa: E402

COLUMNS = {  # the columns the snmp kind reads (checks/_snmpif.py COLUMNS)
    "ifDescr": "1.3.6.1.2.1.2.2.1.2", "ifSpeed": "1.3.6.1.2.1.2.2.1.5", "ifAdminStatus": "1.3.6.1.2.1.2.2.1.7",
    "ifOperStatus": "1.3.6.1.2.1.2.2.1.8", "ifInOctets": "1.3.6.1.2.1.2.2.1.10", "ifInDiscards": "1.3.6.1.2.1.2.2.1.13",
    "ifInErrors": "1.3.6.1.2.1.2.2.1.14", "ifOutOctets": "1.3.6.1.2.1.2.2.1.16", "ifOutDiscards": "1.3.6.1.2.1.2.2.1.19",
    "ifOutErrors": "1.3.6.1.2.1.2.2.1.20", "ifName": "1.3.6.1.2.1.31.1.1.1.1", "ifHCInOctets": "1.3.6.1.2.1.31.1.1.1.6",
    "ifHCOutOctets": "1.3.6.1.2.1.31.1.1.1.10", "ifHighSpeed": "1.3.6.1.2.1.31.1.1.1.15", "ifAlias": "1.3.6.1.2.1.31.1.1.1.18",
}
STRINGS = {"ifDescr", "ifName", "ifAlias"}


def exporter_config(community: str) -> str:
    """A snmp_exporter 0.21 module with numeric OIDs for the same columns (strings as labels-free DisplayString)."""
    lines = ["if_numeric:", "  version: 2", "  max_repetitions: 25", "  auth:", f"    community: {community}",
             "  walk:"]
    lines += [f"    - {oid}" for oid in COLUMNS.values()]
    lines += ["  metrics:"]
    for name, oid in COLUMNS.items():
        kind = "DisplayString" if name in STRINGS else ("counter" if "Octets" in name or "Err" in name or "Disc" in name else "gauge")
        lines += [f"    - name: {name}", f"      oid: {oid}", f"      type: {kind}", "      indexes:",
                  "        - labelname: ifIndex", "          type: gauge"]
    return "\n".join(lines) + "\n"


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def show(label: str, xs: list[float], extra: str = "") -> None:
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, int(len(xs) * 0.9))]
    print(f"  {label:<44} median {statistics.median(xs) * 1000:8.1f} ms   p90 {p90 * 1000:8.1f} ms  {extra}")


def rss_kib(pid: int | None = None) -> int:
    """Current resident memory of a process (this one by default), KiB."""
    for line in Path(f"/proc/{pid or os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--pairs", type=int, default=24, help="veth pairs inside the agent's namespace")
    args = ap.parse_args()
    reason = netns.available()
    if reason:
        sys.exit(f"bench_snmp: {reason}")
    for tool in ("snmpd", "snmpbulkwalk", "prometheus-snmp-exporter"):
        if not shutil.which(tool):
            sys.exit(f"bench_snmp: needs {tool} (apt-get install snmpd snmp prometheus-snmp-exporter)")

    before = rss_kib()
    import pysnmp.hlapi.v3arch.asyncio  # noqa: F401  (measured: what an SNMP check costs in memory)

    from dxagent.checks import _snmpclient, snmp
    from dxagent.probe import ProbeContext
    pysnmp_kib = rss_kib() - before

    with netns.NetLab() as lab, tempfile.TemporaryDirectory(prefix="dxbench-snmp-") as tmp:
        lan = lab.lan()
        host = lan.add_host()
        for k in range(args.pairs):
            lab.run_in(host, "ip", "link", "add", f"p{k}a", "type", "veth", "peer", "name", f"p{k}b")
            lab.run_in(host, "ip", "link", "set", f"p{k}a", "up")
        agent = start_snmpd(Path(tmp) / "snmpd", netns=host.ns, host=host.v4, port=161)
        exporter: subprocess.Popen[bytes] | None = None
        try:
            n_if = len(subprocess.run(["snmpbulkwalk", "-On", "-m", "", *agent.net_snmp_args(), agent.target(),
                                       COLUMNS["ifDescr"]], capture_output=True, text=True, check=True).stdout.splitlines())
            print(f"agent {agent.target()} in namespace {host.ns}: {n_if} interfaces; {args.rounds} rounds each\n")
            print("IF-MIB walk (same 15 columns):")

            creds = snmp.Config(id="b", host=host.v4, version="v2c", community=agent.community).credentials()

            async def walk() -> int:
                async with _snmpclient.Session(host.v4, 161, creds, timeout=1, retries=1) as s:
                    await s.walk_columns([_snmpclient.parse_oid(o) for o in COLUMNS.values()], 25)
                    return s.requests

            requests = asyncio.run(walk())
            show("dxagent walk_columns (v2c)", timed(lambda: asyncio.run(walk()), args.rounds), f"{requests} requests")
            for version in ("v2c", "v3"):
                fields = ({"community": agent.community} if version == "v2c" else
                          {"user": agent.user, "auth_key": agent.auth_key, "priv_key": agent.priv_key})
                cfg = snmp.Config(id="b", host=host.v4, version=version, max_interfaces=1024, **fields)

                def run_probe(cfg: snmp.Config = cfg) -> None:
                    results = asyncio.run(snmp.probe(cfg, ProbeContext("b", "snmp", timeout=9)))
                    assert len(results) == n_if + 1, results[0].summary

                show(f"dxagent snmp probe ({version}, {n_if} results)", timed(run_probe, args.rounds))

            uplinks = snmp.Config(id="b", host=host.v4, version="v2c", community=agent.community,
                                  interfaces=("eth0", "p0a"))

            def run_uplinks() -> None:
                results = asyncio.run(snmp.probe(uplinks, ProbeContext("b", "snmp", timeout=9)))
                assert len(results) == 3, results[0].summary

            show("dxagent snmp probe (v2c, 2 named uplinks)", timed(run_uplinks, args.rounds))

            def bulkwalk(version: str = "v2c") -> None:
                for table in ("1.3.6.1.2.1.2.2.1", "1.3.6.1.2.1.31.1.1.1"):
                    subprocess.run(["snmpbulkwalk", "-On", "-m", "", "-Cr25", *agent.net_snmp_args(version),
                                    agent.target(), table], capture_output=True, check=True)

            show("snmpbulkwalk ifTable + ifXTable (v2c)", timed(bulkwalk, args.rounds), "2 processes, all columns")
            show("snmpbulkwalk ifTable + ifXTable (v3)", timed(lambda: bulkwalk("v3"), args.rounds))

            conf = Path(tmp) / "snmp.yml"
            conf.write_text(exporter_config(agent.community))
            with socket.socket() as probe_port:
                probe_port.bind(("127.0.0.1", 0))
                port = probe_port.getsockname()[1]
            exporter = subprocess.Popen(["prometheus-snmp-exporter", f"--config.file={conf}",
                                         f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "/", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.05)

            def scrape(target: str = host.v4) -> bytes:
                with urllib.request.urlopen(f"{base}/snmp?target={target}&module=if_numeric", timeout=60) as resp:
                    return resp.read()

            body = scrape().decode()
            series = sum(1 for line in body.splitlines() if line.startswith("if"))
            show("snmp_exporter /snmp?module=if_numeric (v2c)", timed(scrape, args.rounds), f"{series} series")
            print(f"\nmemory: importing pysnmp adds {pysnmp_kib / 1024:.1f} MiB RSS to dxagent; "
                  f"snmp_exporter RSS {rss_kib(exporter.pid) / 1024:.1f} MiB")

            print("\nsilent agent (UDP socket that never answers), default settings of each tool:")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
                mute.bind(("127.0.0.1", 0))
                mport = mute.getsockname()[1]
                silent_cfg = snmp.Config(id="m", host="127.0.0.1", port=mport, version="v2c", community="x")
                t0 = time.perf_counter()
                [r] = asyncio.run(snmp.probe(silent_cfg, ProbeContext("m", "snmp", timeout=9)))
                print(f"  {'dxagent (1 s x 2 tries)':<44} {time.perf_counter() - t0:6.2f} s  -> {r.reason}: {r.summary.en}")
                t0 = time.perf_counter()
                subprocess.run(["snmpbulkwalk", "-On", "-m", "", "-v2c", "-c", "x", f"127.0.0.1:{mport}", "1.3.6.1.2.1.2.2.1"],
                               capture_output=True)
                print(f"  {'snmpbulkwalk (1 s x 6 tries)':<44} {time.perf_counter() - t0:6.2f} s")
                t0 = time.perf_counter()
                try:
                    with urllib.request.urlopen(f"{base}/snmp?target=127.0.0.1:{mport}&module=if_numeric", timeout=60) as resp:
                        answer = f"HTTP {resp.status}"
                except urllib.error.HTTPError as exc:
                    answer = f"HTTP {exc.code}: {exc.read().decode(errors='replace').strip()[:70]}"
                print(f"  {'snmp_exporter (5 s x 4 tries)':<44} {time.perf_counter() - t0:6.2f} s  -> {answer}")
        finally:
            if exporter is not None:
                exporter.terminate()
                exporter.wait(5)
            agent.stop()
    print(f"\n(python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()

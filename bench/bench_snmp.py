"""Benchmark: CPU per poll of a 24- and a 50-port switch, dxagent's `snmp` probe beside snmp_exporter.

Run by hand as root (needs network namespaces, snmpd, snmp, prometheus-snmp-exporter):

    .venv/bin/python bench/bench_snmp.py [--rounds 30]

Two namespaces on a test bridge (tests/netns.py) hold veth pairs (11 pairs + lo + eth0 = 24
interfaces, 24 pairs = 50) and run snmpd via `ip netns exec`; both tools poll them over the
bridge. Budget (issue #15): CPU per poll of a 24-port switch (the ifTable + ifXTable columns the
results use) ≤ 100 ms. Printed, per switch and version:
- dxagent: the whole `snmp` probe (every interface reported), process CPU (user + system) and
  wall time per poll, medians over the rounds; probes share one event loop and so one pysnmp
  engine, as in the daemon;
- snmp_exporter 0.21 with a module of the same numeric OIDs (Debian ships no usable snmp.yml):
  CPU of the exporter process per /snmp scrape (from /proc) and wall time;
- the first probe (builds the engine; v3 adds discovery and key localization);
- time to give up on a silent agent with each tool's defaults; RSS that pysnmp and its engine add.
Traffic goes only to the namespaces this script creates and to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
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
from tests.snmpd import SnmpAgent, start_snmpd  # noqa: E402

BUDGET_MS = 100.0
TICK = os.sysconf("SC_CLK_TCK")


def walked_columns() -> dict[str, str]:
    """The columns the probe walks for a full table (ifmib IDENTITY + DETAIL), by name → dotted OID."""
    from dxagent.checks.snmp import ifmib

    return {name: ".".join(map(str, ifmib.COLUMNS[name])) for name in ifmib.IDENTITY + ifmib.DETAIL}


def exporter_config(agent: SnmpAgent, columns: dict[str, str]) -> str:
    """snmp_exporter modules with numeric OIDs for the same columns: `if_v2c` and `if_v3` (SHA/AES)."""
    body = ["  max_repetitions: 25", "  walk:", *[f"    - {oid}" for oid in columns.values()], "  metrics:"]
    for name, oid in columns.items():
        kind = "DisplayString" if name in ("descr", "name", "alias") else "gauge"
        body += [f"    - name: if_{name}", f"      oid: {oid}", f"      type: {kind}", "      indexes:",
                 "        - labelname: ifIndex", "          type: gauge"]
    return "\n".join(["if_v2c:", "  version: 2", "  auth:", f"    community: {agent.community}", *body,
                      "if_v3:", "  version: 3", "  auth:", f"    username: {agent.user}", "    security_level: authPriv",
                      f"    password: {agent.auth_key}", "    auth_protocol: SHA", "    priv_protocol: AES",
                      f"    priv_password: {agent.priv_key}", *body]) + "\n"


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK     # utime + stime (fields 14, 15)


def rss_kib(pid: int | None = None) -> int:
    for line in Path(f"/proc/{pid or os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measure(fn: Callable[[], object], rounds: int, cpu: Callable[[], float]) -> tuple[float, float]:
    """Mean CPU (the exporter's is counted in clock ticks, so a median would round) and median wall
    milliseconds of `fn` over `rounds` calls."""
    walls = []
    c0 = cpu()
    for _ in range(rounds):
        w0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - w0)
    return (cpu() - c0) / rounds * 1000, statistics.median(walls) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    reason = netns.available()
    if reason:
        sys.exit(f"bench_snmp: {reason}")
    for tool in ("snmpd", "snmpbulkwalk", "prometheus-snmp-exporter"):
        if not shutil.which(tool):
            sys.exit(f"bench_snmp: needs {tool} (apt-get install snmpd snmp prometheus-snmp-exporter)")

    from dxagent.checks import snmp
    from dxagent.probe import ProbeContext

    columns = walked_columns()
    rows: list[tuple[str, str, float, float, float, float]] = []
    with netns.NetLab() as lab, tempfile.TemporaryDirectory(prefix="dxbench-snmp-") as tmp, \
            asyncio.Runner() as loop:
        lan = lab.lan()
        agents: dict[int, SnmpAgent] = {}
        exporter: subprocess.Popen[bytes] | None = None
        try:
            for pairs in (11, 24):
                host = lan.add_host()
                for k in range(pairs):
                    lab.run_in(host, "ip", "link", "add", f"p{k}a", "type", "veth", "peer", "name", f"p{k}b")
                    lab.run_in(host, "ip", "link", "set", f"p{k}a", "up")
                agent = start_snmpd(Path(tmp) / f"snmpd{pairs}", netns=host.ns, host=host.v4, port=161)
                n_if = len(subprocess.run(["snmpbulkwalk", "-On", "-m", "", *agent.net_snmp_args(), agent.target(),
                                           columns["descr"]], capture_output=True, text=True, check=True).stdout.splitlines())
                agents[n_if] = agent
            conf = Path(tmp) / "snmp.yml"
            first = next(iter(agents.values()))      # same community and v3 user in every agent
            conf.write_text(exporter_config(first, columns))
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
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

            print(f"{len(columns)} IF-MIB columns per poll; {args.rounds} rounds each; mean CPU, median wall\n")
            first_probe: dict[str, tuple[float, float]] = {}
            rss_before = rss_kib()
            for n_if, agent in agents.items():
                for version in ("v2c", "v3"):
                    fields = ({"community": agent.community} if version == "v2c" else
                              {"user": agent.user, "auth_key": agent.auth_key, "priv_key": agent.priv_key})
                    cfg = snmp.Config(id="b", host=agent.host, version=version, max_interfaces=1024, **fields)

                    def poll(cfg: snmp.Config = cfg, n: int = n_if) -> None:
                        results = loop.run(snmp.probe(cfg, ProbeContext("b", "snmp", timeout=9)))
                        assert len(results) == n + 1, results[0].summary.en

                    if version not in first_probe:
                        first_probe[version] = measure(poll, 1, cpu_self)
                    ours = measure(poll, args.rounds, cpu_self)
                    module = "if_v2c" if version == "v2c" else "if_v3"
                    url = f"{base}/snmp?target={agent.host}&module={module}"

                    def scrape(url: str = url) -> None:
                        with urllib.request.urlopen(url, timeout=60) as resp:
                            resp.read()

                    scrape()
                    assert exporter is not None
                    theirs = measure(scrape, args.rounds, lambda: cpu_of(exporter.pid))  # type: ignore[union-attr]
                    rows.append((f"{n_if} ports", version, *ours, *theirs))
            rss_after = rss_kib()

            print(f"{'switch':<9} {'ver':<4} {'dxagent CPU':>12} {'wall':>9}   {'snmp_exporter CPU':>18} {'wall':>9}   budget")
            for name, version, c, w, ec, ew in rows:
                verdict = ("ok" if c <= BUDGET_MS else "OVER") if name.startswith("24") else ""
                print(f"{name:<9} {version:<4} {c:9.1f} ms {w:6.1f} ms   {ec:15.1f} ms {ew:6.1f} ms   {verdict}")
            what = {"v2c": "the process's first probe: imports pysnmp, builds the engine",
                    "v3": "the first v3 probe of an agent: engine discovery, key localization"}
            for version, (c, w) in first_probe.items():
                print(f"{what[version]}: CPU {c:.0f} ms, wall {w:.0f} ms")
            print(f"RSS added by pysnmp, its engine and the probes: {(rss_after - rss_before) / 1024:.1f} MiB "
                  f"(snmp_exporter's whole RSS {rss_kib(exporter.pid) / 1024:.1f} MiB)")

            print("\nsilent agent (a UDP socket that never answers), each tool's defaults:")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
                mute.bind(("127.0.0.1", 0))
                mport = mute.getsockname()[1]
                silent = snmp.Config(id="m", host="127.0.0.1", port=mport, version="v2c", community="x")
                t0 = time.perf_counter()
                [r] = loop.run(snmp.probe(silent, ProbeContext("m", "snmp", timeout=9)))
                print(f"  {'dxagent (1 s x 2 tries)':<32} {time.perf_counter() - t0:6.2f} s  -> {r.reason}: {r.summary.en}")
                t0 = time.perf_counter()
                subprocess.run(["snmpbulkwalk", "-On", "-m", "", "-v2c", "-c", "x", f"127.0.0.1:{mport}",
                                columns["descr"]], capture_output=True)
                print(f"  {'snmpbulkwalk (1 s x 6 tries)':<32} {time.perf_counter() - t0:6.2f} s")
                t0 = time.perf_counter()
                try:
                    with urllib.request.urlopen(f"{base}/snmp?target=127.0.0.1:{mport}&module=if_v2c", timeout=60) as resp:
                        answer = f"HTTP {resp.status}"
                except urllib.error.HTTPError as exc:
                    answer = f"HTTP {exc.code}"
                print(f"  {'snmp_exporter (5 s x 4 tries)':<32} {time.perf_counter() - t0:6.2f} s  -> {answer}")
        finally:
            if exporter is not None:
                exporter.terminate()
                exporter.wait(5)
            for agent in agents.values():
                agent.stop()
    print(f"\n(python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()

"""Benchmark: IF-MIB walk of an agent with ~50 interfaces, dxagent beside snmpbulkwalk and snmp_exporter.

Run by hand as root (needs network namespaces, snmpd, snmp, prometheus-snmp-exporter):

    .venv/bin/python bench/bench_snmp.py [--rounds 20]

A namespace on a test bridge (tests/netns.py) gets 24 veth pairs (48 interfaces + lo + eth0) and
runs snmpd via `ip netns exec`; every tool queries it over the bridge. Figures printed:
- walk time for the same 15 IF-MIB columns: dxagent's multi-column GETBULK (`Session.walk_columns`),
  the whole `snmp` probe (v2c and v3 authPriv, warm and cold: a cold v3 probe pays engine
  discovery and key localization), `snmpbulkwalk` of ifTable + ifXTable, and snmp_exporter's /snmp
  scrape with numeric-OID modules, v2c and v3 authPriv (Debian ships no usable snmp.yml);
- the issue #5 verdict: dxagent's 50-interface probe median against snmp_exporter's, per version;
- time to give up on a silent agent (a UDP socket that never answers): ours with its defaults
  (1 s × 2), snmpbulkwalk's defaults, snmp_exporter's defaults (5 s × 4);
- RSS the SNMP probe path adds to a process that already holds dxagent's core (measured in a fresh
  interpreter: importing the kind, one v2c probe, one v3 authPriv probe), beside what importing
  pysnmp cost before (if the test extra is installed) and snmp_exporter's whole RSS.
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

COLUMNS = {  # the columns the snmp kind reads (checks/snmp/ifmib.py COLUMNS)
    "ifDescr": "1.3.6.1.2.1.2.2.1.2", "ifSpeed": "1.3.6.1.2.1.2.2.1.5", "ifAdminStatus": "1.3.6.1.2.1.2.2.1.7",
    "ifOperStatus": "1.3.6.1.2.1.2.2.1.8", "ifInOctets": "1.3.6.1.2.1.2.2.1.10", "ifInDiscards": "1.3.6.1.2.1.2.2.1.13",
    "ifInErrors": "1.3.6.1.2.1.2.2.1.14", "ifOutOctets": "1.3.6.1.2.1.2.2.1.16", "ifOutDiscards": "1.3.6.1.2.1.2.2.1.19",
    "ifOutErrors": "1.3.6.1.2.1.2.2.1.20", "ifName": "1.3.6.1.2.1.31.1.1.1.1", "ifHCInOctets": "1.3.6.1.2.1.31.1.1.1.6",
    "ifHCOutOctets": "1.3.6.1.2.1.31.1.1.1.10", "ifHighSpeed": "1.3.6.1.2.1.31.1.1.1.15", "ifAlias": "1.3.6.1.2.1.31.1.1.1.18",
}
STRINGS = {"ifDescr", "ifName", "ifAlias"}


def exporter_config(community: str, user: str, auth_key: str, priv_key: str) -> str:
    """snmp_exporter 0.21 modules with numeric OIDs for the same columns: `if_numeric` (v2c) and
    `if_numeric_v3` (SHA/AES authPriv, the snmp kind's defaults)."""
    body = ["  max_repetitions: 25", "  walk:"]
    body += [f"    - {oid}" for oid in COLUMNS.values()]
    body += ["  metrics:"]
    for name, oid in COLUMNS.items():
        kind = "DisplayString" if name in STRINGS else ("counter" if "Octets" in name or "Err" in name or "Disc" in name else "gauge")
        body += [f"    - name: {name}", f"      oid: {oid}", f"      type: {kind}", "      indexes:",
                 "        - labelname: ifIndex", "          type: gauge"]
    lines = ["if_numeric:", "  version: 2", "  auth:", f"    community: {community}", *body,
             "if_numeric_v3:", "  version: 3", "  auth:", f"    username: {user}", "    security_level: authPriv",
             f"    password: {auth_key}", "    auth_protocol: SHA", "    priv_protocol: AES", f"    priv_password: {priv_key}",
             *body]
    return "\n".join(lines) + "\n"


# Run in a fresh interpreter: RSS after dxagent's core (what the daemon holds anyway), after importing
# the snmp kind, after one v2c probe and after one v3 authPriv probe (cryptography comes in here).
RSS_PROBE = """
import asyncio, sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
from dxagent import config, model, probe, runner  # noqa: F401  the daemon's core
base = rss()
from dxagent.checks import snmp
imported = rss()
host, community, user, auth_key, priv_key = sys.argv[1:6]
ctx = lambda: probe.ProbeContext("m", "snmp", timeout=9)
asyncio.run(snmp.probe(snmp.Config(id="m", host=host, version="v2c", community=community), ctx()))
v2c = rss()
asyncio.run(snmp.probe(snmp.Config(id="m", host=host, version="v3", user=user, auth_key=auth_key, priv_key=priv_key), ctx()))
v3 = rss()
print(imported - base, v2c - base, v3 - base, "pysnmp" in sys.modules)
"""
PYSNMP_RSS = """
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
from dxagent import config, model, probe, runner  # noqa: F401
base = rss()
from pysnmp.hlapi.v3arch import asyncio as hl
hl.SnmpEngine()  # what the old client built per probe (it loads pysnmp's MIB modules)
print(rss() - base)
"""


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

    from dxagent.checks.snmp import _snmpusm, snmp
    from dxagent.checks.snmp import client as _snmpclient
    from dxagent.probe import ProbeContext

    with netns.NetLab() as lab, tempfile.TemporaryDirectory(prefix="dxbench-snmp-") as tmp:
        lan = lab.lan()
        host = lan.add_host()
        for k in range(args.pairs):
            lab.run_in(host, "ip", "link", "add", f"p{k}a", "type", "veth", "peer", "name", f"p{k}b")
            lab.run_in(host, "ip", "link", "set", f"p{k}a", "up")
        agent = start_snmpd(Path(tmp) / "snmpd", netns=host.ns, host=host.v4, port=161)
        exporter: subprocess.Popen[bytes] | None = None
        loop: asyncio.Runner | None = None
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

            # One event loop for every dxagent probe, as in the daemon (asyncio.run per probe would add a
            # resolver thread start and join, ~0.5-1 ms, that the daemon does not pay).
            loop = asyncio.Runner()
            requests = loop.run(walk())
            show("dxagent walk_columns (v2c)", timed(lambda: loop.run(walk()), args.rounds), f"{requests} requests")
            probes: dict[str, Callable[[], None]] = {}
            for version in ("v2c", "v3"):
                fields = ({"community": agent.community} if version == "v2c" else
                          {"user": agent.user, "auth_key": agent.auth_key, "priv_key": agent.priv_key})
                cfg = snmp.Config(id="b", host=host.v4, version=version, max_interfaces=1024, **fields)

                def run_probe(cfg: snmp.Config = cfg) -> None:
                    results = loop.run(snmp.probe(cfg, ProbeContext("b", "snmp", timeout=9)))
                    assert len(results) == n_if + 1, results[0].summary

                probes[version] = run_probe
                show(f"dxagent snmp probe ({version}, {n_if} results)", timed(run_probe, args.rounds))

            def cold_v3(cfg: snmp.Config = cfg) -> None:
                """As the first probe after start: no engine ID, clock or localized keys cached."""
                _snmpusm.forget_engine((host.v4, 161, agent.user))
                for cache in (_snmpusm.password_key, _snmpusm.auth_key, _snmpusm.priv_key):
                    cache.cache_clear()
                run_probe(cfg)

            show(f"dxagent snmp probe (v3, {n_if} results, cold)", timed(cold_v3, args.rounds),
                 "discovery + key localization")

            uplinks = snmp.Config(id="b", host=host.v4, version="v2c", community=agent.community,
                                  interfaces=("eth0", "p0a"))

            def run_uplinks() -> None:
                results = loop.run(snmp.probe(uplinks, ProbeContext("b", "snmp", timeout=9)))
                assert len(results) == 3, results[0].summary

            show("dxagent snmp probe (v2c, 2 named uplinks)", timed(run_uplinks, args.rounds))

            def bulkwalk(version: str = "v2c") -> None:
                for table in ("1.3.6.1.2.1.2.2.1", "1.3.6.1.2.1.31.1.1.1"):
                    subprocess.run(["snmpbulkwalk", "-On", "-m", "", "-Cr25", *agent.net_snmp_args(version),
                                    agent.target(), table], capture_output=True, check=True)

            show("snmpbulkwalk ifTable + ifXTable (v2c)", timed(bulkwalk, args.rounds), "2 processes, all columns")
            show("snmpbulkwalk ifTable + ifXTable (v3)", timed(lambda: bulkwalk("v3"), args.rounds))

            conf = Path(tmp) / "snmp.yml"
            conf.write_text(exporter_config(agent.community, agent.user, agent.auth_key, agent.priv_key))
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

            def scrape(target: str = host.v4, module: str = "if_numeric") -> bytes:
                with urllib.request.urlopen(f"{base}/snmp?target={target}&module={module}", timeout=60) as resp:
                    return resp.read()

            for version, module in (("v2c", "if_numeric"), ("v3", "if_numeric_v3")):
                body = scrape(module=module).decode()
                series = sum(1 for line in body.splitlines() if line.startswith("if"))
                xs = timed(lambda module=module: scrape(module=module), args.rounds)  # type: ignore[misc]
                show(f"snmp_exporter /snmp?module={module} ({version})", xs, f"{series} series")

            print(f"\nissue #5 (no slower than snmp_exporter), {n_if}-interface probe against the same scrape, "
                  f"{2 * args.rounds} alternating rounds (both see the same machine load):")
            for version, module in (("v2c", "if_numeric"), ("v3", "if_numeric_v3")):
                ours: list[float] = []
                theirs: list[float] = []
                pair: list[tuple[list[float], Callable[[], object]]] = [
                    (ours, probes[version]), (theirs, lambda module=module: scrape(module=module))]  # type: ignore[misc]
                for i in range(2 * args.rounds):
                    for xs, fn in (pair if i % 2 else pair[::-1]):
                        t0 = time.perf_counter()
                        fn()
                        xs.append(time.perf_counter() - t0)
                a, b = statistics.median(ours), statistics.median(theirs)
                print(f"  {version:<4} dxagent median {a * 1000:6.1f} ms   snmp_exporter median {b * 1000:6.1f} ms   "
                      f"{'ok' if a <= b else 'SLOWER'}")

            env = dict(os.environ, PYTHONPATH=str(ROOT))
            got = subprocess.run([sys.executable, "-c", RSS_PROBE, host.v4, agent.community, agent.user,
                                  agent.auth_key, agent.priv_key], capture_output=True, text=True, env=env)
            imported, v2c_kib, v3_kib, pysnmp_loaded = got.stdout.split() if got.returncode == 0 else ("?",) * 4
            print(f"\nmemory: the snmp kind adds {int(imported) / 1024:.1f} MiB RSS when imported, "
                  f"{int(v2c_kib) / 1024:.1f} MiB after a v2c probe, {int(v3_kib) / 1024:.1f} MiB after a v3 authPriv "
                  f"probe (cryptography); pysnmp imported: {pysnmp_loaded}")
            old = subprocess.run([sys.executable, "-c", PYSNMP_RSS], capture_output=True, text=True, env=env)
            if old.returncode == 0:
                print(f"        pysnmp + an SnmpEngine (the client before issue #5) added {int(old.stdout) / 1024:.1f} MiB")
            print(f"        snmp_exporter's whole RSS {rss_kib(exporter.pid) / 1024:.1f} MiB")

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
            if loop is not None:
                loop.close()
            if exporter is not None:
                exporter.terminate()
                exporter.wait(5)
            agent.stop()
    print(f"\n(python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmark: ICMP sweep of a /24 with 20 live hosts in network namespaces, beside fping.

Run by hand as root: `.venv/bin/python bench/bench_sweep.py [--runs 5] [--live 20]`.
Prints wall time, peak RSS and hosts found for dxagent's sweeper (`dxagent.sweep.sweep`, run in
a child process so its peak memory is its own) and for `fping -a -r 1 -t 200 -g` and
`fping -a -r 1 -t 200 -i 1 -g` on the same range in the same run. Goal: under 1 s, no live host
missed. Traffic stays inside the namespaces this script creates (tests/netns.py) and deletes.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import netns  # noqa: E402

CHILD = """
import asyncio, sys
from dxagent import sweep
r = asyncio.run(sweep.sweep(sweep.expand([sys.argv[1]], 1024), rate=float(sys.argv[2]), wait=float(sys.argv[3]), retries=1))
print("\\n".join(sorted(r.alive)))
print(f"sent={r.sent} sweep_seconds={r.duration:.3f} mode={r.mode}", file=sys.stderr)
"""


def run_child(argv: list[str]) -> tuple[float, int, set[str], str]:
    """Wall time (s), peak RSS (KiB) and the addresses a child printed.

    The peak comes from GNU time (`%M`): a child's own ru_maxrss would include the Python
    parent's RSS at fork (Linux records the old address space's high-water mark at exec).
    """
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", "/tmp/dxbench.rss", *argv],
                          capture_output=True, text=True, timeout=60)
    wall = time.perf_counter() - t0
    rss = int(Path("/tmp/dxbench.rss").read_text().split()[-1])
    found = {ln.split()[0] for ln in proc.stdout.splitlines() if ln.strip()}
    return wall, rss, found, proc.stderr.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--live", type=int, default=20)
    ap.add_argument("--rate", type=float, default=2000.0, help="dxagent send rate (packets/s)")
    ap.add_argument("--wait", type=float, default=0.3, help="dxagent wait after each round (s)")
    args = ap.parse_args()
    reason = netns.available()
    if reason:
        print(f"skipped: {reason}")
        return 0
    if not Path("/usr/bin/time").exists():
        print("skipped: needs GNU time (/usr/bin/time, Debian package time) for peak memory")
        return 0
    fping = shutil.which("fping")
    with netns.NetLab() as lab:
        lan = lab.lan()
        hosts = [lan.add_host(default_route=False) for _ in range(args.live)]
        live = {h.v4 for h in hosts} | {lan.gateway_v4}
        cidr = lan.cidr_v4
        tools = {f"dxagent sweep (rate {args.rate:g}/s, wait {args.wait:g}s, 1 retry)":
                 [sys.executable, "-c", CHILD, cidr, str(args.rate), str(args.wait)]}
        if fping:
            tools["fping -a -r 1 -t 200 -g"] = [fping, "-a", "-q", "-r", "1", "-t", "200", "-g", cidr]
            tools["fping -a -r 1 -t 200 -i 1 -g"] = [fping, "-a", "-q", "-r", "1", "-t", "200", "-i", "1", "-g", cidr]
        print(f"{cidr}: {args.live} live hosts in namespaces + the bridge address; {args.runs} runs each, interleaved")
        figures: dict[str, list[tuple[float, int, int]]] = {name: [] for name in tools}
        for _ in range(args.runs):
            for name, argv in tools.items():
                subprocess.run(["ip", "neigh", "flush", "dev", lan.bridge], check=False)   # every run starts cold
                wall, rss, found, _err = run_child(argv)
                figures[name].append((wall, rss, len(live - found)))
        print(f"{'tool':<48} {'wall median':>12} {'wall max':>9} {'peak RSS':>10} {'missed (max)':>13}")
        for name, rows in figures.items():
            walls = [w for w, _, _ in rows]
            print(f"{name:<48} {statistics.median(walls):>10.3f} s {max(walls):>7.3f} s "
                  f"{max(r for _, r, _ in rows) / 1024:>7.1f} MiB {max(m for _, _, m in rows):>13}")
        print("dxagent wall time includes starting Python and importing dxagent.sweep (see sweep_seconds below).")
        _, _, _, err = run_child(tools[next(iter(tools))])
        print("last dxagent run:", err)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

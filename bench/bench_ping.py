"""Benchmark: dxagent's `ping` kind beside fping on the same namespace hosts, nft's counter as truth.

Run by hand as root: `.venv/bin/python bench/bench_ping.py [--count 200] [--interval-ms 5]`.
It builds a LAN of throw-away namespaces (tests/netns.py), makes each host drop a given share of
echo requests with an nft numgen rule, then measures every host with dxagent and with fping, one
tool after the other, reading the nft drop counter before and after each tool. It prints:
our loss (exact), fping's (it truncates to a whole percent), the packets nft dropped during each
tool's turn, the average RTTs and the wall time of each tool. Traffic stays inside the namespaces.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dxagent.config import load_text
from dxagent.runner import Runner
from tests import netns

FPING_LINE = re.compile(r"^(\S+)\s*: xmt/rcv/%loss = (\d+)/(\d+)/(\d+)%(?:, min/avg/max = ([\d.]+)/([\d.]+)/([\d.]+))?")


def run_dxagent(addresses: list[str], count: int, interval_ms: float) -> tuple[dict[str, dict[str, float]], float]:
    timeout = (count - 1) * interval_ms / 1000 + 1.0 + 2
    cfg = load_text(
        "checks:\n  - id: bench\n    kind: ping\n"
        f"    targets: [{', '.join(repr(a) for a in addresses)}]\n    count: {count}\n"
        f"    packet_interval: {interval_ms}ms\n    packet_timeout: 500ms\n"
        f"    timeout: {timeout:.3f}s\n    interval: 1h\n")
    t0 = time.monotonic()
    results = asyncio.run(Runner().run_all(cfg.checks))
    wall = time.monotonic() - t0
    out = {}
    for r in results:
        s = {x.name + "".join(f"_{v}" for _, v in x.labels): x.value for x in r.samples}
        out[r.target] = {"sent": s["ping_packets_sent"], "received": s["ping_packets_received"],
                         "loss": s["ping_loss_ratio"], "avg_ms": s.get("ping_rtt_seconds_avg", float("nan")) * 1000,
                         "jitter_ms": s.get("ping_jitter_seconds", float("nan")) * 1000}
    return out, wall


def run_fping(addresses: list[str], count: int, interval_ms: float) -> tuple[dict[str, dict[str, float]], float]:
    # -p: gap between packets to one target; -i 1: 1 ms between any two packets; -t: per-packet timeout
    argv = ["fping", "-q", "-c", str(count), "-p", str(max(1, round(interval_ms))), "-i", "1", "-t", "500", *addresses]
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - t0
    out = {}
    for line in proc.stderr.splitlines():
        m = FPING_LINE.match(line.strip())
        if m:
            out[m.group(1)] = {"sent": int(m.group(2)), "received": int(m.group(3)), "loss_pct": int(m.group(4)),
                               "avg_ms": float(m.group(6)) if m.group(6) else float("nan")}
    return out, wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--interval-ms", type=float, default=5.0)
    ap.add_argument("--loss", default="0,1,5,20,50", help="drop percentages, one host each")
    args = ap.parse_args()
    reason = netns.available()
    if reason or shutil.which("fping") is None:
        print(f"cannot run: {reason or 'fping not installed (apt-get install fping)'}", file=sys.stderr)
        return 2
    rates = [int(x) for x in args.loss.split(",")]
    with netns.NetLab() as lab:
        lan = lab.lan()
        hosts = [lan.add_host() for _ in rates]
        for h, p in zip(hosts, rates, strict=True):
            lab.drop_echo(h, p)
        addrs = [h.v4 for h in hosts]
        base = {h.v4: lab.dropped(h) for h in hosts}
        ours, our_wall = run_dxagent(addrs, args.count, args.interval_ms)
        mid = {h.v4: lab.dropped(h) for h in hosts}
        theirs, fping_wall = run_fping(addrs, args.count, args.interval_ms)
        end = {h.v4: lab.dropped(h) for h in hosts}
    print(f"{len(addrs)} hosts × {args.count} echo requests, {args.interval_ms:g} ms apart per host "
          f"(IPv4, 56-byte payload, 500 ms per-packet timeout)\n")
    head = (f"{'host':<13} {'drop%':>5} | {'ours sent/rcv':>13} {'ours loss':>10} {'nft drop':>8} {'avg ms':>7} "
            f"{'jit ms':>7} | {'fping sent/rcv':>14} {'fping loss':>10} {'nft drop':>8} {'avg ms':>7}")
    print(head)
    print("-" * len(head))
    for addr, p in zip(addrs, rates, strict=True):
        o, f = ours[addr], theirs.get(addr, {})
        our_nft, fping_nft = mid[addr] - base[addr], end[addr] - mid[addr]
        ok = "=" if o["sent"] - o["received"] == our_nft else "≠"
        print(f"{addr:<13} {p:>5} | {int(o['sent']):>6}/{int(o['received']):<6} {o['loss'] * 100:>9.2f}% "
              f"{our_nft:>7}{ok} {o['avg_ms']:>7.3f} {o['jitter_ms']:>7.3f} | "
              f"{f.get('sent', 0):>7}/{f.get('received', 0):<6} {f.get('loss_pct', float('nan')):>9}% "
              f"{fping_nft:>8} {f.get('avg_ms', float('nan')):>7.3f}")
    print(f"\nwall time: dxagent {our_wall:.2f} s, fping {fping_wall:.2f} s "
          f"(ideal: (count-1) × interval + timeout = {(args.count - 1) * args.interval_ms / 1000 + 0.5:.2f} s)")
    print("'=' marks where our lost count equals nft's drop counter exactly")
    return 0


if __name__ == "__main__":
    sys.exit(main())

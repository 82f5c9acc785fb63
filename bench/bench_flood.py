"""Idle-connection flood: can Prometheus still scrape while one LAN host holds 1,000 idle connections?

Why: a single host on a commune LAN (a broken client or a hostile one) must not hide the site
from the provincial Prometheus (issue 16). `dxagent run` listens on the address of a bridge this
benchmark creates; a namespace host on that bridge holds N idle connections (tests/flood.py:
connect, send nothing, reconnect at once when dropped), while the root namespace scrapes
/metrics one request after another. node_exporter (Go's net/http) takes the same flood as the
anchor. Needs root (namespaces); all traffic stays on the bridge.

    sudo .venv/bin/python bench/bench_flood.py [--connections 1000] [--seconds 30]

Prints per server: scrapes ok/failed, latency p50/p99/max, the flooder's connects and how many it
held at once, and the server's RSS and fds during the flood.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import netns  # noqa: E402
from tests.promtools import Proc, free_port, need, wait_http  # noqa: E402


def scrape_loop(url: str, seconds: float) -> tuple[list[float], int]:
    """Scrape one after another for `seconds`: latencies of the successes, count of failures (1 s timeout)."""
    times, failed = [], 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=1.0) as resp:
                resp.read()
            times.append(time.monotonic() - t0)
        except OSError:
            failed += 1
        time.sleep(0.05)
    return times, failed


def resources(pid: int) -> tuple[float, int]:
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def flood_run(name: str, pid: int, host: str, port: int, flooder: netns.Host, n: int, seconds: float) -> None:
    url = f"http://{host}:{port}/metrics"
    base, base_failed = scrape_loop(url, 5)
    proc = subprocess.Popen(["ip", "netns", "exec", flooder.ns, sys.executable, "-m", "tests.flood", host, str(port),
                             str(n), str(seconds + 5)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    time.sleep(3)
    peak = [0.0, 0]

    def watch() -> None:
        while proc.poll() is None:
            rss, fds = resources(pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], fds)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()
    times, failed = scrape_loop(url, seconds - 3)
    out, _ = proc.communicate(timeout=seconds + 60)
    stats = json.loads(out.strip().splitlines()[-1])

    def fmt(ts: list[float]) -> str:
        if not ts:
            return "no successful scrape"
        q = statistics.quantiles(ts, n=100) if len(ts) > 1 else [ts[0]] * 99
        return f"p50 {statistics.median(ts) * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, max {max(ts) * 1000:.1f} ms"

    print(f"\n{name}")
    print(f"  before the flood: {len(base)} ok, {base_failed} failed; {fmt(base)}")
    print(f"  during the flood: {len(times)} ok, {failed} failed; {fmt(times)}")
    print(f"  flooder: {stats['connects']:,} connects, held at most {stats['max_open']:,} at once, "
          f"{stats['closed_by_server']:,} closed or reset by the server, {stats['refused']:,} refused")
    print(f"  server during the flood: RSS up to {peak[0]:.1f} MiB, fds up to {peak[1]:,}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--no-anchor", action="store_true", help="skip node_exporter")
    args = ap.parse_args()
    reason = netns.available()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    with netns.NetLab() as lab, tempfile.TemporaryDirectory() as tmp:
        lan = lab.lan()
        flooder = lan.add_host()
        host = lan.gateway_v4
        port = free_port()
        cfg = Path(tmp) / "flood.yml"
        cfg.write_text(f"site: {{id: flood, name: flood}}\nstate_dir: {tmp}/state\nchecks:\n"
                       "  - {id: system, kind: system, interval: 10s, timeout: 5s}\n")
        agent = Proc([sys.executable, "-m", "dxagent", "run", "-c", str(cfg), "--listen", f"{host}:{port}",
                      "--log-level", "warning"])
        try:
            wait_http(f"http://{host}:{port}/healthz", timeout=20, ok=(200, 503))
            time.sleep(2)
            flood_run(f"dxagent run ({args.connections:,} idle connections from {flooder.v4})", agent.proc.pid,
                      host, port, flooder, args.connections, args.seconds)
        finally:
            agent.stop()
        if not args.no_anchor:
            node_port = free_port()
            node = Proc([need("prometheus-node-exporter"), f"--web.listen-address={host}:{node_port}"])
            try:
                wait_http(f"http://{host}:{node_port}/metrics", timeout=20)
                flood_run(f"node_exporter, the anchor ({args.connections:,} idle connections)", node.proc.pid,
                          host, node_port, flooder, args.connections, args.seconds)
            finally:
                node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

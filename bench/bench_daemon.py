"""Benchmark `dxagent run` beside node_exporter + blackbox_exporter doing comparable work.

Run by hand (root, for ICMP):  .venv/bin/python bench/bench_daemon.py [--duration 120] [--skip-default]

For the default-like config (the built-in default's kinds, targets moved to loopback) and a
200-check config it prints steady-state RSS, CPU seconds per hour (and % of one core), and the
/metrics time (HTTP, no gzip, median of 50) with the series count; then the same figures for
node_exporter and for blackbox_exporter driven with the same probes at the same intervals.
Pure render time at 500 and 2,000 series is measured in-process. All traffic stays on 127.0.0.1.

`--breakdown` says where the default-like daemon's RSS goes instead: its memory mappings (shared
libraries vs the Python heap) and, replayed in a fresh interpreter in the daemon's own import
order, the RSS each package's modules add.

Goals (issue): RSS ≤ node_exporter + blackbox_exporter (~37 MiB here; 45 MiB hard ceiling);
CPU ≤ 0.5 % of one core; /metrics no slower than node_exporter's at the same series count
(~7 ms at 500), ≤ 10 ms at 2,000 series.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pki import TestPKI, serve_https  # noqa: E402
from tests.promtools import Proc, free_port, need, wait_http  # noqa: E402
from tests.tcpserver import close, serve_tcp  # noqa: E402
from tests.udpserver import serve_udp  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def get(url: str, timeout: float = 10) -> bytes:
    req = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return bytes(resp.read())


def scrape_ms(url: str, n: int = 50) -> tuple[float, int]:
    body = get(url)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        body = get(url)
        times.append((time.perf_counter() - t0) * 1000)
    series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    return statistics.median(times), series


def _dns_answer(data: bytes, peer: object) -> bytes | None:
    """A 127.0.0.1 for any name: an authoritative answerer so the bench's dns checks stay on loopback."""
    import dns.message
    import dns.rrset

    query = dns.message.from_wire(data)
    reply = dns.message.make_response(query)
    q = query.question[0]
    if q.rdtype == 1:
        reply.answer.append(dns.rrset.from_text(q.name, 60, "IN", "A", "127.0.0.1"))
    return reply.to_wire()


@contextlib.contextmanager
def dns_responder() -> Iterator[int]:
    """A tiny DNS server on 127.0.0.1 (dnspython) answering A 127.0.0.1 for any name."""
    with serve_udp(_dns_answer) as port:
        yield port


@contextlib.contextmanager
def tcp_listener() -> Iterator[int]:
    """An open loopback port that accepts and closes (the tcp checks' target)."""
    with serve_tcp(close, backlog=512) as port:
        yield port


def default_like(state: Path, https: int, dns_port: int) -> str:
    """The built-in default's checks, kinds and code paths, with every target on loopback: the
    dns check asks the system resolver as the default does (`localhost`, answered from
    /etc/hosts), since a `server:` would load dnspython, which the default never imports.
    `dns_port` is kept for callers; the 200-check config queries that server."""
    return f"""site: {{id: bench, name: bench}}
state_dir: {state}
checks:
  - {{id: system, kind: system, interval: 1m, timeout: 5s}}
  - {{id: dns-portal, kind: dns, name: localhost, interval: 1m, timeout: 4s}}
  - {{id: gateway, kind: ping, targets: [127.0.0.1], count: 5, packet_interval: 200ms, interval: 1m, timeout: 5s}}
  - {{id: tls-dichvucong, kind: tls, host: 127.0.0.1, port: {https}, interval: 1h, timeout: 5s}}
  - {{id: tls-vneid, kind: tls, host: 127.0.0.1, port: {https}, interval: 1h, timeout: 5s}}
  - {{id: portal-dichvucong, kind: http, url: "https://127.0.0.1:{https}/", interval: 2m, timeout: 5s}}
  - {{id: portal-vneid, kind: http, url: "https://127.0.0.1:{https}/", interval: 2m, timeout: 5s}}
  - {{id: interfaces, kind: interfaces, interval: 1m, timeout: 5s}}
  - {{id: inventory, kind: inventory, interval: 1h, timeout: 20s}}
"""


def two_hundred(state: Path, https: int, dns_port: int, tcp: int) -> str:
    lines = [f"site: {{id: bench, name: bench}}\nstate_dir: {state}\nchecks:"]
    for i in range(100):
        lines.append(f"  - {{id: tcp-{i}, kind: tcp, host: 127.0.0.1, port: {tcp}, interval: 30s, timeout: 5s}}")
    for i in range(50):
        lines.append(f"  - {{id: http-{i}, kind: http, url: 'https://127.0.0.1:{https}/p{i}', interval: 1m, timeout: 5s}}")
    for i in range(30):
        lines.append(f"  - {{id: dns-{i}, kind: dns, name: h{i}.example, server: '127.0.0.1:{dns_port}',"
                     " interval: 1m, timeout: 4s}")
    for i in range(20):
        lines.append(f"  - {{id: ping-{i}, kind: ping, targets: [127.0.0.{i + 1}], count: 3, interval: 1m, timeout: 5s}}")
    return "\n".join(lines) + "\n"


def measure(proc: Proc, pid: int, duration: float, warmup: float) -> tuple[float, float]:
    time.sleep(warmup)
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(duration)
    cpu = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
    return rss_mib(pid), cpu


def run_dxagent(config: str, duration: float, warmup: float, tmp: Path, name: str) -> dict[str, float]:
    path = tmp / f"{name}.yml"
    path.write_text(config)
    port = free_port()
    proc = Proc([sys.executable, "-m", "dxagent", "run", "-c", str(path), "--listen", f"127.0.0.1:{port}",
                 "--log-level", "warning"])
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=20, ok=(200, 503))
        rss, cpu = measure(proc, proc.proc.pid, duration, warmup)
        ms, series = scrape_ms(f"http://127.0.0.1:{port}/metrics")
        rss = max(rss, rss_mib(proc.proc.pid))
    finally:
        proc.stop()
    return {"rss": rss, "cpu": cpu, "ms": ms, "series": series}


def run_anchors(duration: float, warmup: float, tmp: Path, https: int, dns_port: int, tcp: int, probes: int
                ) -> tuple[dict[str, float], dict[str, float]]:
    node_port, bb_port = free_port(), free_port()
    bb_cfg = tmp / "blackbox.yml"
    bb_cfg.write_text("modules:\n  http: {prober: http, timeout: 5s, http: {tls_config: {insecure_skip_verify: true}}}\n"
                      "  tcp: {prober: tcp, timeout: 5s}\n  icmp: {prober: icmp, timeout: 5s}\n"
                      "  dns: {prober: dns, timeout: 4s, dns: {query_name: h.example, transport_protocol: udp}}\n")
    node = Proc([need("prometheus-node-exporter"), f"--web.listen-address=127.0.0.1:{node_port}"])
    bb = Proc([need("prometheus-blackbox-exporter"), f"--config.file={bb_cfg}",
               f"--web.listen-address=127.0.0.1:{bb_port}"])
    stop = threading.Event()
    # The same probe mix as the 200-check config (or the default-like one), at the same rates.
    mix = ([("tcp", f"127.0.0.1:{tcp}", 30)] * 100 + [("http", f"https://127.0.0.1:{https}/", 60)] * 50
           + [("dns", f"127.0.0.1:{dns_port}", 60)] * 30 + [("icmp", "127.0.0.1", 60)] * 20)[:probes]

    def driver() -> None:
        next_due = [time.monotonic() + i * 0.05 for i in range(len(mix))]
        with ThreadPoolExecutor(16) as pool:
            while not stop.is_set():
                now = time.monotonic()
                for i, (module, target, every) in enumerate(mix):
                    if next_due[i] <= now:
                        next_due[i] = now + every
                        pool.submit(get, f"http://127.0.0.1:{bb_port}/probe?module={module}&target={target}")
                # node_exporter is scraped every 15 s as Prometheus would
                stop.wait(0.05)

    def scraper() -> None:
        while not stop.wait(15):
            with contextlib.suppress(OSError):
                get(f"http://127.0.0.1:{node_port}/metrics")

    try:
        wait_http(f"http://127.0.0.1:{node_port}/metrics", timeout=15)
        wait_http(f"http://127.0.0.1:{bb_port}/metrics", timeout=15)
        threads = [threading.Thread(target=driver, daemon=True), threading.Thread(target=scraper, daemon=True)]
        for th in threads:
            th.start()
        time.sleep(warmup)
        c0 = (cpu_seconds(node.proc.pid), cpu_seconds(bb.proc.pid))
        t0 = time.monotonic()
        time.sleep(duration)
        elapsed = time.monotonic() - t0
        node_cpu = (cpu_seconds(node.proc.pid) - c0[0]) / elapsed
        bb_cpu = (cpu_seconds(bb.proc.pid) - c0[1]) / elapsed
        node_ms, node_series = scrape_ms(f"http://127.0.0.1:{node_port}/metrics")
        result = ({"rss": rss_mib(node.proc.pid), "cpu": node_cpu, "ms": node_ms, "series": node_series},
                  {"rss": rss_mib(bb.proc.pid), "cpu": bb_cpu, "ms": float("nan"), "series": 0})
    finally:
        stop.set()
        node.stop()
        bb.stop()
    return result


def breakdown(config: str, tmp: Path, settle: float) -> None:
    """Mappings of the running daemon, then the import cost per package (see the module docstring)."""
    path = tmp / "breakdown.yml"
    path.write_text(config)
    port = free_port()
    proc = Proc([sys.executable, "-X", "importtime", "-m", "dxagent", "run", "-c", str(path), "--listen",
                 f"127.0.0.1:{port}", "--log-level", "warning"])
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=20, ok=(200, 503))
        time.sleep(settle)
        get(f"http://127.0.0.1:{port}/metrics")
        total = rss_mib(proc.proc.pid)
        maps: dict[str, int] = {}
        name = "[anon]"
        for line in Path(f"/proc/{proc.proc.pid}/smaps").read_text().splitlines():
            head = line.split()
            if head and not head[0].endswith(":"):
                name = head[5] if len(head) > 5 else "[anon]"
            elif head and head[0] == "Rss:":
                maps[name] = maps.get(name, 0) + int(head[1])
    finally:
        proc.stop()
    print(f"dxagent default-like: RSS {total:.1f} MiB after {settle:.0f} s; largest mappings:")
    for name, kib in sorted(maps.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {kib / 1024:6.1f} MiB  {name}")
    log = tmp / "importtime.txt"
    log.write_text("\n".join(line for line in proc.log() if line.startswith("import time:")))
    print("RSS added by each package's imports (fresh interpreter, the daemon's import order):")
    subprocess.run([sys.executable, "-c", REPLAY, str(log)], check=True)


# Run with `python -c` so that the replaying interpreter has imported nothing of its own (this file
# imports cryptography through tests.pki). Each logged module is imported after its children, so
# the RSS step it causes is its own body's cost; steps are charged to its package.
REPLAY = """
import contextlib, importlib, sys
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
lines = open(sys.argv[1]).read().splitlines()[1:]
names = [line.split('|')[2].strip() for line in lines if line.count('|') == 2]
start = before = rss()
cost = {}
for name in names:
    if name in sys.modules:
        continue
    with contextlib.suppress(Exception):
        importlib.import_module(name)
    parts = name.split('.')
    package = '.'.join(parts[:2]) if parts[0] == 'dxagent' else parts[0]
    now = rss()
    cost[package] = cost.get(package, 0.0) + now - before
    before = now
for package, mib in sorted(cost.items(), key=lambda kv: -kv[1]):
    if mib >= 0.25:
        print(f'  {mib:6.1f} MiB  {package}')
print(f'  {before - start:6.1f} MiB  all {len(names)} modules (interpreter alone: {start:.1f} MiB)')
"""


def render_figures() -> list[tuple[int, float]]:
    from dxagent.checks.tcp import Config
    from dxagent.exporters.prometheus import Exporter, ScrapeView
    from dxagent.model import Reason, Result, Sample, Status, t

    out = []
    for checks in (70, 280):  # ≈ 500 and ≈ 2,000 series with the generic families
        cfgs = {f"c{i}": Config(id=f"c{i}", host=f"h{i}", port=22) for i in range(checks)}
        results = [Result(f"c{i}", "tcp", f"h{i}:22", Status.CRIT if i % 4 == 0 else Status.OK, t("x", "x"),
                          reason=Reason.TIMEOUT if i % 4 == 0 else None, started=time.time(), duration=0.01,
                          samples=(Sample.of("tcp_connect_success", 1), Sample.of("tcp_connect_seconds", 0.01)))
                   for i in range(checks)]
        exporter = Exporter()
        view = ScrapeView(results, cfgs)
        text = exporter.render(view)
        series = sum(1 for line in text.decode().splitlines() if line and not line.startswith("#"))
        times = []
        for i in range(100):
            # A fresh Result every few scrapes, as checks finish between scrapes.
            if i % 5 == 0:
                results[i % checks] = results[i % checks].replace(duration=0.02)
                view = ScrapeView(results, cfgs)
            t0 = time.perf_counter()
            exporter.render(view, openmetrics=i % 2 == 1)
            times.append((time.perf_counter() - t0) * 1000)
        out.append((series, statistics.median(times)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=120.0, help="measurement window per process group (s)")
    # Past the daemon's start-up work (lazy imports on the first runs, the first readiness evaluation
    # at 5 s, the first heap trim at 30 s), which an hour's average spreads thin; the exporters get
    # the same warm-up.
    ap.add_argument("--warmup", type=float, default=40.0, help="seconds before measuring (steady state)")
    ap.add_argument("--skip-default", action="store_true")
    ap.add_argument("--breakdown", action="store_true", help="where the default-like daemon's RSS goes")
    args = ap.parse_args()
    if args.breakdown:
        with tempfile.TemporaryDirectory() as d, dns_responder() as dns_port:
            tmp = Path(d)
            leaf = TestPKI(tmp / "pki").leaf(hosts=("127.0.0.1", "localhost"))
            with serve_https(leaf) as https:
                breakdown(default_like(tmp / "s1", https.port, dns_port), tmp, args.warmup)
        return
    print("in-process /metrics render (median, text and OpenMetrics alternating):")
    for series, ms in render_figures():
        print(f"  {series:5d} series: {ms:6.2f} ms")
    with tempfile.TemporaryDirectory() as d, dns_responder() as dns_port, tcp_listener() as tcp:
        tmp = Path(d)
        leaf = TestPKI(tmp / "pki").leaf(hosts=("127.0.0.1", "localhost"))
        with serve_https(leaf) as https:
            rows = []
            if not args.skip_default:
                rows.append(("dxagent default-like (9 checks)",
                             run_dxagent(default_like(tmp / "s1", https.port, dns_port), args.duration, args.warmup,
                                         tmp, "default")))
            rows.append(("dxagent 200 checks",
                         run_dxagent(two_hundred(tmp / "s2", https.port, dns_port, tcp), args.duration, args.warmup,
                                     tmp, "200")))
            node, bb = run_anchors(args.duration, args.warmup, tmp, https.port, dns_port, tcp, 200)
            rows.append(("node_exporter (default collectors)", node))
            rows.append(("blackbox_exporter (same 200 probes)", bb))
            rows.append(("node + blackbox together", {"rss": node["rss"] + bb["rss"], "cpu": node["cpu"] + bb["cpu"],
                                                      "ms": float("nan"), "series": 0}))
    print(f"\n{'process':38s} {'RSS MiB':>8s} {'CPU s/h':>8s} {'CPU %':>6s} {'/metrics ms':>12s} {'series':>7s}")
    for name, r in rows:
        ms = f"{r['ms']:.2f}" if r["ms"] == r["ms"] else "-"
        series = str(r["series"]) if r["series"] else "-"
        print(f"{name:38s} {r['rss']:8.1f} {r['cpu'] * 3600:8.1f} {r['cpu'] * 100:6.2f} {ms:>12s} {series:>7s}")
    print("\ngoals: RSS <= node+blackbox (~37 MiB; hard 45), CPU <= 0.5 %, /metrics <= node_exporter's at equal "
          "series, <= 10 ms at 2,000 series")


if __name__ == "__main__":
    main()

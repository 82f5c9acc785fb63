"""Benchmark `dxagent run` beside node_exporter + blackbox_exporter + snmp_exporter doing comparable work.

Run by hand, as root (ICMP), from the repository:  .venv/bin/python bench/bench_daemon.py
  [--duration 120] [--warmup 40] [--hour-minutes 5] [--hour-warmup 90] [--skip-default] [--skip-hour]

It prints, from one run:
- in-process /metrics time (prometheus_client exposition of the collector) at ~300 and ~2,000
  series, text and OpenMetrics, median of 200 scrapes;
- for the default-like config (the built-in default's kinds, targets on loopback) and a 200-check
  config (tcp, https with a generated CA, dns, ping, SNMPv3 authPriv against snmpd with 24
  interfaces in a namespace the bench creates, certfile on generated certificates): RSS after
  warm-up, CPU, and /metrics over HTTP (median of 200 scrapes: text without gzip, and
  OpenMetrics + gzip as Prometheus asks) with the series count;
- /metrics over HTTP of daemons sized to the budgets' series counts (32 and 221 tcp checks, readiness off: 305
  and 2,006 series), median of 200 scrapes;
- node_exporter, blackbox_exporter (driven with the same probes at the same rates) and
  snmp_exporter (the same SNMPv3 walks) measured in the same run;
- an accelerated hour: the 200-check config with every interval divided so that an hour of
  cycles runs in `--hour-minutes`, RSS sampled after warm-up until the end (growth = flatness).

`--breakdown` says where the default-like daemon's RSS goes instead: its memory mappings (shared
libraries vs the Python heap) and, replayed in a fresh interpreter in the daemon's own import
order, the RSS each package's modules add.

Budgets (issue #15): RSS after warm-up <= 80 MiB default-like, <= 110 MiB 200 checks; <= 2 MiB
growth over the accelerated hour; /metrics <= 5 ms at 300 series, <= 25 ms at 2,000.
All traffic stays on 127.0.0.1 and in the bench's own namespace (deleted at exit).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
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

from tests import netns  # noqa: E402
from tests.pki import TestPKI, serve_https  # noqa: E402
from tests.promtools import Proc, free_port, need, wait_http  # noqa: E402
from tests.snmpd import SnmpAgent, start_snmpd  # noqa: E402
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


# What Prometheus 2.42 sends: OpenMetrics first, gzip.
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                     "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def get(url: str, timeout: float = 10, accept: str | None = None, gzip: bool = False) -> bytes:
    headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
    if accept:
        headers["Accept"] = accept
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
        return bytes(resp.read())


def scrape_ms(url: str, n: int = 200, prometheus_like: bool = False) -> tuple[float, int]:
    """Median wall time of `n` scrapes (text without gzip, or as Prometheus asks) and the series count."""
    kw = {"accept": PROMETHEUS_ACCEPT, "gzip": True} if prometheus_like else {}
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        get(url, **kw)  # type: ignore[arg-type]
        times.append((time.perf_counter() - t0) * 1000)
    body = get(url)
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
    /etc/hosts). `dns_port` is kept for callers; the 200-check config queries that server."""
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


@dataclasses.dataclass(frozen=True)
class Lab:
    """The loopback targets both dxagent and the anchors probe."""

    https: int
    ca: Path
    dns_port: int
    tcp: int
    snmp: SnmpAgent
    secrets: Path
    certs: tuple[Path, ...]


# The 200-check mix: (kind, count, interval s). The anchors get the same probes at the same rates.
MIX = (("tcp", 90, 30), ("https", 50, 60), ("dns", 25, 60), ("ping", 15, 60), ("snmpv3", 10, 60), ("certfile", 10, 60))


def two_hundred(state: Path, lab: Lab, speed: float = 1.0) -> str:
    """200 checks over loopback: tcp, https (verified with the generated CA), dns, ping, SNMPv3
    authPriv (SHA/AES, snmpd), certfile. `speed` divides every interval (accelerated hour)."""
    def every(seconds: float, timeout: float) -> str:
        interval = seconds / speed
        return f"interval: {interval:g}s, timeout: {min(timeout, interval * 0.8):g}s"

    lines = [f"site: {{id: bench, name: bench}}\nstate_dir: {state}\nchecks:"]
    n = dict((kind, (count, seconds)) for kind, count, seconds in MIX)
    for i in range(n["tcp"][0]):
        lines.append(f"  - {{id: tcp-{i}, kind: tcp, host: 127.0.0.1, port: {lab.tcp}, {every(30, 5)}}}")
    for i in range(n["https"][0]):
        lines.append(f"  - {{id: https-{i}, kind: http, url: 'https://127.0.0.1:{lab.https}/p{i}', ca_file: '{lab.ca}',"
                     f" {every(60, 5)}}}")
    for i in range(n["dns"][0]):
        lines.append(f"  - {{id: dns-{i}, kind: dns, name: h{i}.example, server: '127.0.0.1:{lab.dns_port}', {every(60, 4)}}}")
    for i in range(n["ping"][0]):
        lines.append(f"  - {{id: ping-{i}, kind: ping, targets: [127.0.0.{i + 1}], count: 3, packet_interval: 200ms,"
                     f" {every(60, 5)}}}")
    for i in range(n["snmpv3"][0]):
        lines.append(f"  - {{id: snmp-{i}, kind: snmp, host: {lab.snmp.host}, port: {lab.snmp.port}, version: v3,"
                     f" user: {lab.snmp.user}, security_level: authPriv, auth_protocol: SHA,"
                     f" auth_key: {{file: '{lab.secrets / 'auth'}'}}, priv_protocol: AES,"
                     f" priv_key: {{file: '{lab.secrets / 'priv'}'}}, {every(60, 5)}}}")
    for i in range(n["certfile"][0]):
        lines.append(f"  - {{id: certfile-{i}, kind: certfile, paths: ['{lab.certs[i % len(lab.certs)]}'], {every(60, 5)}}}")
    assert len(lines) == 201
    return "\n".join(lines) + "\n"


def measure(pid: int, duration: float, warmup: float) -> tuple[float, float]:
    time.sleep(warmup)
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(duration)
    cpu = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
    return rss_mib(pid), cpu


@contextlib.contextmanager
def dxagent(config: str, tmp: Path, name: str) -> Iterator[tuple[Proc, int]]:
    path = tmp / f"{name}.yml"
    path.write_text(config)
    port = free_port()
    proc = Proc([sys.executable, "-m", "dxagent", "run", "-c", str(path), "--listen", f"127.0.0.1:{port}",
                 "--log-level", "warning"])
    try:
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", timeout=30, ok=(200, 503))
        except AssertionError:
            print("\n".join(proc.log()[-20:]), file=sys.stderr)
            raise
        yield proc, port
    finally:
        proc.stop()
        problems = [line for line in proc.log() if "ERROR" in line or "Traceback" in line]
        if problems:
            print(f"  ({name}: {len(problems)} error lines in the log, first: {problems[0][:160]})")


def run_dxagent(config: str, duration: float, warmup: float, tmp: Path, name: str) -> dict[str, float]:
    with dxagent(config, tmp, name) as (proc, port):
        rss, cpu = measure(proc.proc.pid, duration, warmup)
        ms, series = scrape_ms(f"http://127.0.0.1:{port}/metrics")
        om_ms, _ = scrape_ms(f"http://127.0.0.1:{port}/metrics", prometheus_like=True)
        rss = max(rss, rss_mib(proc.proc.pid))
    return {"rss": rss, "cpu": cpu, "ms": ms, "om_ms": om_ms, "series": series}


def tcp_only(state: Path, tcp: int, checks: int) -> str:
    """`checks` tcp checks, readiness off: 9 series each plus the agent's own (32 → 305, 221 → 2,006)."""
    lines = [f"site: {{id: bench, name: bench}}\nstate_dir: {state}\nreadiness: {{enabled: false}}\nchecks:"]
    lines += [f"  - {{id: tcp-{i}, kind: tcp, host: 127.0.0.1, port: {tcp}, interval: 1m, timeout: 5s}}"
              for i in range(checks)]
    return "\n".join(lines) + "\n"


def scrape_at(tmp: Path, lab: Lab, checks: int, warmup: float) -> dict[str, float]:
    """/metrics of a running daemon over HTTP at a chosen series count, median of 200 (text; OpenMetrics+gzip)."""
    with dxagent(tcp_only(tmp / f"s-tcp{checks}", lab.tcp, checks), tmp, f"tcp{checks}") as (proc, port):
        time.sleep(warmup)
        ms, series = scrape_ms(f"http://127.0.0.1:{port}/metrics")
        om_ms, _ = scrape_ms(f"http://127.0.0.1:{port}/metrics", prometheus_like=True)
        return {"rss": rss_mib(proc.proc.pid), "cpu": float("nan"), "ms": ms, "om_ms": om_ms, "series": series}


def accelerated_hour(lab: Lab, tmp: Path, minutes: float, warmup: float) -> tuple[float, list[float]]:
    """RSS every 10 s while the 200-check config runs an hour of cycles in `minutes` (after `warmup`)."""
    speed = 60.0 / minutes
    with dxagent(two_hundred(tmp / "s3", lab, speed), tmp, "hour") as (proc, port):
        time.sleep(warmup)
        samples = [rss_mib(proc.proc.pid)]
        end = time.monotonic() + minutes * 60
        while time.monotonic() < end:
            time.sleep(10)
            get(f"http://127.0.0.1:{port}/metrics")  # scraped as Prometheus would
            samples.append(rss_mib(proc.proc.pid))
    return speed, samples


SNMP_WALK = ("1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.2.2.1.5", "1.3.6.1.2.1.2.2.1.7", "1.3.6.1.2.1.2.2.1.8",
             "1.3.6.1.2.1.2.2.1.10", "1.3.6.1.2.1.2.2.1.14", "1.3.6.1.2.1.2.2.1.16", "1.3.6.1.2.1.2.2.1.20",
             "1.3.6.1.2.1.31.1.1.1.1", "1.3.6.1.2.1.31.1.1.1.6", "1.3.6.1.2.1.31.1.1.1.10", "1.3.6.1.2.1.31.1.1.1.15")


def snmp_exporter_config(agent: SnmpAgent) -> str:
    """An snmp_exporter 0.21 module walking IF-MIB columns by numeric OID, SHA/AES authPriv (Debian ships no MIBs)."""
    lines = ["if_v3:", "  version: 3", "  max_repetitions: 25", "  timeout: 5s", "  auth:",
             f"    username: {agent.user}", "    security_level: authPriv", f"    password: {agent.auth_key}",
             "    auth_protocol: SHA", "    priv_protocol: AES", f"    priv_password: {agent.priv_key}", "  walk:"]
    lines += [f"    - {oid}" for oid in SNMP_WALK]
    lines += ["  metrics:"]
    for oid in SNMP_WALK:
        lines += [f"    - name: col_{oid.replace('.', '_')}", f"      oid: {oid}", "      type: gauge", "      indexes:",
                  "        - labelname: ifIndex", "          type: gauge"]
    return "\n".join(lines) + "\n"


def run_anchors(duration: float, warmup: float, tmp: Path, lab: Lab) -> dict[str, dict[str, float]]:
    node_port, bb_port, snmp_port = free_port(), free_port(), free_port()
    bb_cfg = tmp / "blackbox.yml"
    bb_cfg.write_text(f"modules:\n  http: {{prober: http, timeout: 5s, http: {{tls_config: {{ca_file: {lab.ca}}}}}}}\n"
                      "  tcp: {prober: tcp, timeout: 5s}\n  icmp: {prober: icmp, timeout: 5s}\n"
                      "  dns: {prober: dns, timeout: 4s, dns: {query_name: h.example, transport_protocol: udp}}\n")
    snmp_cfg = tmp / "snmp.yml"
    snmp_cfg.write_text(snmp_exporter_config(lab.snmp))
    node = Proc([need("prometheus-node-exporter"), f"--web.listen-address=127.0.0.1:{node_port}"])
    bb = Proc([need("prometheus-blackbox-exporter"), f"--config.file={bb_cfg}",
               f"--web.listen-address=127.0.0.1:{bb_port}"])
    snmp = Proc([need("prometheus-snmp-exporter"), f"--config.file={snmp_cfg}",
                 f"--web.listen-address=127.0.0.1:{snmp_port}"])
    stop = threading.Event()
    targets = {"tcp": ("blackbox", "tcp", f"127.0.0.1:{lab.tcp}"), "https": ("blackbox", "http", f"https://127.0.0.1:{lab.https}/"),
               "dns": ("blackbox", "dns", f"127.0.0.1:{lab.dns_port}"), "ping": ("blackbox", "icmp", "127.0.0.1"),
               "snmpv3": ("snmp", "if_v3", f"{lab.snmp.host}:{lab.snmp.port}")}
    mix = [(targets[kind], every) for kind, count, every in MIX if kind in targets for _ in range(count)]
    urls = {"blackbox": f"http://127.0.0.1:{bb_port}/probe", "snmp": f"http://127.0.0.1:{snmp_port}/snmp"}

    def driver() -> None:
        next_due = [time.monotonic() + i * 0.05 for i in range(len(mix))]
        with ThreadPoolExecutor(16) as pool:
            while not stop.is_set():
                now = time.monotonic()
                for i, ((exporter, module, target), every) in enumerate(mix):
                    if next_due[i] <= now:
                        next_due[i] = now + every
                        pool.submit(get, f"{urls[exporter]}?module={module}&target={target}")
                stop.wait(0.05)

    def scraper() -> None:  # node_exporter is scraped every 15 s as Prometheus would
        while not stop.wait(15):
            with contextlib.suppress(OSError):
                get(f"http://127.0.0.1:{node_port}/metrics")

    procs = {"node": node, "blackbox": bb, "snmp": snmp}
    try:
        wait_http(f"http://127.0.0.1:{node_port}/metrics", timeout=15)
        wait_http(f"http://127.0.0.1:{bb_port}/metrics", timeout=15)
        wait_http(f"http://127.0.0.1:{snmp_port}/metrics", timeout=15)
        threads = [threading.Thread(target=driver, daemon=True), threading.Thread(target=scraper, daemon=True)]
        for th in threads:
            th.start()
        time.sleep(warmup)
        c0 = {name: cpu_seconds(p.proc.pid) for name, p in procs.items()}
        t0 = time.monotonic()
        time.sleep(duration)
        elapsed = time.monotonic() - t0
        out = {name: {"rss": rss_mib(p.proc.pid), "cpu": (cpu_seconds(p.proc.pid) - c0[name]) / elapsed,
                      "ms": float("nan"), "om_ms": float("nan"), "series": 0} for name, p in procs.items()}
        out["node"]["ms"], out["node"]["series"] = scrape_ms(f"http://127.0.0.1:{node_port}/metrics")
        out["node"]["om_ms"], _ = scrape_ms(f"http://127.0.0.1:{node_port}/metrics", prometheus_like=True)
    finally:
        stop.set()
        for p in procs.values():
            p.stop()
    return out


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


def render_figures() -> list[tuple[int, float, float]]:
    """In-process: the exporter's exposition (text, OpenMetrics) at ~300 and ~2,000 series, median of 200."""
    from dxagent.checks.tcp import Config
    from dxagent.exporters.prometheus import Exporter, ScrapeView
    from dxagent.model import Reason, Result, Sample, Status, t

    out = []
    for checks in (40, 280):  # ≈ 300 and ≈ 2,000 series with the generic and process families
        cfgs = {f"c{i}": Config(id=f"c{i}", host=f"h{i}", port=22) for i in range(checks)}
        results = [Result(f"c{i}", "tcp", f"h{i}:22", Status.CRIT if i % 4 == 0 else Status.OK, t("x", "x"),
                          reason=Reason.TIMEOUT if i % 4 == 0 else None, started=time.time(), duration=0.01,
                          samples=(Sample.of("tcp_connect_success", 1), Sample.of("tcp_connect_seconds", 0.01)))
                   for i in range(checks)]
        views = [ScrapeView(list(results), cfgs, labels={"zone": "bench"})]
        exporter = Exporter(lambda views=views: views[0])  # type: ignore[misc]
        body, _ = exporter.expose()
        series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
        medians = []
        for accept in ("", PROMETHEUS_ACCEPT):
            times = []
            for i in range(200):
                if i % 5 == 0:  # a fresh Result every few scrapes, as checks finish between scrapes
                    results[i % checks] = results[i % checks].replace(duration=0.02)
                    views[0] = ScrapeView(list(results), cfgs, labels={"zone": "bench"})
                t0 = time.perf_counter()
                exporter.expose(accept)
                times.append((time.perf_counter() - t0) * 1000)
            medians.append(statistics.median(times))
        out.append((series, medians[0], medians[1]))
    return out


@contextlib.contextmanager
def lab_targets(tmp: Path) -> Iterator[Lab]:
    """HTTPS server with a generated CA, DNS answerer, open TCP port, snmpd (v3 authPriv), certificate files."""
    pki = TestPKI(tmp / "pki")
    leaf = pki.leaf(hosts=("127.0.0.1", "localhost"))
    certs = tuple(pki.leaf(hosts=(f"cert{i}.bench",)).cert for i in range(3))
    with dns_responder() as dns_port, tcp_listener() as tcp, serve_https(leaf) as https, netns.NetLab() as net:
        # snmpd in a namespace of its own with a fixed set of 24 interfaces (lo, eth0, 11 veth pairs), like a
        # 24-port switch: on the host, other processes' veths come and go and each new one is a new target.
        host = net.lan().add_host()
        for k in range(11):
            net.run_in(host, "ip", "link", "add", f"p{k}a", "type", "veth", "peer", "name", f"p{k}b")
            net.run_in(host, "ip", "link", "set", f"p{k}a", "up")
        snmp = start_snmpd(tmp / "snmpd", netns=host.ns, host=host.v4, port=161)
        try:
            secrets = tmp / "secrets"
            secrets.mkdir()
            (secrets / "auth").write_text(snmp.auth_key)
            (secrets / "priv").write_text(snmp.priv_key)
            yield Lab(https.port, leaf.ca, dns_port, tcp, snmp, secrets, certs)
        finally:
            snmp.stop()


def print_rows(rows: list[tuple[str, dict[str, float]]]) -> None:
    print(f"\n{'process':38s} {'RSS MiB':>8s} {'CPU s/h':>8s} {'CPU %':>6s} {'/metrics ms':>12s} {'OM+gzip ms':>11s}"
          f" {'series':>7s}")
    for name, r in rows:
        ms = f"{r['ms']:.2f}" if r["ms"] == r["ms"] else "-"
        om = f"{r['om_ms']:.2f}" if r["om_ms"] == r["om_ms"] else "-"
        series = str(r["series"]) if r["series"] else "-"
        cpu_h = f"{r['cpu'] * 3600:.1f}" if r["cpu"] == r["cpu"] else "-"
        cpu = f"{r['cpu'] * 100:.2f}" if r["cpu"] == r["cpu"] else "-"
        print(f"{name:38s} {r['rss']:8.1f} {cpu_h:>8s} {cpu:>6s} {ms:>12s} {om:>11s} {series:>7s}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=120.0, help="measurement window per process group (s)")
    # Past the daemon's start-up work (lazy imports on the first runs, the first readiness evaluation
    # at 5 s, the first heap trim at 30 s); the exporters get the same warm-up.
    ap.add_argument("--warmup", type=float, default=40.0, help="seconds before measuring (steady state)")
    ap.add_argument("--hour-minutes", type=float, default=5.0, help="wall minutes for the accelerated hour")
    # At 12x the first minute still sees one-off growth (first SNMP walks, history pages): settle first.
    ap.add_argument("--hour-warmup", type=float, default=90.0, help="seconds before the accelerated hour's first sample")
    ap.add_argument("--skip-default", action="store_true")
    ap.add_argument("--skip-hour", action="store_true")
    ap.add_argument("--breakdown", action="store_true", help="where the default-like daemon's RSS goes")
    args = ap.parse_args()
    if args.hour_minutes < 3:
        ap.error("--hour-minutes must be at least 3 (shorter intervals no longer fit the checks' timeouts)")
    if args.breakdown:
        with tempfile.TemporaryDirectory() as d, dns_responder() as dns_port:
            tmp = Path(d)
            leaf = TestPKI(tmp / "pki").leaf(hosts=("127.0.0.1", "localhost"))
            with serve_https(leaf) as https:
                breakdown(default_like(tmp / "s1", https.port, dns_port), tmp, args.warmup)
        return
    print("in-process /metrics (prometheus_client exposition, median of 200):")
    for series, text_ms, om_ms in render_figures():
        print(f"  {series:5d} series: text {text_ms:6.2f} ms, OpenMetrics {om_ms:6.2f} ms")
    hour: tuple[float, list[float]] | None = None
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with lab_targets(tmp) as lab:
            rows = []
            if not args.skip_default:
                rows.append(("dxagent default-like (9 checks)",
                             run_dxagent(default_like(tmp / "s1", lab.https, lab.dns_port), args.duration,
                                         args.warmup, tmp, "default")))
            rows.append(("dxagent 200 checks", run_dxagent(two_hundred(tmp / "s2", lab), args.duration, args.warmup,
                                                           tmp, "200")))
            for checks in (32, 221):
                rows.append((f"dxagent {checks} tcp checks (/metrics)", scrape_at(tmp, lab, checks, 15.0)))
            anchors = run_anchors(args.duration, args.warmup, tmp, lab)
            rows.append(("node_exporter (default collectors)", anchors["node"]))
            rows.append(("blackbox_exporter (same 190 probes)", anchors["blackbox"]))
            rows.append(("snmp_exporter (same 10 v3 walks)", anchors["snmp"]))
            rows.append(("node + blackbox + snmp together",
                         {"rss": sum(a["rss"] for a in anchors.values()), "cpu": sum(a["cpu"] for a in anchors.values()),
                          "ms": float("nan"), "om_ms": float("nan"), "series": 0}))
            print_rows(rows)
            if not args.skip_hour:
                hour = accelerated_hour(lab, tmp, args.hour_minutes, args.hour_warmup)
    if hour is not None:
        speed, samples = hour
        print(f"\naccelerated hour (200 checks, intervals / {speed:g}, {args.hour_minutes:g} min after {args.hour_warmup:g} s"
              f" warm-up): RSS {samples[0]:.1f} -> {samples[-1]:.1f} MiB (min {min(samples):.1f}, max {max(samples):.1f});"
              f" growth {samples[-1] - samples[0]:+.1f} MiB")
    print("\nbudgets: RSS <= 80 MiB default-like, <= 110 MiB 200 checks; growth <= 2 MiB over the accelerated hour;"
          " /metrics <= 5 ms at 300 series, <= 25 ms at 2,000")


if __name__ == "__main__":
    main()

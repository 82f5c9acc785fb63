"""Benchmark: dxagent's `http` kind beside prometheus-blackbox-exporter's /probe, same local target, same run.

Run by hand: `.venv/bin/python bench/bench_http.py [--probes 500] [--concurrency 16] [--profile https]
[--baseline OTHER/.venv/bin/python] [--memory]`.

The target is a small asyncio HTTP server in its own process (so it competes with neither tool for
a GIL), serving plain http and https (test PKI, EC P-256) on 127.0.0.1. blackbox_exporter (the
Debian binary) runs on a loopback port with a temporary config of two http modules and is called
through a minimal keep-alive client (cheaper than httpx, so the caller is not the bottleneck).
For each target it measures, sequentially and with N probes in flight (plus bare httpx, the floor of
the library used as documented: `AsyncClient(verify=…).get(url)` per probe):
  - probes per second (wall),
  - the mean total-time sample each tool reports (dxagent: http_duration_seconds{phase="total"};
    blackbox: probe_duration_seconds),
  - CPU milliseconds per probe of the probing process (dxagent in-process; blackbox from /proc,
    with its caller's CPU listed apart).
Each dxagent probe opens a new connection and does a full TLS handshake like blackbox does (no
keep-alive across probes, no session resumption). `--profile http|https` instead runs dxagent's
probe loop (16 in flight) under cProfile and prints where its Python time goes, per package and
per function: the figures behind docs/decisions/0003-http-on-httpx-trace.md.
dxagent's probe loop runs in a child process of the given interpreter, so `--baseline PYTHON`
(another checkout's venv, e.g. a `git worktree` of main) adds that version's rows to the same run.
`--memory` instead starts a fresh interpreter per version that imports what the daemon imports for
the http kind, runs one http and one https probe through the runner, and prints its RSS and which
HTTP packages it loaded.
Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dxagent.checks.http import Config, probe
from dxagent.probe import ProbeContext
from tests.pki import TestPKI, free_port

TARGET_SERVER = textwrap.dedent("""
    import asyncio, ssl, sys
    BODY = b"<html><head><title>bench</title></head><body>" + b"x" * 2000 + b"</body></html>"
    RESP = (b"HTTP/1.1 200 OK\\r\\nContent-Type: text/html\\r\\nContent-Length: " + str(len(BODY)).encode()
            + b"\\r\\n\\r\\n" + BODY)
    async def handle(reader, writer):
        try:
            while True:
                await reader.readuntil(b"\\r\\n\\r\\n")
                writer.write(RESP)
                await writer.drain()
        except Exception:
            pass
        writer.close()
    async def serve():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=1024)
        await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[2]), ssl=ctx, backlog=1024)
        print("ready", flush=True)
        await asyncio.Event().wait()
    asyncio.run(serve())
""")


def profile(cfg: Config, n: int, conc: int) -> None:
    """cProfile of dxagent's probe loop: own time per package, then the top functions."""
    import collections
    import cProfile
    import pstats

    asyncio.run(bench_dxagent(cfg, 50, conc))  # warm-up outside the profile
    prof = cProfile.Profile()
    prof.enable()
    asyncio.run(bench_dxagent(cfg, n, conc))
    prof.disable()
    stats = pstats.Stats(prof)
    groups: collections.Counter[str] = collections.Counter()
    for (path, _, func), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if path == "~":
            groups["C: " + func.split(" of ")[0].strip("<>{}")] += own
            continue
        parts = Path(path).parts
        # a third-party package by its folder under site-packages
        site = parts[parts.index("site-packages") + 1:] if "site-packages" in parts else ()
        pkg = next((p for p in ("h11", "h2", "httpcore", "httpx", "anyio", "cryptography") if site[:1] == (p,)), None)
        pkg = pkg or next((p for p in ("asyncio", "ssl.py") if p in parts and not site), None)
        groups[pkg or ("dxagent " + Path(path).name if "checks" in parts or "agent" in parts else Path(path).name)] += own
    total = sum(groups.values())
    print(f"own time per package, {n} probes ({conc} in flight; cProfile roughly doubles Python's share):")
    for name, own in groups.most_common(25):
        print(f"  {own / total * 100:5.1f}%  {own / n * 1e6:7.1f} us/probe  {name}")
    print()
    stats.sort_stats("tottime").print_stats(25)


MEMORY_CHILD = textwrap.dedent("""
    import gc, json, sys
    def rss():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    start = rss()
    from dxagent import aio
    from dxagent.runner import Runner
    base = rss()
    from dxagent.checks.http import Config
    imported = rss()
    def probe(url, **kw):
        (r,) = aio.run(Runner().run_all([Config(id="m", interval="1m", timeout="5s", url=url, **kw)]))
        assert r.status.name == "OK", r.summary
    probe(sys.argv[1])
    after_http = rss()
    probe(sys.argv[2], ca_file=sys.argv[3])
    gc.collect()
    after_https = rss()
    loaded = sorted({m.split(".")[0] for m in sys.modules} & {"httpx", "httpcore", "anyio", "sniffio", "idna", "h11", "h2"})
    print(json.dumps([start, base, imported, after_http, after_https, loaded]))
""")


def child(args: argparse.Namespace) -> None:
    """`--child`: the dxagent cells of one interpreter, then bare httpx's, as JSON on stdout (see module docstring)."""
    cfg = Config.model_validate({"id": "bench", "kind": "http", "url": args.child[0], "timeout": "5s",
                                 "ca_file": args.child[1] or None})
    ours = [asyncio.run(bench_dxagent(cfg, args.probes, conc)) for conc in (1, args.concurrency)]
    bare = [asyncio.run(bench_bare_httpx(args.child[0], args.child[1], args.probes, conc))
            for conc in (1, args.concurrency)]
    print(json.dumps([ours, bare]))


async def bench_bare_httpx(url: str, ca: str, n: int, conc: int) -> tuple[float, float, float]:
    """The floor of httpx used as documented: `AsyncClient(verify=…).get(url)`, a client per probe (new connection)."""
    import ssl

    import httpx

    # one context for all probes (verify=True would load certifi's bundle for every client, ~20 ms)
    verify = ssl.create_default_context(cafile=ca or None)
    sem = asyncio.Semaphore(conc)

    async def one() -> None:
        async with sem, httpx.AsyncClient(verify=verify, trust_env=False) as client:
            response = await client.get(url)
            assert response.status_code == 200

    await one()
    c0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return n / wall, 0.0, cpu / n


def run_child(python: str, url: str, ca: str, args: argparse.Namespace) -> list[list[tuple[float, float, float]]]:
    out = subprocess.run([python, __file__, "--child", url, ca, "--probes", str(args.probes),
                          "--concurrency", str(args.concurrency)], capture_output=True, text=True, check=True)
    return [[tuple(cell) for cell in cells] for cells in json.loads(out.stdout)]  # type: ignore[misc]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench_dxagent(cfg: Config, n: int, conc: int) -> tuple[float, float, float]:
    """(probes/s, mean total sample in s, CPU s per probe) for n probes, conc at a time."""
    sem = asyncio.Semaphore(conc)
    totals: list[float] = []

    async def one() -> None:
        async with sem:
            r = await probe(cfg, ProbeContext("bench", "http", timeout=5))
            assert r.status.name == "OK", r.summary
            totals.append(next(s.value for s in r.samples if s.name == "http_duration_seconds"
                               and dict(s.labels).get("phase") == "total"))

    await one()  # warm-up: imports, CA store
    totals.clear()
    c0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return n / wall, statistics.fmean(totals), cpu / n


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> str:
    """One keep-alive GET with a minimal client."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return (await reader.readexactly(int(line.split(b":")[1]))).decode()
    body = b""  # chunked (Go's net/http for bodies it did not buffer)
    while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
        body += (await reader.readexactly(size + 2))[:-2]
    await reader.readuntil(b"\r\n")
    return body.decode()


async def bench_blackbox(port: int, bb_pid: int, target: str, module: str, n: int, conc: int,
                         ) -> tuple[float, float, float, float]:
    """(probes/s, mean probe_duration_seconds, blackbox CPU s per probe, caller CPU s per probe)."""
    totals: list[float] = []
    path = f"/probe?target={target}&module={module}"
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(conc)]
    left = n

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            text = await _get(reader, writer, path)
            lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and line[0] != "#")
            assert lines["probe_success"] == "1", text
            totals.append(float(lines["probe_duration_seconds"]))

    await _get(*conns[0], path)  # warm-up
    b0, c0, t0 = cpu_seconds(bb_pid), time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(r, w) for r, w in conns))
    wall = time.perf_counter() - t0
    b1, c1 = cpu_seconds(bb_pid), time.process_time()
    for _, w in conns:
        w.close()
    return n / wall, statistics.fmean(totals), (b1 - b0) / n, (c1 - c0) / n


async def _wait_healthy(port: int) -> None:
    for _ in range(200):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        await _get(reader, writer, "/-/healthy")
        writer.close()
        return
    raise SystemExit("blackbox_exporter did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--probes", type=int, default=500, help="probes per measurement")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--profile", choices=("http", "https"), help="profile dxagent's probe loop instead")
    ap.add_argument("--baseline", metavar="PYTHON", help="also run dxagent's cells with this interpreter's dxagent")
    ap.add_argument("--memory", action="store_true", help="RSS of a fresh daemon-like process after http/https probes")
    ap.add_argument("--child", nargs=2, metavar=("URL", "CA"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    versions = {"this": sys.executable, **({"baseline": args.baseline} if args.baseline else {})}
    binary = shutil.which("prometheus-blackbox-exporter")
    if binary is None:
        sys.exit("prometheus-blackbox-exporter not found: apt-get install prometheus-blackbox-exporter")
    tmp = Path(tempfile.mkdtemp(prefix="bench-http-"))
    pki = TestPKI(tmp)
    leaf = pki.leaf(("127.0.0.1", "localhost"))
    http_port, https_port, bb_port = free_port(), free_port(), free_port()
    (tmp / "target.py").write_text(TARGET_SERVER)
    (tmp / "blackbox.yml").write_text(textwrap.dedent(f"""
        modules:
          http_2xx:
            prober: http
            timeout: 5s
            http: {{preferred_ip_protocol: ip4}}
          https_2xx:
            prober: http
            timeout: 5s
            http: {{preferred_ip_protocol: ip4, tls_config: {{ca_file: {pki.root_pem}}}}}
    """))
    target = subprocess.Popen([sys.executable, str(tmp / "target.py"), str(http_port), str(https_port),
                               str(leaf.chain), str(leaf.key)], stdout=subprocess.PIPE, text=True)
    bb = subprocess.Popen([binary, f"--config.file={tmp / 'blackbox.yml'}", f"--web.listen-address=127.0.0.1:{bb_port}"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = []
    try:
        assert target.stdout is not None and target.stdout.readline().strip() == "ready"
        if args.memory:
            memory(versions, f"http://127.0.0.1:{http_port}/", f"https://127.0.0.1:{https_port}/", str(pki.root_pem))
            return
        if args.profile:
            port = http_port if args.profile == "http" else https_port
            profile(Config.model_validate({"id": "bench", "kind": "http", "url": f"{args.profile}://127.0.0.1:{port}/",
                                           "timeout": "5s", "ca_file": str(pki.root_pem)}), args.probes, args.concurrency)
            return
        asyncio.run(_wait_healthy(bb_port))
        for scheme, port, module in (("http", http_port, "http_2xx"), ("https", https_port, "https_2xx")):
            url = f"{scheme}://127.0.0.1:{port}/"
            ca = str(pki.root_pem) if scheme == "https" else ""
            cells = {name: run_child(python, url, ca, args) for name, python in versions.items()}
            for i, conc in enumerate((1, args.concurrency)):
                theirs = asyncio.run(bench_blackbox(bb_port, bb.pid, url, module, args.probes, conc))
                for name in versions:
                    rows.append((scheme if len(versions) == 1 else f"{scheme} {name}", conc, cells[name][0][i],
                                 cells[name][1][i], theirs))
    finally:
        for proc in (bb, target):
            proc.terminate()
            proc.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.probes} probes per cell against a local target on 127.0.0.1 ({os.cpu_count()} cores)\n")
    print(f"{'target':14} {'conc':>4} | {'dxagent probes/s':>16} {'mean total ms':>13} {'CPU ms/probe':>12} | "
          f"{'httpx alone /s':>14} {'CPU ms':>6} | "
          f"{'blackbox probes/s':>17} {'mean total ms':>13} {'CPU ms/probe':>12} {'(caller)':>8} | {'ratio':>5}")
    for scheme, conc, (o_rate, o_total, o_cpu), (h_rate, _, h_cpu), (b_rate, b_total, b_cpu, b_caller) in rows:
        print(f"{scheme:14} {conc:>4} | {o_rate:16.0f} {o_total * 1000:13.2f} {o_cpu * 1000:12.2f} | "
              f"{h_rate:14.0f} {h_cpu * 1000:6.2f} | "
              f"{b_rate:17.0f} {b_total * 1000:13.2f} {b_cpu * 1000:12.2f} {b_caller * 1000:8.2f} | {o_rate / b_rate:5.2f}")
    print("\nmean total = the time each tool reports for one probe; CPU = the probing process per probe;")
    print("httpx alone = AsyncClient(verify=…).get(url) per probe, no dxagent code; ratio = dxagent ÷ blackbox probes/s.")


def memory(versions: dict[str, str], http_url: str, https_url: str, ca: str) -> None:
    print("fresh interpreter: RSS (MiB) at start, after dxagent.runner, after dxagent.checks.http, after one http "
          "probe, after one https probe\n")
    print(f"{'version':10} {'start':>6} {'runner':>6} {'import':>6} {'http':>6} {'https':>6} {'kind adds':>9}  loaded")
    for name, python in versions.items():
        runs = [json.loads(subprocess.run([python, "-c", MEMORY_CHILD, http_url, https_url, ca], capture_output=True,
                                          text=True, check=True).stdout) for _ in range(3)]
        cols = [statistics.median(run[i] for run in runs) for i in range(5)]
        print(f"{name:10} " + " ".join(f"{c:6.1f}" for c in cols) + f" {cols[4] - cols[1]:9.1f}  {' '.join(runs[0][5])}")
    print("\nkind adds = after the https probe minus after dxagent.runner (median of 3 fresh processes)")


if __name__ == "__main__":
    main()

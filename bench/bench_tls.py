"""Benchmark: dxagent's `tls` kind beside prometheus-blackbox-exporter's tcp+TLS /probe, same local target.

Run by hand: `.venv/bin/python bench/bench_tls.py [--probes 400] [--concurrency 16] [--profile]`.

The target is an asyncio TLS server in its own process (so it shares no GIL with dxagent) on
127.0.0.1, presenting leaf + intermediate from the test PKI (EC P-256). blackbox_exporter (Debian
binary) runs on a loopback port with one `tcp` module, `tls: true`, verifying against the test root.
For each tool it prints probes per second sequentially and with N probes in flight, and CPU time
per probe of the measuring process (dxagent in-process; blackbox: its own process from /proc),
side by side, plus the target's CPU per probe (the 2-core budget both share). Every probe is a
new connection and a full handshake. `--profile` runs dxagent's loop under cProfile instead.
Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dxagent.checks.tls import Config, probe
from dxagent.model import Status
from dxagent.probe import ProbeContext
from tests.pki import TestPKI, free_port

TARGET = textwrap.dedent("""
    import asyncio, ssl, sys
    async def handle(reader, writer):
        try:
            await reader.read(1)
        except Exception:
            pass
        writer.close()
    async def main():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), ssl=ctx, backlog=1024)
        print("ready", flush=True)
        await asyncio.Event().wait()
    asyncio.run(main())
""")


def cpu_of(pid: int) -> float:
    """User+system CPU seconds of a process, from /proc (clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile(cfg: Config, n: int, conc: int) -> None:
    """cProfile of dxagent's probe loop, top functions by own time."""
    import cProfile
    import pstats

    asyncio.run(run_dxagent(cfg, 50, conc))
    prof = cProfile.Profile()
    prof.enable()
    asyncio.run(run_dxagent(cfg, n, conc))
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


async def run_dxagent(cfg: Config, n: int, conc: int) -> tuple[float, float]:
    sem = asyncio.Semaphore(conc)
    bad = 0

    async def one() -> None:
        nonlocal bad
        async with sem:
            r = await probe(cfg, ProbeContext("bench", "tls", timeout=5))
            bad += r.status != Status.OK

    c0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if bad:
        print(f"  warning: {bad} dxagent probes not OK")
    return n / wall, cpu / n * 1000


def run_blackbox(url: str, pid: int, n: int, conc: int) -> tuple[float, float]:
    def one(_: int) -> bool:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return b"probe_success 1" in resp.read()

    c0, t0 = cpu_of(pid), time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(conc) as pool:
        ok = sum(pool.map(one, range(n)))
    wall, cpu = time.perf_counter() - t0, cpu_of(pid) - c0
    if ok != n:
        print(f"  warning: {n - ok} blackbox probes failed")
    return n / wall, cpu / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--probes", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--profile", action="store_true", help="profile dxagent's probe loop instead")
    args = ap.parse_args()
    binary = shutil.which("prometheus-blackbox-exporter")
    with tempfile.TemporaryDirectory() as tmp:
        pki = TestPKI(Path(tmp))
        leaf = pki.leaf()
        port = free_port()
        target = subprocess.Popen([sys.executable, "-c", TARGET, str(port), str(leaf.chain), str(leaf.key)],
                                  stdout=subprocess.PIPE, text=True)
        bb = None
        try:
            assert target.stdout is not None and target.stdout.readline().strip() == "ready"
            cfg = Config(id="bench", host="127.0.0.1", port=port, server_name="localhost", ca_file=pki.root_pem)
            if args.profile:
                profile(cfg, args.probes, args.concurrency)
                return
            ours: dict[int, tuple[float, float, float]] = {}
            theirs: dict[int, tuple[float, float, float]] = {}
            for conc in (1, args.concurrency):
                t0 = cpu_of(target.pid)
                rate, cpu = asyncio.run(run_dxagent(cfg, args.probes, conc))
                ours[conc] = (rate, cpu, (cpu_of(target.pid) - t0) / args.probes * 1000)
            if binary:
                bb_port = free_port()
                conf = Path(tmp) / "bb.yml"
                conf.write_text(f"modules:\n  tls:\n    prober: tcp\n    timeout: 5s\n    tcp:\n      tls: true\n"
                                f"      tls_config: {{ca_file: '{pki.root_pem}', server_name: localhost}}\n")
                bb = subprocess.Popen([binary, f"--config.file={conf}", f"--web.listen-address=127.0.0.1:{bb_port}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                base = f"http://127.0.0.1:{bb_port}"
                for _ in range(100):
                    try:
                        urllib.request.urlopen(base + "/-/healthy", timeout=1).close()
                        break
                    except OSError:
                        time.sleep(0.05)
                url = f"{base}/probe?module=tls&target=127.0.0.1:{port}"
                for conc in (1, args.concurrency):
                    t0 = cpu_of(target.pid)
                    rate, cpu = run_blackbox(url, bb.pid, args.probes, conc)
                    theirs[conc] = (rate, cpu, (cpu_of(target.pid) - t0) / args.probes * 1000)
            else:
                print("prometheus-blackbox-exporter not installed: dxagent figures only")
            print(f"{args.probes} probes per row, target 127.0.0.1:{port} (leaf + intermediate, EC P-256), "
                  f"{os.cpu_count()} cores\n")
            print(f"{'in flight':>9} | {'dxagent probes/s':>16} {'CPU ms/probe':>12} {'(target)':>8} | "
                  f"{'blackbox probes/s':>17} {'CPU ms/probe':>12} {'(target)':>8}")
            for conc, (rate, cpu, tcpu) in ours.items():
                b_rate, b_cpu, b_tcpu = theirs.get(conc, (float("nan"),) * 3)
                print(f"{conc:>9} | {rate:16.0f} {cpu:12.2f} {tcpu:8.2f} | {b_rate:17.0f} {b_cpu:12.2f} {b_tcpu:8.2f}")
            print("\nCPU = the probing process per probe (dxagent in-process, blackbox_exporter's own process); "
                  "target = the TLS server's CPU per probe.")
        finally:
            for proc in (bb, target):
                if proc is not None:
                    proc.terminate()
                    proc.wait(5)


if __name__ == "__main__":
    main()

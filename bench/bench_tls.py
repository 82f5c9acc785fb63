"""Benchmark: dxagent's `tls` kind beside prometheus-blackbox-exporter's tcp+TLS /probe, same local target.

Run by hand: `.venv/bin/python bench/bench_tls.py [--probes 400] [--concurrency 16]`.

The target is an asyncio TLS server in its own process (so it shares no GIL with dxagent) on
127.0.0.1, presenting leaf + intermediate from the test PKI (EC P-256). blackbox_exporter (Debian
binary) runs on a loopback port with one `tcp` module, `tls: true`, verifying against the test root.
For each tool it prints probes per second sequentially and with N probes in flight, and CPU time
per probe of the measuring process (dxagent in-process; blackbox: its own process from /proc).
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
            rows = []
            for conc in (1, args.concurrency):
                rate, cpu = asyncio.run(run_dxagent(cfg, args.probes, conc))
                rows.append(("dxagent tls", conc, rate, cpu))
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
                    rate, cpu = run_blackbox(url, bb.pid, args.probes, conc)
                    rows.append(("blackbox_exporter tcp+tls", conc, rate, cpu))
            else:
                print("prometheus-blackbox-exporter not installed: dxagent figures only")
            print(f"{args.probes} probes per row, target 127.0.0.1:{port} (leaf + intermediate, EC P-256)")
            print(f"{'tool':28} {'in flight':>9} {'probes/s':>10} {'CPU ms/probe':>13}")
            for tool, conc, rate, cpu in rows:
                print(f"{tool:28} {conc:>9} {rate:>10.0f} {cpu:>13.2f}")
        finally:
            for proc in (bb, target):
                if proc is not None:
                    proc.terminate()
                    proc.wait(5)


if __name__ == "__main__":
    main()

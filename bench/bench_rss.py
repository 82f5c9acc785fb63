"""Where the accelerated hour's RSS goes: the 200-check mix of bench_daemon.py, or a subset of its
kinds, under `dxagent run`, with or without /metrics scrapes over HTTP, RSS every 30 s.

    sudo .venv/bin/python bench/bench_rss.py [--kinds tcp,https,dns,ping,snmp,certfile] [--scrape 10]
        [--minutes 5] [--warmup 90] [--speed 12] [--trace FRAMES] [--out DIR]

At the end of the warm-up and of the window the daemon (run through this file's `--child` mode)
writes, on SIGUSR1: gc object count, `sys._debugmallocstats()` (pymalloc arenas) and, with
`--trace`, a tracemalloc snapshot; the two snapshots are compared (top lines by size). Then
SIGUSR2 runs gc + malloc_trim to show how much of the growth the C heap gives back. All traffic
stays on loopback and in the namespace bench_daemon.py gives snmpd (run as root).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def child(argv: list[str]) -> int:
    """`dxagent run` in this process, with SIGUSR1 (dump) and SIGUSR2 (gc + malloc_trim) handlers."""
    out = os.environ["RSS_OUT"]
    frames = int(os.environ.get("RSS_TRACE") or 0)
    if frames:
        tracemalloc.start(frames)
    dumps = [0]

    def dump(*_: Any) -> None:
        dumps[0] += 1
        gc.collect()
        if tracemalloc.is_tracing():
            tracemalloc.take_snapshot().dump(f"{out}/snap.{dumps[0]}")
        saved, fd = os.dup(2), os.open(f"{out}/pymalloc.{dumps[0]}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(fd)
            os.close(saved)
        Path(f"{out}/gc.{dumps[0]}").write_text(f"{len(gc.get_objects())}\n")

    def trim(*_: Any) -> None:
        gc.collect()
        ctypes.CDLL(None).malloc_trim(0)

    signal.signal(signal.SIGUSR1, dump)
    signal.signal(signal.SIGUSR2, trim)
    from dxagent.cli import main as dxagent_main

    sys.argv = ["dxagent", *argv]
    return dxagent_main()


def pymalloc(path: Path) -> tuple[int, int]:
    """(arenas, bytes in allocated blocks) from a `_debugmallocstats` dump."""
    arenas = used = 0
    for line in path.read_text().splitlines():
        if "arenas allocated current" in line:
            arenas = int(line.split("=")[1].replace(",", ""))
        elif "bytes in allocated blocks" in line:
            used = int(line.split("=")[1].replace(",", ""))
    return arenas, used


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kinds", default="tcp,https,dns,ping,snmp,certfile", help="check id prefixes to keep")
    ap.add_argument("--scrape", type=float, default=0, help="seconds between /metrics scrapes (0: none)")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=90.0)
    ap.add_argument("--speed", type=float, default=12.0, help="divides every interval (12: an hour in 5 min)")
    ap.add_argument("--trace", type=int, default=0, help="tracemalloc frames (0: off; it slows the daemon ~2x)")
    ap.add_argument("--out", type=Path, default=None, help="folder for the dumps (default: a temporary one)")
    a = ap.parse_args()
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    import bench_daemon as bd

    from tests.promtools import free_port, wait_http

    kinds = a.kinds.split(",")
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        out = a.out or tmp / "out"
        out.mkdir(parents=True, exist_ok=True)
        with bd.lab_targets(tmp) as lab:
            lines = bd.two_hundred(tmp / "state", lab, a.speed).splitlines()
            keep = lines[:3] + [line for line in lines[3:] if line.split("id: ")[1].split("-")[0] in kinds]
            (tmp / "c.yml").write_text("\n".join(keep) + "\n")
            port = free_port()
            env = dict(os.environ, RSS_OUT=str(out), RSS_TRACE=str(a.trace))
            with open(out / "daemon.log", "w") as log:
                proc = subprocess.Popen([sys.executable, __file__, "--child", "run", "-c", str(tmp / "c.yml"),
                                         "--listen", f"127.0.0.1:{port}", "--log-level", "warning"],
                                        env=env, stdout=log, stderr=log)
            try:
                wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60, ok=(200, 503))
                scrapes, stop = [0], threading.Event()

                def scraper() -> None:
                    while not stop.wait(a.scrape):
                        bd.get(f"http://127.0.0.1:{port}/metrics")
                        scrapes[0] += 1

                if a.scrape:
                    threading.Thread(target=scraper, daemon=True).start()
                t0 = time.monotonic()
                print(f"{len(keep) - 3} checks ({a.kinds}), intervals / {a.speed:g}, scrape every {a.scrape:g} s")
                time.sleep(a.warmup)
                os.kill(proc.pid, signal.SIGUSR1)
                r0 = bd.rss_mib(proc.pid)
                print(f"t={time.monotonic() - t0:4.0f}s rss {r0:6.1f} MiB", flush=True)
                end = time.monotonic() + a.minutes * 60
                while time.monotonic() < end:
                    time.sleep(min(30.0, max(0.0, end - time.monotonic())))
                    r = bd.rss_mib(proc.pid)
                    print(f"t={time.monotonic() - t0:4.0f}s rss {r:6.1f} MiB ({r - r0:+.1f}) scrapes {scrapes[0]}",
                          flush=True)
                os.kill(proc.pid, signal.SIGUSR1)
                time.sleep(5)
                r1 = bd.rss_mib(proc.pid)
                os.kill(proc.pid, signal.SIGUSR2)
                time.sleep(3)
                stop.set()
                print(f"end rss {r1:.1f} MiB ({r1 - r0:+.1f}); after gc + malloc_trim {bd.rss_mib(proc.pid):.1f} MiB")
            finally:
                proc.terminate()
                proc.wait(20)
            (a0, u0), (a1, u1) = pymalloc(out / "pymalloc.1"), pymalloc(out / "pymalloc.2")
            g0, g1 = (int((out / f"gc.{i}").read_text()) for i in (1, 2))
            pym = (f"pymalloc arenas {a0} -> {a1}, allocated blocks {u0 / 2**20:.2f} -> {u1 / 2**20:.2f} MiB; "
                   if a0 else "")  # _debugmallocstats prints nothing while tracemalloc wraps the allocator
            print(f"{pym}gc objects {g0} -> {g1}")
            if a.trace:
                s0, s1 = (tracemalloc.Snapshot.load(str(out / f"snap.{i}")) for i in (1, 2))
                total = [sum(t.size for t in s.traces) / 2**20 for s in (s0, s1)]
                print(f"traced Python memory {total[0]:.2f} -> {total[1]:.2f} MiB; top lines:")
                for stat in s1.compare_to(s0, "lineno")[:15]:
                    print(f"  {stat.size_diff / 1024:+8.1f} KiB {stat.count_diff:+7d}  {stat.traceback}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(child(sys.argv[2:]))
    main()

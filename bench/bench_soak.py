"""Soak: `dxagent run` with many 1 s checks for ≥ 10,000 runs, printing its resources every minute.

Why: a site agent runs for months; memory, file descriptors, threads or the history must not
creep, and the schedule must keep its rhythm over thousands of runs (issue 16). Every target is
on loopback: tcp checks against a local listener, http checks against the agent's own /healthz,
one `system` check; /metrics is scraped every 15 s as Prometheus would.

    .venv/bin/python bench/bench_soak.py [--checks 12] [--runs 10000]

Each minute: elapsed time, runs stored in the history, RSS, open fds, threads, history size
(database + WAL); at the end the drift of RSS and fds from the first minute, the WAL's largest
size, the mean spacing of each check's runs against its interval, and skipped runs.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.promtools import Proc, free_port, wait_http  # noqa: E402
from tests.tcpserver import greet, serve_tcp  # noqa: E402


def proc_status(pid: int) -> dict[str, int]:
    """RSS (KiB) and threads from /proc/PID/status, open fds from /proc/PID/fd."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "Threads"):
            out[key] = int(value.split()[0])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def history_runs(db: Path) -> int:
    """Results stored so far (a read-only reader beside the daemon, as `dxagent report` is)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return 0
    try:
        return int(conn.execute("SELECT count(*) FROM raw").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


def sizes(state: Path) -> tuple[int, int]:
    def size(p: Path) -> int:
        return p.stat().st_size if p.exists() else 0
    return size(state / "history.sqlite"), size(state / "history.sqlite-wal")


def config(state: Path, checks: int, tcp: int, port: int) -> str:
    lines = [f"site: {{id: soak, name: soak}}\nstate_dir: {state}\nsnapshot: {{interval: 10s}}\nchecks:",
             "  - {id: system, kind: system, interval: 1s, timeout: 1s}"]
    for i in range(checks - 1):
        if i % 3 == 2:
            lines.append(f"  - {{id: http-{i}, kind: http, url: 'http://127.0.0.1:{port}/healthz', "
                         "expect: {status: [200, 503]}, interval: 1s, timeout: 1s}")
        else:
            lines.append(f"  - {{id: tcp-{i}, kind: tcp, host: 127.0.0.1, port: {tcp}, interval: 1s, timeout: 1s}}")
    return "\n".join(lines) + "\n"


def spacing(db: Path) -> dict[str, float]:
    """Mean spacing of each check's runs (its first run excluded: it comes early after start)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = {}
        for cid, sid in conn.execute("SELECT check_id, id FROM series"):
            ts = [r[0] for r in conn.execute("SELECT ts FROM raw WHERE series = ? ORDER BY ts", (sid,))][1:]
            if len(ts) > 2:
                out[cid] = (ts[-1] - ts[0]) / 1000 / (len(ts) - 1)
        return out
    finally:
        conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checks", type=int, default=12, help="checks at 1 s (default 12)")
    ap.add_argument("--runs", type=int, default=10_000, help="stop after this many stored runs (default 10,000)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serve_tcp(greet(b"220 soak\r\n")) as tcp:
        state = Path(tmp) / "state"
        port = free_port()
        path = Path(tmp) / "soak.yml"
        path.write_text(config(state, args.checks, tcp, port))
        proc = Proc([sys.executable, "-m", "dxagent", "run", "-c", str(path), "--listen", f"127.0.0.1:{port}",
                     "--log-level", "warning"])
        stop = threading.Event()

        def scraper() -> None:
            while not stop.wait(15):
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()

        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", timeout=20, ok=(200, 503))
            threading.Thread(target=scraper, daemon=True).start()
            t0, wall0 = time.monotonic(), time.time()
            pid = proc.proc.pid
            rows: list[tuple[float, int, dict[str, int], tuple[int, int]]] = []
            wal_max = 0
            print(f"{args.checks} checks at 1 s until {args.runs:,} runs; pid {pid}")
            print(f"{'min':>4} {'runs':>7} {'RSS MiB':>8} {'fds':>4} {'thr':>4} {'db KiB':>7} {'WAL KiB':>8}", flush=True)
            for minute in itertools.count(1):
                deadline = t0 + 60 * minute
                while time.monotonic() < deadline:
                    time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
                    wal_max = max(wal_max, sizes(state)[1])
                    if proc.proc.poll() is not None:
                        raise SystemExit(f"dxagent exited with {proc.proc.returncode}")
                runs, st, sz = history_runs(state / "history.sqlite"), proc_status(pid), sizes(state)
                rows.append((time.monotonic() - t0, runs, st, sz))
                print(f"{minute:>4} {runs:>7,} {st['VmRSS'] / 1024:>8.1f} {st['fds']:>4} {st['Threads']:>4} "
                      f"{sz[0] // 1024:>7,} {sz[1] // 1024:>8,}", flush=True)
                if runs >= args.runs:
                    break
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        finally:
            stop.set()
            proc.stop()
        wall1 = time.time()
        skipped = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                      if line.startswith("dxagent_check_skipped_runs_total{"))
        gaps = spacing(state / "history.sqlite")
        from dxagent.history import History

        with History.open(state / "history.sqlite") as hist:  # the daemon has exited: safe to open
            since = wall0 + 5  # every check has had its first run by then
            cover = [1 - s["nodata"] / (wall1 - since) for s in hist.status_seconds(since, wall1).values()]
        first, last = rows[0], rows[-1]
        print(f"\n{last[1]:,} runs in {last[0] / 60:.1f} min ({last[1] / last[0]:.2f} runs/s; "
              f"{args.checks / 1.0:.0f} expected)")
        print(f"RSS {first[2]['VmRSS'] / 1024:.1f} -> {last[2]['VmRSS'] / 1024:.1f} MiB "
              f"(max {max(r[2]['VmRSS'] for r in rows) / 1024:.1f}); fds {first[2]['fds']} -> {last[2]['fds']} "
              f"(max {max(r[2]['fds'] for r in rows)}); threads {first[2]['Threads']} -> {last[2]['Threads']}")
        print(f"history {first[3][0] // 1024:,} -> {last[3][0] // 1024:,} KiB "
              f"({(last[3][0] - first[3][0]) / max(1, last[1] - first[1]):.0f} B/run); WAL max {wal_max // 1024:,} KiB")
        print(f"mean spacing per check: {min(gaps.values()):.4f}-{max(gaps.values()):.4f} s "
              f"(median {statistics.median(gaps.values()):.4f}); skipped runs {skipped:.0f}")
        print(f"history coverage per check (run time credited with a status): {min(cover):.2%}-{max(cover):.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

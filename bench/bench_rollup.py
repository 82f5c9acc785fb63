"""Benchmark: province roll-up of 3,321 sites from files and from Prometheus (wall time, peak RSS, one core).

Goal: under 10 s and 300 MB on one core. Anchors in the same run: reading and parsing the same files
with nothing else (the floor for the file path) and the raw Prometheus API queries alone (the floor
for the Prometheus path). Each measured command runs in its own process pinned to CPU 0 (taskset),
so peak RSS is that process's own.

Run: .venv/bin/python bench/bench_rollup.py [--sites 3321] [--format html]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.reports import fleet  # noqa: E402
from tests.reports.test_rollup import backfilled_prometheus  # noqa: E402

PARSE_ONLY = """
import json, sys, pathlib
n = 0
for p in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    with p.open("rb") as fh:
        json.load(fh)
    n += 1
print(n)
"""

RAW_QUERIES = """
import sys, httpx
url = sys.argv[1]
with httpx.Client(base_url=url, timeout=60) as c:
    for q in ("max by (site_id, site_name, province, level) (last_over_time(dxagent_site_info[7d]))",
              "dxagent_readiness_target_met * on(instance) group_left(site_id) dxagent_site_info",
              "dxagent_readiness_target_unknown * on(instance) group_left(site_id) dxagent_site_info",
              "dxagent_readiness_score * on(instance) group_left(site_id) dxagent_site_info"):
        c.post("/api/v1/query", data={"query": q, "time": sys.argv[2]}).raise_for_status()
"""


def run(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command pinned to CPU 0."""
    if shutil.which("taskset"):
        argv = ["taskset", "-c", "0", *argv]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(argv)}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sites", type=int, default=fleet.N_SITES)
    ap.add_argument("--format", default="html", choices=["html", "json", "csv", "xlsx", "md"])
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-rollup-") as tmp:
        folder = Path(tmp)
        files = folder / "files"
        fleet.write_files(files, args.sites)
        size = sum(p.stat().st_size for p in files.iterdir()) / 2**20
        print(f"{args.sites} sites, {len(list(files.iterdir()))} report files, {size:.0f} MiB; output {args.format}")
        rows = []
        out = folder / f"out.{args.format}"
        rows.append(("anchor: parse the files only (json.load)", *run([py, "-c", PARSE_ONLY, str(files)])))
        rows.append(("dxagent report rollup DIR", *run([py, "-m", "dxagent", "report", "rollup", str(files),
                                                        "--format", args.format, "-o", str(out)])))
        ts = time.time() - 3 * 3600
        prom_dir = folder / "prom"
        prom_dir.mkdir()
        with backfilled_prometheus(prom_dir, ts) as url:
            run([py, "-c", RAW_QUERIES, url, f"{ts + 60:.3f}"])  # warm Prometheus' caches once
            rows.append(("anchor: the 4 PromQL queries only (httpx)", *run([py, "-c", RAW_QUERIES, url,
                                                                           f"{ts + 60:.3f}"])))
            rows.append(("dxagent report rollup --prometheus", *run([py, "-m", "dxagent", "report", "rollup",
                                                                     "--prometheus", url, "--at", f"{ts + 60:.3f}",
                                                                     "--format", args.format, "-o", str(out)])))
    print(f"{'command (one core)':<46} {'wall s':>8} {'peak RSS MiB':>13}")
    for name, wall, rss in rows:
        print(f"{name:<46} {wall:>8.2f} {rss:>13.1f}")
    print("goal: < 10 s and < 300 MB for each dxagent line")


if __name__ == "__main__":
    main()

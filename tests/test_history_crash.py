"""SIGKILL a process writing the history at random moments: the file must stay whole and usable.

The child writes bursts of results (one record() each, all rows of a burst with the same burst
number), heartbeats, devices and a compaction every 20 bursts, with simulated time running at a
minute per burst so roll-ups and deletions happen too. After each kill the parent reopens the
file: it must pass integrity_check, not be moved aside, hold only whole bursts, and take new
writes from the next child.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from dxagent.history import History

BURST = 25
BASE = 1_700_000_000.0

CHILD = """
import random, sys
from pathlib import Path
from dxagent.history import History
from dxagent.model import Result, Sample, Status, t

path, burst, base, n = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
h = History.open(path, raw_retention=3600, retention=86400)
intervals = {f"c{i}": 60.0 for i in range(5)}
print("ready", flush=True)
while True:
    ts = base + burst * 60
    h.record([Result(f"c{i % 5}", "fake", f"t{i}", Status(burst % 3 if i == 0 else 0), t("x", "y"),
                     samples=(Sample.of("burst", burst), Sample.of("i", i), Sample.of("lat_seconds", random.random())),
                     started=ts, duration=0.01) for i in range(n)], intervals)
    h.heartbeat(ts + 30)
    h.touch_devices([(f"host:pc-{burst % 10}", {"burst": burst})], ts)
    if burst % 20 == 0:
        h.compact(ts)
    burst += 1
"""


def _bursts(path: Path) -> Counter[int]:
    h = History.open(path, raw_retention=3600, retention=86400)
    try:
        rows = h.results(0, 2e9)
        assert all(set(r.samples) == {"burst", "i", "lat_seconds"} for r in rows)
        h.status_seconds(BASE, BASE + 10 * 86400)
        h.rollups(0, 2e9)
        h.transitions(0, 2e9)
        h.devices()
    finally:
        h.close()
    return Counter(int(r.samples["burst"]) for r in rows)


def test_sigkill_at_random_moments_leaves_a_whole_file(tmp_path: Path) -> None:
    seed = int(os.environ.get("DXAGENT_CRASH_SEED", time.time_ns() % 10**6))
    rng = random.Random(seed)
    path = tmp_path / "history.db"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    next_burst, last_max = 0, -1
    for round_no in range(6):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(next_burst), str(BASE), str(BURST)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line == b"ready\n", (line, child.stderr.read() if child.poll() is not None else b"")  # type: ignore[union-attr]
            time.sleep(rng.uniform(0.1, 0.8))
            assert child.poll() is None, child.stderr.read()  # type: ignore[union-attr]
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        ctx = f"seed {seed}, round {round_no}"

        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", ctx
        conn.close()
        counts = _bursts(path)
        assert not list(tmp_path.glob("history.db.corrupt-*")), ctx  # a crash is not corruption
        assert counts, ctx
        partial = {b: n for b, n in counts.items() if n != BURST}
        assert not partial, (ctx, partial)  # every burst is all there or not at all
        assert max(counts) > last_max, ctx  # the restarted writer added rows
        last_max = max(counts)
        next_burst = last_max + 1

"""`dxagent run` with its state folder on a small tmpfs that fills up, then gets space back (issue 16).

While the folder is full: /healthz answers 503 with the reason and `dxagent_state_writable` drops to
0 within 10 s, the log gets at most 3 ERROR lines in a minute, and results wait in memory. When
space returns every result of the full period reaches the history, and the file is intact.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dxagent.history import History
from dxagent.history.file import WAL_LIMIT_BYTES
from tests.promtools import dxagent_run, http_get
from tests.test_daemon import tcp_check, wait, write_config

pytestmark = [pytest.mark.slow, pytest.mark.root]


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs for the state folder (root only: mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "state"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0755", "tmpfs", str(mnt)],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)


def fill(folder: Path) -> Path:
    """Write a file until the filesystem is full (ENOSPC); returns it."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as fh:
        chunk = b"\0" * 65536
        with contextlib.suppress(OSError):
            while True:
                fh.write(chunk)
        with contextlib.suppress(OSError):
            for _ in range(64):  # the last partial blocks
                fh.write(b"\0" * 1024)
    probe = folder / "probe"
    with pytest.raises(OSError) as info:
        probe.write_bytes(b"x" * 8192)
    assert info.value.errno == errno.ENOSPC
    return filler


def error_lines(log: list[str]) -> list[str]:
    """ERROR records of a `--log-format json` log (a traceback line would count too: it is not JSON)."""
    out = []
    for line in log:
        try:
            level = json.loads(line).get("level")
        except ValueError:
            level = "error"
        if level in ("error", "critical"):
            out.append(line)
    return out


def health(url: str) -> tuple[int, dict]:
    status, _, body = http_get(f"{url}/healthz")
    return status, json.loads(body)


def metric(url: str, line_start: str) -> float | None:
    text = http_get(f"{url}/metrics")[2].decode()
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_full_state_folder_is_reported_buffered_and_written_back(small_tmpfs: Path, tmp_path: Path,
                                                                  tcp_listener: tuple[str, int]) -> None:
    checks = "".join(tcp_check(f"c{i}", tcp_listener[1]) for i in range(4))
    cfg = write_config(tmp_path / "c.yml", small_tmpfs, checks, extra="snapshot: {interval: 1s}")
    writable = 'dxagent_state_writable{file="history",zone="north"}'
    with dxagent_run(cfg) as agent:
        wait(lambda: health(agent.url)[0] == 200, 20)
        time.sleep(3)
        errors_before = len(error_lines(agent.log()))
        t_full = time.time()
        filler = fill(small_tmpfs)
        # reported within 10 s, with the reason
        wait(lambda: health(agent.url)[0] == 503 and metric(agent.url, writable) == 0, 10, 0.25)
        assert time.time() - t_full < 10
        status, doc = health(agent.url)
        assert status == 503
        assert any("history" in r and "space" in r for r in doc["reasons"]), doc
        assert doc["state"]["history"]["writable"] is False and doc["state"]["history"]["buffered"] > 0
        time.sleep(max(0.0, t_full + 60 - time.time()))
        assert metric(agent.url, "dxagent_history_buffered_results") > 200
        assert metric(agent.url, 'dxagent_state_write_failures_total{file="history"') >= 1
        errors = error_lines(agent.log())[errors_before:]
        assert 1 <= len(errors) <= 3, errors  # entering the state (history, snapshot), no flood
        t_free = time.time()
        filler.unlink()
        wait(lambda: health(agent.url)[0] == 200 and metric(agent.url, writable) == 1, 15, 0.25)
        # only the results of the last second or two wait for their batch now
        assert metric(agent.url, "dxagent_history_buffered_results") <= 8
        assert metric(agent.url, "dxagent_history_dropped_results_total") == 0
        assert any("writable again" in line for line in agent.log())
        time.sleep(2)
        assert agent.stop() == 0
    wal = small_tmpfs / "history.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size <= WAL_LIMIT_BYTES + 256 * 1024
    with History.open(small_tmpfs / "history.sqlite") as hist:
        rows = hist.results(t_full - 5, t_free + 5)
    for i in range(4):
        starts = [r.ts for r in rows if r.check_id == f"c{i}"]
        inside = [t for t in starts if t_full <= t < t_free]
        assert len(inside) >= (t_free - t_full) - 2, (i, len(inside), t_free - t_full)
        assert max(b - a for a, b in itertools.pairwise(starts)) < 1.6, i  # no hole anywhere
    conn = sqlite3.connect(small_tmpfs / "history.sqlite")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()

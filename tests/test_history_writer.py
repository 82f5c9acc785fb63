"""The history writer: a bounded buffer while the state folder cannot be written, quiet logging,
and a history that starts late when its folder could not be opened at start (issue 16)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dxagent.history import History
from dxagent.history.writer import FaultState, HistoryWriter, folder_problem
from dxagent.model import Result, Sample, Status, t


async def run_blocking(fn, *args):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(fn, *args)


def results(n: int, start: float, check: str = "c") -> list[Result]:
    return [Result(check, "fake", "t", Status.OK, t("ok", "ổn"), samples=(Sample.of("v", i),), started=start + i,
                   duration=0.01) for i in range(n)]


async def test_buffer_is_bounded_drops_the_oldest_and_says_so_once(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the state folder should be")
    path = blocker / "history.sqlite"
    writer = HistoryWriter(path, run_blocking, opener=lambda: History.open(path), max_results=100)
    caplog.set_level(logging.INFO, "dxagent.history")
    for k in range(5):
        writer.add(results(50, 1_700_000_000 + 50 * k), {"c": 1.0})
        await writer.flush()
    assert writer.buffered == 100 and writer.dropped == 150
    assert not writer.fault.ok and "state" in (writer.fault.reason or "")
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING"]  # entering, buffer full: no flood
    samples = writer.samples()
    assert samples["dxagent_history_dropped_results_total"][0].value == 150
    assert samples["dxagent_state_writable"][0].value == 0
    # the folder becomes usable: the history opens late and the kept (newest) results are written
    blocker.unlink()
    writer.retry_now()
    await writer.flush()
    assert writer.fault.ok and writer.buffered == 0 and writer.history is not None
    rows = writer.history.results(0, 2e9)
    assert [r.samples["v"] for r in rows] == [float(i) for i in range(50)] * 2  # the last 100, in order
    assert rows[0].ts == 1_700_000_000 + 150
    assert caplog.records[-1].levelname == "WARNING" and "writable again" in caplog.records[-1].getMessage()
    assert "150 result(s) were dropped" in caplog.records[-1].getMessage()
    writer.history.close()


def test_fault_log_policy_one_line_in_one_out_reminders_spaced(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "dxagent.history")
    fault = FaultState("snapshot", "the snapshot /x", remind=0.2)
    for _ in range(50):
        fault.failed("no space left in the state folder")
    assert [r.levelname for r in caplog.records] == ["ERROR"] and fault.failures == 50
    import time

    time.sleep(0.25)
    fault.failed("no space left in the state folder")
    fault.failed("no space left in the state folder")
    assert len(caplog.records) == 2 and "still cannot write" in caplog.records[1].getMessage()
    fault.recovered()
    fault.recovered()
    assert len(caplog.records) == 3 and "writable again" in caplog.records[2].getMessage() and fault.ok


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.root
async def test_read_only_state_folder_buffers_then_writes_back(tmpfs: Path) -> None:
    path = tmpfs / "history.sqlite"
    history = History.open(path)
    writer = HistoryWriter(path, run_blocking, history=history)
    writer.add(results(10, 1_700_000_000), {"c": 1.0})
    await writer.flush()
    assert writer.fault.ok and writer.buffered == 0
    # a read-only bind mount over the folder (a remount of the tmpfs itself is refused while SQLite
    # holds its files open): paths now resolve to a read-only mount, as after an errors=remount-ro
    subprocess.run(["mount", "--bind", str(tmpfs), str(tmpfs)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(tmpfs)], check=True)
        assert folder_problem(tmpfs) == "the state folder is read-only"
        writer.add(results(10, 1_700_000_010), {"c": 1.0})
        await writer.flush()
        assert not writer.fault.ok and writer.fault.reason == "the state folder is read-only" and writer.buffered == 10
    finally:
        subprocess.run(["umount", str(tmpfs)], check=True)  # the bind mount goes, the folder is writable
    writer.add(results(10, 1_700_000_020), {"c": 1.0})
    await writer.flush()
    assert writer.fault.ok and writer.buffered == 0
    assert len(history.results(0, 2e9)) == 30
    assert history._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    history.close()

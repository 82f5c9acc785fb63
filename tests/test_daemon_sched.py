"""The daemon in-process: overrunning checks never pile up, skipped runs are counted, shutdown is bounded.

This module is also a test-only check kind (`slow`), registered with monkeypatch, that counts
how many of its probes run at the same time.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from dxagent import checks
from dxagent.config import CheckConfig, load_text
from dxagent.daemon import Daemon
from dxagent.model import Result, Sample, Status, t
from dxagent.probe import ProbeContext

METRICS = {"slow_running": "Probes of this check running at once (test kind)."}
EXAMPLE = ""
RUNNING: dict[str, int] = {}
PEAK: dict[str, int] = {}
STARTS: dict[str, int] = {}


class Config(CheckConfig):
    """Sleeps `seconds`, ignoring cancellation when `stubborn`."""

    kind: Literal["slow"] = "slow"
    seconds: float = Field(0.0)
    stubborn: bool = False


async def probe(cfg: Config, ctx: ProbeContext) -> Result:
    RUNNING[cfg.id] = RUNNING.get(cfg.id, 0) + 1
    STARTS[cfg.id] = STARTS.get(cfg.id, 0) + 1
    PEAK[cfg.id] = max(PEAK.get(cfg.id, 0), RUNNING[cfg.id])
    try:
        end = time.monotonic() + cfg.seconds
        while time.monotonic() < end:
            try:
                await asyncio.sleep(0.02)
            except asyncio.CancelledError:
                if not cfg.stubborn:
                    raise
        return ctx.result(Status.OK, t("slept", "đã ngủ"), target="t", samples=[Sample.of("slow_running", 1)])
    finally:
        RUNNING[cfg.id] -= 1


@pytest.fixture(autouse=True)
def slow_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(checks.KINDS, "slow", __name__)
    for d in (RUNNING, PEAK, STARTS):
        d.clear()


def config(tmp_path: Path, body: str) -> str:
    return f"state_dir: {tmp_path}\nsnapshot: {{interval: 1s}}\nserver: {{listen: '127.0.0.1:0'}}\nchecks:\n{body}"


async def test_overrunning_check_never_piles_up(tmp_path: Path) -> None:
    # Each run takes the whole interval (it times out at 1 s); the next run is due while it is still going.
    cfg = load_text(config(tmp_path, "  - {id: hog, kind: slow, seconds: 1.5, interval: 1s, timeout: 1s}\n"
                                     "  - {id: quick, kind: slow, seconds: 0, interval: 1s, timeout: 1s}\n"))
    daemon = Daemon(cfg)
    task = asyncio.create_task(daemon.run())
    await asyncio.sleep(5.5)
    assert PEAK["quick"] == 1 and STARTS["quick"] >= 3  # a slow neighbour does not hold up other checks
    hog = daemon.latest.get("hog")
    assert hog and hog[0].reason is not None and hog[0].reason.value == "timeout"
    text = daemon.exporter.render(daemon.view()).decode()
    assert 'dxagent_check_status{check="hog",kind="slow",target=""} 2' in text
    daemon.stop()
    assert await asyncio.wait_for(task, 15) == 0
    # The scheduler never starts a second run of a check while one is going (max_instances=1).
    assert PEAK["hog"] == 1 and STARTS["hog"] >= 2
    assert (tmp_path / "snapshot.json").exists()


async def test_shutdown_is_bounded_with_a_stubborn_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dxagent import daemon as daemon_mod

    monkeypatch.setattr(daemon_mod, "SHUTDOWN_GRACE", 1.0)
    cfg = load_text(config(tmp_path, "  - {id: stuck, kind: slow, seconds: 6, stubborn: true, interval: 2s,"
                                     " timeout: 2s}\n"))
    daemon = Daemon(cfg)
    task = asyncio.create_task(daemon.run())
    await asyncio.sleep(4.5)
    assert daemon.latest.get("stuck")  # timed out, reported, even though the probe ignores cancellation
    t0 = time.monotonic()
    daemon.stop()
    assert await asyncio.wait_for(task, 10) == 0
    assert time.monotonic() - t0 < 3.5  # grace (1 s) + flush, not the probe's 6 s


async def test_memory_trim_job_is_scheduled_and_runs(tmp_path: Path) -> None:
    """The trim job returns freed heap to the OS (glibc) and must be harmless wherever it runs."""
    cfg = load_text(config(tmp_path, "  - {id: quick, kind: slow, seconds: 0, interval: 1s, timeout: 1s}\n"))
    daemon = Daemon(cfg)
    task = asyncio.create_task(daemon.run())
    await asyncio.sleep(0.5)
    assert daemon.scheduler is not None and daemon.scheduler._aps.get_job("trim") is not None
    await daemon._trim_memory()  # no exception, also where malloc_trim is missing
    daemon.stop()
    assert await asyncio.wait_for(task, 15) == 0


def test_phase_trigger_keeps_a_fixed_grid_stable_across_restarts() -> None:
    from datetime import UTC, datetime, timedelta

    from dxagent.daemon.scheduler import PhaseTrigger, phase_of

    assert phase_of("gw", 60) == phase_of("gw", 60) and 0 <= phase_of("gw", 60) < 60
    assert len({round(phase_of(f"c{i}", 60), 3) for i in range(50)}) > 40  # checks spread over the interval
    trig = PhaseTrigger(5.0, phase_of("gw", 5.0), 3.0, "gw")
    now = datetime(2026, 12, 2, 1, 0, 0, 123456, tzinfo=UTC)
    first = trig.get_next_fire_time(None, now)
    assert now <= first <= now + timedelta(seconds=3)
    times = [trig.get_next_fire_time(first, now)]
    for _ in range(1000):
        # `now` far behind or ahead (a late run) never moves the grid: only the previous scheduled time counts
        times.append(trig.get_next_fire_time(times[-1], times[-1] + timedelta(seconds=4.9)))
    gaps = {round((b - a).total_seconds(), 3) for a, b in itertools.pairwise(times)}
    assert gaps == {5.0}
    assert all(round((t.timestamp() - trig.phase) % 5.0, 3) in (0.0, 5.0) for t in times)
    # after an off-grid run (a "run now" 0.1 s before a grid time) the next run is not 0.1 s later
    off = times[10] - timedelta(seconds=0.1)
    assert trig.get_next_fire_time(off, off) == times[11]
    off = times[10] - timedelta(seconds=3)  # 3 s before a grid time: that grid time comes next
    assert trig.get_next_fire_time(off, off) == times[10]
    # a restart (a new trigger for the same check) lands on the same grid
    again = PhaseTrigger(5.0, phase_of("gw", 5.0), 3.0, "gw")
    later = again.get_next_fire_time(again.get_next_fire_time(None, now + timedelta(hours=7)), now)
    assert round((later.timestamp() - trig.phase) % 5.0, 3) in (0.0, 5.0)


@pytest.mark.slow
async def test_rhythm_over_two_minutes_and_full_history_coverage(tmp_path: Path) -> None:
    """Issue 16: 1 s and 5 s checks keep their nominal rate within 1 %, history covers ≥ 99 % of the run."""
    cfg = load_text(config(tmp_path, "  - {id: fast, kind: slow, seconds: 0, interval: 1s, timeout: 1s}\n"
                                     "  - {id: five, kind: slow, seconds: 0.05, interval: 5s, timeout: 2s}\n"))
    daemon = Daemon(cfg)
    t0 = time.time()
    task = asyncio.create_task(daemon.run())
    await asyncio.sleep(120)
    daemon.stop()
    assert await asyncio.wait_for(task, 15) == 0
    t1 = time.time()
    from dxagent.history import History

    with History.open(tmp_path / "history.sqlite") as hist:
        for check_id, interval in (("fast", 1.0), ("five", 5.0)):
            starts = [r.ts for r in hist.results(t0 - 1, t1 + 1, [check_id])]
            assert len(starts) >= 120 / interval - 1, (check_id, len(starts))
            # the first run comes early (spread within 3 s), then the check runs on its grid
            grid = starts[1:]
            mean = (grid[-1] - grid[0]) / (len(grid) - 1)
            assert abs(mean - interval) <= 0.01 * interval, (check_id, mean)
            assert max(b - a for a, b in itertools.pairwise(grid)) < 1.5 * interval
            since = t0 + 3.5  # every check has its first result by then
            seconds = hist.status_seconds(since, t1, [check_id])[(check_id, "t")]
            coverage = 1 - seconds["nodata"] / (t1 - since)
            assert coverage >= 0.99, (check_id, coverage, seconds)

"""Outages derived from real History files: starts, ends, clipping, gaps, worst status and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from dxagent.history import History
from dxagent.history.outages import Outage, outages
from dxagent.model import Reason, Result, Status, t

T0 = 1_700_002_800.0  # an hour boundary (UTC)


def res(ts: float, status: Status, *, check: str = "gw", target: str = "10.0.0.1",
        reason: Reason | None = None) -> Result:
    if reason is None and status >= Status.CRIT:
        reason = Reason.TIMEOUT
    return Result(check, "ping", target, status, t("x", "x"), reason=reason, started=ts, duration=0.01)


def feed(h: History, start: float, end: float, status_at, *, interval: float = 5.0, step: float | None = None,
         check: str = "gw", target: str = "10.0.0.1", reason_at=None) -> None:
    ts = start
    while ts < end:
        st = status_at(ts)
        h.record([res(ts, st, check=check, target=target, reason=reason_at(ts) if reason_at else None)],
                 {check: interval})
        ts += step or interval


def cut(lo: float, hi: float):
    return lambda ts: Status.CRIT if lo <= ts < hi else Status.OK


@pytest.fixture
def hist(tmp_path: Path):
    h = History.open(tmp_path / "history.db", raw_retention=2 * 86400, retention=30 * 86400, heartbeat_gap=60)
    yield h
    h.close()


def test_one_outage_from_first_failing_to_first_good_result(hist: History) -> None:
    feed(hist, T0, T0 + 300, cut(T0 + 100, T0 + 190))
    got = outages(hist, T0, T0 + 300)
    assert got == [Outage("gw", "10.0.0.1", T0 + 100, T0 + 190, Status.CRIT, "timeout")]
    assert got[0].length(T0 + 1000) == 90
    # the outage's length equals the CRIT seconds the history counts for the same window
    assert hist.status_seconds(T0, T0 + 300)[("gw", "10.0.0.1")]["CRIT"] == 90


def test_no_outage_when_all_ok_or_only_warn(hist: History) -> None:
    feed(hist, T0, T0 + 100, lambda ts: Status.WARN if ts >= T0 + 50 else Status.OK)
    assert outages(hist, T0, T0 + 100) == []
    got = outages(hist, T0, T0 + 100, min_status=Status.WARN)
    assert [(o.start, o.end, o.worst) for o in got] == [(T0 + 50, None, Status.WARN)]


def test_ongoing_outage_has_no_end_and_a_running_length(hist: History) -> None:
    feed(hist, T0, T0 + 100, cut(T0 + 60, T0 + 1000))
    (o,) = outages(hist, T0, T0 + 100)
    assert (o.start, o.end) == (T0 + 60, None)
    assert o.length(T0 + 100) == 40


def test_window_clips_start_and_reads_as_of_until(hist: History) -> None:
    feed(hist, T0, T0 + 300, cut(T0 + 100, T0 + 190))
    (o,) = outages(hist, T0 + 150, T0 + 300)
    assert (o.start, o.end) == (T0 + 150, T0 + 190)
    (o,) = outages(hist, T0, T0 + 150)  # the end lies after `until`: ongoing as of then
    assert (o.start, o.end, o.length(T0 + 150)) == (T0 + 100, None, 50)
    assert outages(hist, T0 + 190, T0 + 300) == []
    assert outages(hist, T0, T0 + 100) == []


def test_late_runs_do_not_split_or_shorten(hist: History) -> None:
    """Runs 5.3 s apart for a 5 s interval (the old scheduler's drift): no gaps, exact seconds."""
    feed(hist, T0, T0 + 330, cut(T0 + 106, T0 + 196.1), step=5.3)
    (o,) = outages(hist, T0, T0 + 318)
    assert o.start == pytest.approx(T0 + 106)
    assert o.end == pytest.approx(T0 + 196.1)
    secs = hist.status_seconds(T0, T0 + 318)[("gw", "10.0.0.1")]  # the run after the window counts too
    assert secs["CRIT"] == pytest.approx(o.length(0))
    assert secs["nodata"] == pytest.approx(0, abs=0.01)


def test_agent_stopped_during_outage_ends_it_with_the_data(hist: History) -> None:
    """Failing when the agent stopped, failing again after restart: two outages, no gap counted as down."""
    feed(hist, T0, T0 + 100, cut(T0 + 50, T0 + 10_000))
    feed(hist, T0 + 400, T0 + 500, cut(T0 + 50, T0 + 450))
    got = outages(hist, T0, T0 + 500)
    assert [(o.start, o.end) for o in got] == [(T0 + 50, pytest.approx(T0 + 95.01)), (T0 + 400, T0 + 450)]
    assert sum(o.length(0) for o in got) == pytest.approx(hist.status_seconds(T0, T0 + 500)[("gw", "10.0.0.1")]["CRIT"])


def test_stopped_agent_outage_is_over_when_asked_later(hist: History) -> None:
    feed(hist, T0, T0 + 100, cut(T0 + 50, T0 + 10_000))
    (o,) = outages(hist, T0, T0 + 97)  # the last result (T0 + 95) still believed: ongoing
    assert o.end is None
    (o,) = outages(hist, T0, T0 + 3600)
    assert o.end == pytest.approx(T0 + 95.01)  # alive until the end of the last run


def test_worst_status_and_its_most_frequent_reason(hist: History) -> None:
    def status(ts: float) -> Status:
        return Status.UNKNOWN if T0 + 120 <= ts < T0 + 140 else cut(T0 + 100, T0 + 190)(ts)

    def reason(ts: float) -> Reason | None:
        if T0 + 120 <= ts < T0 + 125:
            return Reason.INTERNAL
        return Reason.CONNECT if ts >= T0 + 125 else Reason.TIMEOUT

    feed(hist, T0, T0 + 300, status, reason_at=reason)
    (o,) = outages(hist, T0, T0 + 300)
    assert (o.start, o.end, o.worst, o.reason) == (T0 + 100, T0 + 190, Status.UNKNOWN, "connect")
    (o,) = outages(hist, T0, T0 + 300, min_status=Status.UNKNOWN)
    assert (o.start, o.end) == (T0 + 120, T0 + 140)


def test_selection_targets_and_ordering(hist: History) -> None:
    feed(hist, T0, T0 + 300, cut(T0 + 100, T0 + 190), check="gw")
    feed(hist, T0, T0 + 300, lambda ts: max(cut(T0 + 20, T0 + 40)(ts), cut(T0 + 200, T0 + 220)(ts)),
         check="dc", target="10.0.0.9:443")
    got = outages(hist, T0, T0 + 300)
    assert [(o.check_id, o.target, o.start) for o in got] == [
        ("dc", "10.0.0.9:443", T0 + 20), ("gw", "10.0.0.1", T0 + 100), ("dc", "10.0.0.9:443", T0 + 200)]
    assert [o.check_id for o in outages(hist, T0, T0 + 300, ["gw"])] == ["gw"]
    assert outages(hist, T0, T0 + 300, ["nope"]) == []
    assert outages(hist, T0 + 10, T0) == []


def test_outage_survives_restart_without_new_transition(tmp_path: Path) -> None:
    """The first result after a restart continues the outage (no transition), within a late run."""
    path = tmp_path / "h.db"
    with History.open(path, heartbeat_gap=60) as h:
        feed(h, T0, T0 + 100, cut(T0 + 50, T0 + 10_000))
    with History.open(path, heartbeat_gap=60) as h:
        feed(h, T0 + 100, T0 + 200, cut(T0 + 50, T0 + 150))
        got = outages(h, T0, T0 + 200)
    assert [(o.start, o.end) for o in got] == [(T0 + 50, T0 + 150)]


def test_rolled_up_hours_use_transitions_and_liveness(tmp_path: Path) -> None:
    """After raw results are rolled up, the outage keeps its start, end and worst status."""
    h = History.open(tmp_path / "h.db", raw_retention=3600, retention=30 * 86400, heartbeat_gap=600)
    try:
        feed(h, T0, T0 + 4 * 3600, cut(T0 + 1800, T0 + 2 * 3600 + 600), interval=60)
        before = outages(h, T0, T0 + 4 * 3600)
        h.compact(now=T0 + 4 * 3600)
        assert h.results(T0, T0 + 3600) == []  # really rolled up
        after = outages(h, T0, T0 + 4 * 3600)
    finally:
        h.close()
    assert [(o.start, o.end, o.worst) for o in before] == [(T0 + 1800, T0 + 7800, Status.CRIT)]
    assert [(o.start, o.end, o.worst) for o in after] == [(T0 + 1800, T0 + 7800, Status.CRIT)]
    assert before[0].reason == "timeout"


def test_late_runs_count_the_same_raw_and_rolled_up(tmp_path: Path) -> None:
    """Runs 63 s apart for a 60 s interval across hour and day ends: no 'no data', before or after roll-up."""
    h = History.open(tmp_path / "h.db", raw_retention=3600, retention=30 * 86400, heartbeat_gap=600)
    try:
        feed(h, T0, T0 + 5 * 3600, cut(T0 + 3000, T0 + 4000), interval=60, step=63)
        window = (T0, T0 + 4 * 3600)  # rolled-up hours are exact on hour boundaries
        raw = h.status_seconds(*window)[("gw", "10.0.0.1")]
        h.compact(now=T0 + 5 * 3600)
        assert h.results(T0, T0 + 3 * 3600) == []
        rolled = h.status_seconds(*window)[("gw", "10.0.0.1")]
    finally:
        h.close()
    assert raw["nodata"] == pytest.approx(0, abs=1e-6)
    assert rolled == pytest.approx(raw, abs=1e-6)
    assert raw["CRIT"] == pytest.approx(1008)  # first failing run 3024, first good one 4032


def test_raw_rows_gone_falls_back_to_transitions_and_liveness(hist: History) -> None:
    """Raw rows dropped by the size cap: the transitions still give the outage, liveness bounds it."""
    feed(hist, T0, T0 + 300, cut(T0 + 100, T0 + 190))
    hist._conn.execute("DELETE FROM raw")
    (o,) = outages(hist, T0, T0 + 300)
    assert (o.start, o.end, o.worst, o.reason) == (T0 + 100, T0 + 190, Status.CRIT, None)

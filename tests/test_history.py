"""The history store on real SQLite files: round trips, golden status seconds, roll-ups, caps, recovery."""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from pathlib import Path

import pytest

from dxagent.config import ConfigError, load_text
from dxagent.history import History, HistoryError
from dxagent.history.calc import merge_intervals, stats_entry, status_ms
from dxagent.history.schema import SCHEMA_VERSION, number
from dxagent.model import Reason, Result, Sample, Status, t

H = 3600.0
T0 = 1_700_002_800.0  # an hour boundary (UTC)
assert T0 % H == 0


def res(ts: float, status: Status = Status.OK, *, check: str = "gw", target: str = "10.0.0.1",
        kind: str = "ping", rtt: float = 0.012, duration: float = 0.01) -> Result:
    return Result(check, kind, target, status, t("rtt {r}", "rtt {r}", r=rtt),
                  reason=None if status == Status.OK else Reason.DOWN,
                  samples=(Sample.of("ping_rtt_seconds", rtt), Sample.of("ping_loss_ratio", 0),
                           Sample.of("if_up", 1, ifname="eth0", alias='a "b"')),
                  started=ts, duration=duration)


@pytest.fixture
def hist(tmp_path: Path):
    h = History.open(tmp_path / "history.db", raw_retention=2 * 86400, retention=30 * 86400)
    yield h
    h.close()


def feed(h: History, start: float, end: float, status_at, step: float = 60.0, check: str = "gw",
         interval: float = 60.0) -> None:
    """One result per step (status from status_at(ts)), heartbeats as the daemon does."""
    ts = start
    while ts < end:
        h.record([res(ts, status_at(ts), check=check)], {check: interval})
        ts += step


# --- storage ------------------------------------------------------------------------------

def test_file_is_wal_normal_and_versioned(hist: History) -> None:
    conn = sqlite3.connect(hist.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    assert hist._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    conn.close()


def test_record_results_round_trip(hist: History) -> None:
    r = Result("portal", "http", "https://dichvucong.gov.vn/", Status.CRIT, t("x", "y"), reason=Reason.TIMEOUT,
               samples=(Sample.of("http_total_seconds", 0.123456789), Sample.of("http_size_bytes", 123456789012),
                        Sample.of("tls_not_after_timestamp_seconds", 1767225600.25),
                        Sample.of("ratio", 1.5e-9), Sample.of("nan", math.nan), Sample.of("inf", math.inf),
                        Sample.of("up", 1, b="2", a="1")),
               started=T0 + 1.5, duration=2.25)
    hist.record([r], {"portal": 300})
    (row,) = hist.results(T0, T0 + 10)
    assert (row.ts, row.check_id, row.kind, row.target) == (T0 + 1.5, "portal", "http", "https://dichvucong.gov.vn/")
    assert (row.status, row.reason, row.duration, row.interval) == (Status.CRIT, "timeout", 2.25, 300.0)
    s = row.samples
    assert s["http_total_seconds"] == pytest.approx(0.123457, abs=1e-12)  # 6 significant digits below 1
    assert s["http_size_bytes"] == 123456789012  # integers exact
    assert s["tls_not_after_timestamp_seconds"] == 1767225600.25  # 6 decimals from 1 up: times stay exact
    assert s["ratio"] == pytest.approx(1.5e-9)
    assert math.isnan(s["nan"]) and s["inf"] == math.inf
    assert s['up{a="1",b="2"}'] == 1.0
    with pytest.raises(TypeError):
        s["x"] = 1  # type: ignore[index]


def test_number_encoding_is_short_and_valid_json() -> None:
    assert [number(v) for v in (0.0, 3.0, -2.0, 0.0123456789, 123.4567891, math.nan, -math.inf)] == [
        "0", "3", "-2", "0.0123457", "123.456789", "null", "-1e999"]


def test_record_needs_interval_and_writes_nothing_without(hist: History) -> None:
    with pytest.raises(ValueError, match="gw"):
        hist.record([res(T0)], {})
    assert hist.results(0, 2e9) == []


def test_filters_by_check_and_kind(hist: History) -> None:
    hist.record([res(T0), res(T0, check="dns", kind="dns")], {"gw": 60, "dns": 60})
    assert [r.check_id for r in hist.results(T0, T0 + 1, check_ids=["dns"])] == ["dns"]
    assert [r.check_id for r in hist.results(T0, T0 + 1, kinds=["ping"])] == ["gw"]
    assert set(hist.status_seconds(T0, T0 + 60, kinds=["dns"])) == {("dns", "10.0.0.1")}


# --- transitions --------------------------------------------------------------------------

def test_transitions_on_change_and_across_restart(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    h = History.open(path)
    feed(h, T0, T0 + 300, lambda ts: Status.CRIT if ts >= T0 + 120 else Status.OK)
    h.close()
    h = History.open(path)
    h.record([res(T0 + 300, Status.CRIT)], {"gw": 60})  # same as last stored: no transition
    h.record([res(T0 + 360, Status.WARN)], {"gw": 60})
    got = [(tr.ts - T0, tr.old, tr.new) for tr in h.transitions(T0, T0 + 1000)]
    assert got == [(0, None, Status.OK), (120, Status.OK, Status.CRIT), (360, Status.CRIT, Status.WARN)]
    assert h.transitions(T0, T0 + 1000, check_id="other") == []
    h.close()


# --- golden status seconds ----------------------------------------------------------------

def test_status_seconds_outage_inside_window(hist: History) -> None:
    feed(hist, T0, T0 + 2 * H, lambda ts: Status.CRIT if T0 + 600 <= ts < T0 + 1200 else Status.OK)
    got = hist.status_seconds(T0, T0 + H)[("gw", "10.0.0.1")]
    assert got == {"OK": 3000.0, "WARN": 0.0, "CRIT": 600.0, "UNKNOWN": 0.0, "nodata": 0.0}


def test_agent_down_gap_is_nodata_not_crit(hist: History) -> None:
    # Running, last result CRIT at +540, the agent dies at +550 and comes back at +1800.
    feed(hist, T0, T0 + 600, lambda ts: Status.CRIT if ts >= T0 + 540 else Status.OK)
    hist.heartbeat(T0 + 550)
    hist._alive = None  # a new process: its first heartbeat starts a new alive interval
    hist.heartbeat(T0 + 1800)
    feed(hist, T0 + 1800, T0 + H, lambda ts: Status.OK)
    hist.heartbeat(T0 + H)
    got = hist.status_seconds(T0, T0 + H)[("gw", "10.0.0.1")]
    assert got["CRIT"] == 10.0  # [540, 550): the CRIT result is believed only while the agent lived
    assert got["OK"] == 540.0 + 1800.0
    assert got["nodata"] == 1250.0
    assert hist.alive_intervals(T0, T0 + H) == [(T0, T0 + 550), (T0 + 1800, T0 + H)]


def test_missed_runs_are_nodata(hist: History) -> None:
    for beat in range(0, 701, 60):  # the agent lives throughout (heartbeats every minute)…
        hist.heartbeat(T0 + beat)
    hist.heartbeat(T0 + 700)
    for ts in (T0, T0 + 60, T0 + 600):  # …but the runs at +120…+540 were missed
        hist.record([res(ts)], {"gw": 60})
    got = hist.status_seconds(T0, T0 + 700)[("gw", "10.0.0.1")]
    assert (got["OK"], got["nodata"]) == (180.0, 520.0)


def test_window_boundary_cuts_a_result_interval(hist: History) -> None:
    hist.record([res(T0, Status.WARN)], {"gw": 300})
    hist.record([res(T0 + 300, Status.OK)], {"gw": 300})
    hist.heartbeat(T0 + 600)
    got = hist.status_seconds(T0 + 100, T0 + 400)[("gw", "10.0.0.1")]
    assert (got["WARN"], got["OK"], got["nodata"]) == (200.0, 100.0, 0.0)  # the result at T0 counts from +100


def test_no_data_means_absent(hist: History) -> None:
    feed(hist, T0, T0 + 600, lambda ts: Status.OK)
    assert hist.status_seconds(T0 + 10 * H, T0 + 11 * H) == {}
    assert hist.status_seconds(T0 + 5, T0 + 5) == {}


def test_rollups_answer_like_raw_rows(tmp_path: Path) -> None:
    h = History.open(tmp_path / "h.db", raw_retention=86400, retention=30 * 86400)
    down = (T0 + 5 * H + 1234, T0 + 7 * H + 77)
    feed(h, T0, T0 + 3 * 86400, lambda ts: Status.CRIT if down[0] <= ts < down[1] else Status.OK, step=61)
    h.heartbeat(T0 + 3 * 86400)  # a second process, gap of 20 min, then an UNKNOWN hour
    h._alive = None
    feed(h, T0 + 3 * 86400 + 1200, T0 + 3 * 86400 + 2 * H, lambda ts: Status.UNKNOWN)
    windows = [(T0, T0 + 2 * 86400), (T0 + 4 * H, T0 + 9 * H), (T0 + 3 * 86400, T0 + 3 * 86400 + 2 * H)]
    raw = [h.status_seconds(a, b) for a, b in windows]
    h.compact(T0 + 3 * 86400 + 86400 + 3 * H)  # rolls up everything older than one day
    assert len(h.results(T0, T0 + 3 * 86400)) < 5  # raw rows left only where they still cover unrolled time
    assert h.rollups(T0, T0 + 86400)
    for (a, b), before in zip(windows, raw, strict=True):
        after = h.status_seconds(a, b)
        assert after.keys() == before.keys()
        for key in before:
            assert after[key] == pytest.approx(before[key], abs=1e-6), (a - T0, b - T0)
    crit = h.status_seconds(T0, T0 + 86400)[("gw", "10.0.0.1")]["CRIT"]
    assert crit == pytest.approx(sum(r.seconds["CRIT"] for r in h.rollups(T0, T0 + 86400)))
    h.close()


def test_rollup_statistics(tmp_path: Path) -> None:
    h = History.open(tmp_path / "h.db", raw_retention=86400, retention=30 * 86400)
    for i in range(60):
        h.record([res(T0 + i * 60, rtt=(i + 1) / 1000)], {"gw": 60})
    h.heartbeat(T0 + H)
    h.compact(T0 + 86400 + 2 * H)
    (roll,) = h.rollups(T0, T0 + H)
    assert (roll.hour, roll.count, roll.seconds["OK"], roll.seconds["CRIT"]) == (T0, 60, 3600.0, 0.0)
    rtt = roll.samples["ping_rtt_seconds"]
    assert (rtt.n, rtt.min, rtt.max, rtt.p95) == (60, 0.001, 0.06, 0.057)
    assert rtt.avg == pytest.approx(0.0305)
    loss = roll.samples["ping_loss_ratio"]
    assert (loss.min, loss.max, loss.p95) == (0, 0, None)  # constant and not latency-like
    assert roll.duration is not None and roll.duration.max == pytest.approx(0.01)
    h.close()


def test_pure_helpers() -> None:
    assert merge_intervals([(5, 9), (0, 3), (2, 4), (9, 10)], 1, 8) == [(1, 4), (5, 8)]
    assert status_ms([(0, 0, 10), (5, 2, 10)], 0, 20, [(0, 12)]) == [5, 0, 7, 0]
    assert stats_entry([1.0, 1.0], True) == [2, 1.0]
    assert stats_entry([math.nan], False) is None


# --- compaction, retention, size cap --------------------------------------------------------

def test_retention_drops_old_data(tmp_path: Path) -> None:
    h = History.open(tmp_path / "h.db", raw_retention=86400, retention=3 * 86400)
    feed(h, T0, T0 + 2 * H, lambda ts: Status.OK)
    h.touch_devices([("host:old-pc", {"os": "Windows 7"})], T0)
    h.compact(T0 + 2 * 86400)
    assert h.rollups(T0, T0 + 2 * H) and h.transitions(T0, T0 + H)
    h.compact(T0 + 5 * 86400)
    assert h.rollups(0, 2e9) == [] and h.results(0, 2e9) == [] and h.transitions(0, 2e9) == []
    assert h.devices() == [] and h.alive_intervals(0, 2e9) == []
    assert h._conn.execute("SELECT count(*) FROM series").fetchone()[0] == 0
    h.close()


def test_size_cap_drops_oldest_rollups_then_raw(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    h = History.open(path, raw_retention=H, retention=60 * 86400)
    ids = {f"c{n}": 60.0 for n in range(8)}
    end = T0 + 4 * 86400
    for ts in range(int(T0), int(end), 60):
        h.record([res(ts, check=c, rtt=0.001 * (ts % 97)) for c in ids], ids)
    h.compact(end)
    full, rolls, raws = h.size_bytes(), h.rollups(0, 2e9), h.results(0, 2e9)
    assert len(rolls) == 8 * (4 * 24 - 1) and len(raws) >= 8 * 60
    h.close()

    cap = full - 40_000  # room for the raw rows and most roll-ups: only the oldest roll-ups go
    h = History.open(path, raw_retention=H, retention=60 * 86400, max_bytes=cap)
    h.compact(end)
    assert h.size_bytes() <= cap and path.stat().st_size <= cap
    kept = h.rollups(0, 2e9)
    assert 0 < len(kept) < len(rolls) and kept[-1].hour == rolls[-1].hour and kept[0].hour > rolls[0].hour
    assert len(h.results(0, 2e9)) == len(raws)
    h.close()

    h = History.open(path, raw_retention=H, retention=60 * 86400, max_bytes=2**16)  # not even raw fits
    h.compact(end)
    assert h.size_bytes() <= 2**16 and path.stat().st_size <= 2**16
    left = h.results(0, 2e9)
    assert h.rollups(0, 2e9) == [] and 0 < len(left) < len(raws) and left[-1].ts == raws[-1].ts
    h.close()


# --- devices --------------------------------------------------------------------------------

def test_devices_keep_first_seen(hist: History) -> None:
    hist.touch_devices([("mac:aa:bb:cc:dd:ee:ff", {"ip": "192.0.2.5"}), ("host:pc-01", {"os": "Windows 11"})], T0)
    hist.touch_devices([("mac:aa:bb:cc:dd:ee:ff", {"ip": "192.0.2.9", "vendor": "Dell"})], T0 + 600)
    hist.touch_devices([("mac:aa:bb:cc:dd:ee:ff", {"ip": "stale"})], T0 + 300)  # late, older report
    devs = {d.key: d for d in hist.devices()}
    mac = devs["mac:aa:bb:cc:dd:ee:ff"]
    assert (mac.first_seen, mac.last_seen, dict(mac.facts)) == (T0, T0 + 600, {"ip": "192.0.2.9", "vendor": "Dell"})
    assert devs["host:pc-01"].last_seen == T0


# --- recovery -------------------------------------------------------------------------------

def _asides(path: Path, kind: str) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.{kind}-*"))


def test_garbage_file_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "history.db"
    path.write_bytes(b"this is not a database\n" * 500)
    with caplog.at_level(logging.ERROR, logger="dxagent.history"):
        h = History.open(path)
    (aside,) = _asides(path, "corrupt")
    assert aside.read_bytes().startswith(b"this is not a database")
    assert "moved it aside" in caplog.text and str(aside) in caplog.text
    h.record([res(T0)], {"gw": 60})
    assert len(h.results(0, 2e9)) == 1
    h.close()


def test_truncated_file_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "history.db"
    h = History.open(path)
    feed(h, T0, T0 + 86400, lambda ts: Status.OK)
    h.close()
    size = path.stat().st_size
    assert not Path(str(path) + "-wal").exists() or Path(str(path) + "-wal").stat().st_size == 0
    with open(path, "r+b") as f:
        f.truncate(size // 2 + 1000)  # mid-page
    with caplog.at_level(logging.ERROR, logger="dxagent.history"):
        h = History.open(path)
    assert len(_asides(path, "corrupt")) == 1
    assert "unusable" in caplog.text
    assert h.results(0, 2e9) == []
    h.record([res(T0)], {"gw": 60})
    assert h._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    h.close()


def test_corruption_found_in_use_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "history.db"
    h = History.open(path)
    feed(h, T0, T0 + 86400, lambda ts: Status.OK)
    h._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(path, "r+b") as f:  # a disk error overwrites table pages under the running agent
        f.seek(4096 * 3)
        f.write(b"\xff" * 4096 * 20)
    other = sqlite3.connect(path, isolation_level=None)  # another writer: the agent's page cache is stale now
    other.execute("INSERT INTO meta VALUES ('poke', 1)")
    other.close()
    with caplog.at_level(logging.ERROR, logger="dxagent.history"):
        assert h.results(0, 2e9) == []  # answered from the fresh file
    assert len(_asides(path, "corrupt")) == 1 and "became unreadable" in caplog.text
    h.record([res(T0 + 86400)], {"gw": 60})
    assert len(h.results(0, 2e9)) == 1
    h.close()


def test_newer_schema_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    History.open(path).close()
    assert len(_asides(path, "newer")) == 1


def test_unusable_state_dir_is_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(HistoryError, match="cannot create"):
        History.open(blocker / "sub" / "history.db")
    with pytest.raises(ValueError):
        History.open(tmp_path / "h.db", raw_retention=10, retention=5)


# --- concurrency ----------------------------------------------------------------------------

def test_one_writer_many_readers_threads(hist: History) -> None:
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(50):
                rows = hist.results(0, 2e9)
                assert all(len(r.samples) == 3 for r in rows)
                hist.status_seconds(T0, T0 + H)
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for th in readers:
        th.start()
    feed(hist, T0, T0 + H, lambda ts: Status.OK)
    for th in readers:
        th.join()
    assert not errors
    assert len(hist.results(0, 2e9)) == 60


def test_second_process_sees_new_series(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    writer, reader = History.open(path), History.open(path)
    reader.results(0, 2e9)
    writer.record([res(T0, check="late", target="x")], {"late": 60})
    reader.record([res(T0 + 60, check="late", target="x")], {"late": 60})  # same series: no duplicate
    assert [(r.check_id, r.target) for r in reader.results(0, 2e9)] == [("late", "x")] * 2
    writer.close()
    reader.close()


# --- config -----------------------------------------------------------------------------------

def test_store_config() -> None:
    cfg = load_text("store:\n  raw_retention: 7d\n  max_size: 64MiB\n")
    assert (cfg.store.raw_retention, cfg.store.retention, cfg.store.max_size) == (7 * 86400, 400 * 86400, 64 * 2**20)
    with pytest.raises(ConfigError) as err:
        load_text("store:\n  raw_retention: 500d\n", "site.yml")
    assert "site.yml:2" in str(err.value) and "raw_retention must not exceed retention" in str(err.value)
    with pytest.raises(ConfigError, match=r"store\.max_size"):
        load_text("store:\n  max_size: 10 parsecs\n")

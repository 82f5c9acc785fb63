"""Compaction of the history file: hourly roll-ups of aged results, retention, the size cap.

Run by `History.compact()` about hourly. Roll-ups make 30-day and 1-year availability answerable
from a small file; their status seconds come from the same `status_ms` as raw queries, so an
hour answers the same before and after it is rolled up. Every step is its own transaction: a
crash in between leaves a consistent file and the next run continues where this one stopped.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import math
import sqlite3
from collections.abc import Callable
from typing import Any

from dxagent.history.calc import merge_intervals, stats_entry, status_ms
from dxagent.history.schema import HOUR_MS, decode_values, encode_values, keys_json, latency_like

__all__ = ["compact", "used_bytes"]

DAY_MS = 24 * HOUR_MS
Tx = Callable[[], contextlib.AbstractContextManager[sqlite3.Connection]]


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the main file holding data (free pages excluded; the WAL is not counted)."""
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int(size * (pages - free))


def compact(conn: sqlite3.Connection, tx: Tx, now_ms: int, raw_ms: int, keep_ms: int, max_bytes: int) -> None:
    """Roll up hours older than raw retention, drop what is older than retention, enforce the cap."""
    boundary = (now_ms - raw_ms) // HOUR_MS * HOUR_MS
    with tx():
        _rollup(conn, boundary)
    with tx():
        _retention(conn, now_ms - keep_ms)
    _size_cap(conn, tx, max_bytes)
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    # Give space back when over the cap or when worth it; otherwise freed pages are simply reused.
    if free and (pages * size > max_bytes or free > max(256, pages // 10)):
        # executescript steps the pragma to completion; execute() would free a single page
        conn.executescript("PRAGMA incremental_vacuum;")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class _Layouts:
    """Interning of key lists, shared with History through the layouts table."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.keys = {lid: tuple(json.loads(k)) for lid, k in conn.execute("SELECT id, keys FROM layouts")}
        self.ids = {k: lid for lid, k in self.keys.items()}

    def id(self, keys: tuple[str, ...]) -> int:
        if keys not in self.ids:
            cur = self.conn.execute("INSERT INTO layouts (keys) VALUES (?)", (keys_json(keys),))
            self.ids[keys] = int(cur.lastrowid or 0)
            self.keys[self.ids[keys]] = keys
        return self.ids[keys]


def _rollup(conn: sqlite3.Connection, boundary: int) -> None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'rollup_until'").fetchone()
    start = int(row[0]) if row else None
    if start is None:
        first = conn.execute("SELECT min(ts) FROM raw").fetchone()[0]
        start = boundary if first is None else first // HOUR_MS * HOUR_MS
    if start < boundary:
        layouts = _Layouts(conn)
        alive = merge_intervals(conn.execute(
            "SELECT start, end FROM alive WHERE end > ? AND start < ?", (start, boundary)).fetchall())
        for (sid,) in conn.execute("SELECT id FROM series").fetchall():
            _rollup_series(conn, layouts, alive, sid, start, boundary)
            conn.execute("DELETE FROM raw WHERE series = ? AND ts < ? AND ts + interval_ms <= ?",
                         (sid, boundary, boundary))
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('rollup_until', ?)", (max(start, boundary),))


def _rollup_series(conn: sqlite3.Connection, layouts: _Layouts, alive: list[tuple[int, int]],
                   sid: int, start: int, boundary: int) -> None:
    """Hourly rows for one series over [start, boundary), a day of raw rows in memory at a time."""
    cols = "ts, status, interval_ms, duration_us, layout, vals"
    prev = conn.execute(f"SELECT {cols} FROM raw WHERE series = ? AND ts < ? ORDER BY ts DESC LIMIT 1",
                        (sid, start)).fetchone()
    for day in range(start, boundary, DAY_MS):
        day_end = min(day + DAY_MS, boundary)
        rows = conn.execute(f"SELECT {cols} FROM raw WHERE series = ? AND ts >= ? AND ts < ? ORDER BY ts",
                            (sid, day, day_end)).fetchall()
        if not rows and (prev is None or prev[0] + prev[2] <= day):
            continue
        seq = ([prev] if prev is not None else []) + rows
        stamps = [r[0] for r in seq]
        # the first run after the day tells whether the day's last run was late or missed
        nxt = conn.execute("SELECT ts, status, interval_ms FROM raw WHERE series = ? AND ts >= ? ORDER BY ts LIMIT 1",
                           (sid, day_end)).fetchone()
        spans = [r[:3] for r in seq] + ([nxt] if nxt else [])
        for hour in range(day, day_end, HOUR_MS):
            i0 = bisect.bisect_left(stamps, hour)
            i1 = bisect.bisect_left(stamps, hour + HOUR_MS)
            ms = status_ms(spans[max(0, i0 - 1):i1 + 1], hour, hour + HOUR_MS, alive)
            if i0 == i1 and not any(ms):
                continue
            _insert_hour(conn, layouts, sid, hour, seq[i0:i1], ms)
        if rows:
            prev = rows[-1]


def _insert_hour(conn: sqlite3.Connection, layouts: _Layouts, sid: int, hour: int,
                 rows: list[Any], ms: list[int]) -> None:
    values: dict[str, list[float]] = {}
    for _, _, _, _, layout, vals in rows:
        for key, v in zip(layouts.keys[layout], decode_values(vals), strict=False):
            values.setdefault(key, []).append(v)
    entries = {k: e for k, v in values.items() if (e := stats_entry(v, latency_like(k))) is not None}
    duration = stats_entry([r[3] / 1e6 for r in rows], True)
    conn.execute(
        "INSERT OR REPLACE INTO hourly VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (sid, hour, len(rows), *ms, layouts.id(tuple(entries)),
         "[" + ",".join(encode_values(e) for e in entries.values()) + "]",
         encode_values(duration) if duration else "[]"),
    )


def _retention(conn: sqlite3.Connection, cutoff: int) -> None:
    conn.execute("DELETE FROM hourly WHERE hour + ? <= ?", (HOUR_MS, cutoff))
    conn.execute("DELETE FROM transitions WHERE ts < ?", (cutoff,))
    conn.execute("DELETE FROM alive WHERE end < ?", (cutoff,))
    conn.execute("DELETE FROM devices WHERE last_seen < ?", (cutoff,))
    conn.execute(
        "DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM raw WHERE raw.series = series.id)"
        " AND NOT EXISTS (SELECT 1 FROM hourly WHERE hourly.series = series.id)"
        " AND NOT EXISTS (SELECT 1 FROM transitions WHERE transitions.series = series.id)")
    if conn.execute("SELECT count(*) FROM layouts").fetchone()[0] > 64:  # only worth a scan when they pile up
        conn.execute("DELETE FROM layouts WHERE id NOT IN (SELECT DISTINCT layout FROM raw)"
                     " AND id NOT IN (SELECT DISTINCT layout FROM hourly)")


def _table_bytes(conn: sqlite3.Connection, table: str, rows: int, used: int, total_rows: int) -> float:
    """Bytes a table (with its indexes) occupies; dbstat when compiled in, else a share by rows."""
    with contextlib.suppress(sqlite3.Error):
        got = conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name = ? OR name IN "
                           "(SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?)",
                           (table, table)).fetchone()[0]
        if got:
            return float(got)
    return used * rows / max(1, total_rows)


def _size_cap(conn: sqlite3.Connection, tx: Tx, max_bytes: int) -> None:
    """Drop the oldest roll-ups, then the oldest raw rows, until the used size fits the cap."""
    for _ in range(64):
        used = used_bytes(conn)
        if used <= max_bytes:
            return
        with tx():
            n_hourly = conn.execute("SELECT count(*) FROM hourly").fetchone()[0]
            n_raw = conn.execute("SELECT count(*) FROM raw").fetchone()[0]
            if not n_hourly and not n_raw:
                return
            table, n = ("hourly", n_hourly) if n_hourly else ("raw", n_raw)
            per_row = _table_bytes(conn, table, n, used, n_hourly + n_raw) / n
            drop = min(n, max(1, math.ceil((used - max_bytes) / per_row * 1.05)))
            conn.execute(_DROP_OLDEST[table], (drop - 1,))


_DROP_OLDEST = {
    "hourly": "DELETE FROM hourly WHERE hour <= (SELECT hour FROM hourly ORDER BY hour LIMIT 1 OFFSET ?)",
    # rowids grow with insertion, i.e. with time: no index on ts alone is needed
    "raw": "DELETE FROM raw WHERE rowid <= (SELECT rowid FROM raw ORDER BY rowid LIMIT 1 OFFSET ?)",
}

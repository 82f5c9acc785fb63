"""The agent's history: one SQLite file (WAL) of results, status changes, liveness and devices.

Reports ask "how many seconds was the provincial link down this month" long after the results
left memory, and an uplink outage must be measured where it happens. The file is written by
the daemon, read by reports and inventory, and must survive a crash or SIGKILL at any moment:

* WAL + `synchronous=NORMAL`: a process crash (even SIGKILL) never corrupts the file and loses
  at most the transaction in flight; a power loss may lose the last transactions, never the file.
  FULL would fsync on every commit for no gain against process crashes, the common failure here.
* One connection, guarded by a lock, usable from any thread (`check_same_thread=False`).
* A file that is not a database, fails `PRAGMA quick_check`, or was written by a newer dxagent is
  renamed `<name>.corrupt-<time>` (or `.newer-<time>`), logged, and a fresh file is started: the
  agent keeps monitoring instead of refusing to start.

Layout, retention, roll-ups and sizes are described in docs/history.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from dxagent.history import compact as history_compact
from dxagent.history.calc import STATUS_NAMES, SampleStats, decode_entry, merge_intervals, status_ms
from dxagent.history.file import HistoryError, connect, is_corrupt, move_aside, open_or_replace
from dxagent.history.schema import (
    HOUR_MS,
    decode_values,
    encode_json,
    encode_values,
    from_ms,
    keys_json,
    latency_like,
    samples_of,
    to_ms,
)
from dxagent.history.types import DeviceRow, HistoryRow, RollupRow, Transition
from dxagent.model import Result, Status

__all__ = ["History", "HistoryRow", "Transition", "DeviceRow", "RollupRow", "HistoryError", "SampleStats"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class History:
    """One SQLite file (WAL) under state_dir: result history, agent liveness, devices."""

    def __init__(self, path: Path, conn: sqlite3.Connection, *, raw_retention: float, retention: float,
                 max_bytes: int, heartbeat_gap: float) -> None:
        """Use `History.open`; this only wires an already checked connection."""
        self.path = path
        self.raw_retention = raw_retention
        self.retention = retention
        self.max_bytes = max_bytes
        self.heartbeat_gap = heartbeat_gap
        self._conn = conn
        self._lock = threading.RLock()
        self._alive: list[int] | None = None  # [id, start, end] of this process's current interval
        self._load_caches()

    @classmethod
    def open(cls, path: Path, *, raw_retention: float = 35 * 86400, retention: float = 400 * 86400,
             max_bytes: int = 256 * 2**20, heartbeat_gap: float = 300.0) -> History:
        """Open or create the file; a corrupt or unreadable one is moved aside (logged) and replaced.

        `heartbeat_gap`: heartbeats further apart than this start a new alive interval (the
        agent or the machine was stopped in between).
        """
        if not 0 < raw_retention <= retention:
            raise ValueError("need 0 < raw_retention <= retention")
        if max_bytes < 2**16:
            raise ValueError("max_bytes must be at least 64 KiB")
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
        conn = open_or_replace(path, log)
        return cls(path, conn, raw_retention=raw_retention, retention=retention, max_bytes=max_bytes,
                   heartbeat_gap=heartbeat_gap)

    # --- plumbing -------------------------------------------------------------------------

    def _load_caches(self) -> None:
        """Interned ids and last statuses, so record() needs no lookups; reloaded after a rollback."""
        c = self._conn
        self._series: dict[tuple[str, str], list[Any]] = {
            (cid, tgt): [sid, kind, last] for sid, cid, tgt, kind, last in
            c.execute("SELECT id, check_id, target, kind, last_status FROM series")
        }
        self._series_by_id = {v[0]: (k[0], k[1], v[1]) for k, v in self._series.items()}
        self._layouts: dict[tuple[str, ...], int] = {
            tuple(json.loads(keys)): lid for lid, keys in c.execute("SELECT id, keys FROM layouts")
        }
        self._layout_keys = {lid: keys for keys, lid in self._layouts.items()}
        row = c.execute("SELECT value FROM meta WHERE key = 'rollup_until'").fetchone()
        self._rollup_until = int(row[0]) if row else 0
        self._data_version = c.execute("PRAGMA data_version").fetchone()[0]

    def _refresh(self) -> None:
        """Reload the caches if another process (a second writer, a compaction) changed the file."""
        if self._conn.execute("PRAGMA data_version").fetchone()[0] != self._data_version:
            self._load_caches()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._refresh()  # holding the write lock now: ids cached from before are final
            yield self._conn
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            self._load_caches()
            self._alive = None
            raise
        self._conn.execute("COMMIT")

    def _guard(self, fn: Callable[[], T]) -> T:
        """Run fn under the lock; if the file turns out corrupt, move it aside and retry once."""
        with self._lock:
            try:
                self._refresh()
                return fn()
            except sqlite3.DatabaseError as exc:
                if not is_corrupt(exc):
                    raise
                self._conn.close()
                aside = move_aside(self.path, "corrupt")
                log.error("history file %s became unreadable (%s); moved it aside to %s and started a new file",
                          self.path, exc, aside)
                self._conn = connect(self.path)
                self._load_caches()
                self._alive = None
                return fn()

    def _series_id(self, check_id: str, target: str, kind: str) -> list[Any]:
        entry = self._series.get((check_id, target))
        if entry is None:
            cur = self._conn.execute("INSERT INTO series (check_id, target, kind) VALUES (?, ?, ?)",
                                     (check_id, target, kind))
            entry = self._series[(check_id, target)] = [cur.lastrowid, kind, None]
            self._series_by_id[entry[0]] = (check_id, target, kind)
        elif entry[1] != kind:
            self._conn.execute("UPDATE series SET kind = ? WHERE id = ?", (kind, entry[0]))
            entry[1] = kind
            self._series_by_id[entry[0]] = (check_id, target, kind)
        return entry

    def _layout_id(self, keys: tuple[str, ...]) -> int:
        lid = self._layouts.get(keys)
        if lid is None:
            cur = self._conn.execute("INSERT INTO layouts (keys) VALUES (?)", (keys_json(keys),))
            lid = self._layouts[keys] = int(cur.lastrowid or 0)
            self._layout_keys[lid] = keys
        return lid

    def _select(self, check_ids: Sequence[str] | None, kinds: Sequence[str] | None) -> list[int]:
        return sorted(sid for sid, (cid, _, kind) in self._series_by_id.items()
                      if (check_ids is None or cid in check_ids) and (kinds is None or kind in kinds))

    # --- writing --------------------------------------------------------------------------

    def record(self, results: Sequence[Result], intervals: Mapping[str, float]) -> None:
        """Store results in one transaction; intervals = check_id → configured interval (s).

        Also records a transition for every status change (compared with the last stored status,
        so across restarts too) and counts as a heartbeat at the end of the latest run.
        """
        missing = sorted({r.check_id for r in results if not intervals.get(r.check_id, 0) > 0})
        if missing:
            raise ValueError(f"record(): no positive interval for check(s) {', '.join(missing)}")
        if not results:
            return
        now = time.time()
        ordered = sorted(results, key=lambda r: r.started)

        def write() -> None:
            with self._tx() as c:
                rows, changes = [], []
                for r in ordered:
                    entry = self._series_id(r.check_id, r.target, r.kind)
                    ts = to_ms(r.started if r.started > 0 else now)
                    samples = samples_of(r.samples)
                    rows.append((entry[0], ts, int(r.status), r.reason.value if r.reason else None,
                                 round(r.duration * 1e6), to_ms(intervals[r.check_id]),
                                 self._layout_id(tuple(samples)), encode_values(samples.values())))
                    if entry[2] != int(r.status):
                        changes.append((entry[0], ts, entry[2], int(r.status)))
                        entry[2] = int(r.status)
                c.executemany("INSERT INTO raw VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                if changes:
                    c.executemany("INSERT INTO transitions VALUES (?, ?, ?, ?)", changes)
                    c.executemany("UPDATE series SET last_status = ? WHERE id = ?", [(n, s) for s, _, _, n in changes])
                self._beat(rows[0][1])  # alive from the first run's start to the last run's end
                self._beat(max(to_ms((r.started if r.started > 0 else now) + r.duration) for r in ordered))

        self._guard(write)

    def heartbeat(self, ts: float | None = None) -> None:
        """The agent was alive at ts (default now): extends this process's alive interval."""
        ms = to_ms(time.time() if ts is None else ts)

        def write() -> None:
            with self._tx():
                self._beat(ms)

        self._guard(write)

    def _beat(self, ms: int) -> None:
        alive = self._alive
        gap = to_ms(self.heartbeat_gap)
        if alive is None or ms - alive[2] > gap or ms < alive[1] - gap:  # first beat, long pause, clock stepped back
            cur = self._conn.execute("INSERT INTO alive (start, end) VALUES (?, ?)", (ms, ms))
            self._alive = [int(cur.lastrowid or 0), ms, ms]
        elif ms > alive[2]:
            self._conn.execute("UPDATE alive SET end = ? WHERE id = ?", (ms, alive[0]))
            alive[2] = ms

    def touch_devices(self, devices: Iterable[tuple[str, Mapping[str, Any]]], ts: float) -> None:
        """Key (e.g. "mac:aa:bb:.." or "host:pc-01") + JSON facts; keeps first_seen, updates last_seen."""
        ms = to_ms(ts)
        rows = [(key, ms, ms, encode_json(dict(facts))) for key, facts in devices]

        def write() -> None:
            with self._tx() as c:
                c.executemany(
                    "INSERT INTO devices VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
                    " first_seen = min(first_seen, excluded.first_seen),"
                    " facts = CASE WHEN excluded.last_seen >= last_seen THEN excluded.facts ELSE facts END,"
                    " last_seen = max(last_seen, excluded.last_seen)", rows)

        self._guard(write)

    def compact(self, now: float | None = None) -> None:
        """Roll-ups + retention + size cap (see docs/history.md); call about hourly."""
        now_ms = to_ms(time.time() if now is None else now)

        def work() -> None:
            history_compact.compact(self._conn, self._tx, now_ms, to_ms(self.raw_retention),
                                    to_ms(self.retention), self.max_bytes)
            self._load_caches()

        self._guard(work)

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA optimize")
            self._conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reading --------------------------------------------------------------------------

    def size_bytes(self) -> int:
        """Bytes in use in the main file (free pages excluded), as the size cap counts them."""
        return self._guard(lambda: history_compact.used_bytes(self._conn))

    def alive_intervals(self, since: float, until: float) -> list[tuple[float, float]]:
        """When the agent was running (so 'agent down' is not counted as 'link down')."""
        spans = self._guard(lambda: self._alive_ms(to_ms(since), to_ms(until)))
        return [(from_ms(s), from_ms(e)) for s, e in spans]

    def _alive_ms(self, lo: int, hi: int) -> list[tuple[int, int]]:
        rows = self._conn.execute("SELECT start, end FROM alive WHERE end > ? AND start < ?", (lo, hi))
        return merge_intervals(rows, lo, hi)

    def results(self, since: float, until: float, check_ids: Sequence[str] | None = None,
                kinds: Sequence[str] | None = None) -> list[HistoryRow]:
        """Raw results started in [since, until), oldest first (only within raw_retention)."""
        def read() -> list[HistoryRow]:
            ids = self._select(check_ids, kinds)
            if not ids:
                return []
            sql = (f"SELECT series, ts, status, reason, duration_us, interval_ms, layout, vals FROM raw "
                   f"WHERE series IN ({','.join(map(str, ids))}) AND ts >= ? AND ts < ? ORDER BY ts")
            out = []
            for sid, ts, status, reason, dur, interval, layout, vals in self._conn.execute(
                    sql, (to_ms(since), to_ms(until))):
                cid, target, kind = self._series_by_id[sid]
                samples = MappingProxyType(dict(zip(self._layout_keys[layout], decode_values(vals), strict=False)))
                out.append(HistoryRow(from_ms(ts), cid, kind, target, Status(status), reason, dur / 1e6,
                                      from_ms(interval), samples))
            out.sort(key=lambda r: (r.ts, r.check_id, r.target))
            return out

        return self._guard(read)

    def rollups(self, since: float, until: float, check_ids: Sequence[str] | None = None,
                kinds: Sequence[str] | None = None) -> list[RollupRow]:
        """Hourly summaries whose hour starts in [since, until), oldest first."""
        def read() -> list[RollupRow]:
            ids = self._select(check_ids, kinds)
            if not ids:
                return []
            sql = (f"SELECT series, hour, count, ok_ms, warn_ms, crit_ms, unknown_ms, layout, stats, duration "
                   f"FROM hourly WHERE series IN ({','.join(map(str, ids))}) AND hour >= ? AND hour < ?")
            out = []
            for sid, hour, count, *ms, layout, stats, duration in self._conn.execute(
                    sql, (to_ms(since), to_ms(until))):
                cid, target, kind = self._series_by_id[sid]
                keys = self._layout_keys[layout]
                samples = {k: decode_entry(e, latency_like(k)) for k, e in zip(keys, json.loads(stats), strict=False)}
                dur = json.loads(duration)
                out.append(RollupRow(from_ms(hour), cid, kind, target, count,
                                     MappingProxyType({n: from_ms(v) for n, v in zip(STATUS_NAMES, ms, strict=True)}),
                                     decode_entry(dur, True) if dur else None, MappingProxyType(samples)))
            out.sort(key=lambda r: (r.hour, r.check_id, r.target))
            return out

        return self._guard(read)

    def status_seconds(self, since: float, until: float, check_ids: Sequence[str] | None = None,
                       kinds: Sequence[str] | None = None) -> dict[tuple[str, str], dict[str, float]]:
        """(check_id, target) → seconds in "OK"/"WARN"/"CRIT"/"UNKNOWN" and "nodata" within [since, until).

        Time-weighted: a result covers [ts, next ts) when the next run came within 1.5 intervals
        (late, not missed), else [ts, ts + interval); only while the agent was alive. Hours already rolled up count by their share of overlap (exact on hour boundaries).
        Only pairs with data near the window appear; absent pairs had no data at all.
        """
        lo, hi = to_ms(since), to_ms(until)
        if hi <= lo:
            return {}

        def read() -> dict[tuple[str, str], list[float]]:
            ids = self._select(check_ids, kinds)
            acc: dict[int, list[float]] = {}
            if not ids:
                return {}
            cut = self._rollup_until
            id_list = ",".join(map(str, ids))
            if lo < cut:
                for sid, hour, *ms in self._conn.execute(
                        f"SELECT series, hour, ok_ms, warn_ms, crit_ms, unknown_ms FROM hourly "
                        f"WHERE series IN ({id_list}) AND hour > ? AND hour < ?", (lo - HOUR_MS, min(hi, cut))):
                    share = (min(hour + HOUR_MS, hi, cut) - max(hour, lo)) / HOUR_MS
                    sums = acc.setdefault(sid, [0.0] * 4)
                    for i, v in enumerate(ms):
                        sums[i] += v * share
            rlo = max(lo, cut)
            if rlo < hi:
                alive = self._alive_ms(rlo, hi)
                for sid in ids:
                    rows = self._conn.execute(
                        "SELECT ts, status, interval_ms FROM raw WHERE series = ? AND ts < ? ORDER BY ts DESC LIMIT 1",
                        (sid, rlo)).fetchall()
                    rows += self._conn.execute(
                        "SELECT ts, status, interval_ms FROM raw WHERE series = ? AND ts >= ? AND ts < ? ORDER BY ts",
                        (sid, rlo, hi)).fetchall()
                    if rows and (len(rows) > 1 or rows[0][0] + rows[0][2] > rlo):
                        rows += self._conn.execute(  # the next run tells whether the last one was late or missed
                            "SELECT ts, status, interval_ms FROM raw WHERE series = ? AND ts >= ? ORDER BY ts LIMIT 1",
                            (sid, hi)).fetchall()
                        sums = acc.setdefault(sid, [0.0] * 4)
                        for i, v in enumerate(status_ms(rows, rlo, hi, alive)):
                            sums[i] += v
            return {self._series_by_id[sid][:2]: sums for sid, sums in acc.items()}

        window = from_ms(hi - lo)
        out = {}
        for key, sums in self._guard(read).items():
            seconds = {n: v / 1000 for n, v in zip(STATUS_NAMES, sums, strict=True)}
            seconds["nodata"] = max(0.0, window - sum(seconds.values()))
            out[key] = seconds
        return out

    def transitions(self, since: float, until: float, check_id: str | None = None) -> list[Transition]:
        """Status changes in [since, until), oldest first."""
        def read() -> list[Transition]:
            sql = "SELECT series, ts, old, new FROM transitions WHERE ts >= ? AND ts < ? ORDER BY ts"
            out = []
            for sid, ts, old, new in self._conn.execute(sql, (to_ms(since), to_ms(until))):
                cid, target, _ = self._series_by_id[sid]
                if check_id is None or cid == check_id:
                    out.append(Transition(from_ms(ts), cid, target, None if old is None else Status(old), Status(new)))
            return out

        return self._guard(read)

    def devices(self) -> list[DeviceRow]:
        """key, first_seen, last_seen, facts of every device still within retention."""
        def read() -> list[DeviceRow]:
            rows = self._conn.execute("SELECT key, first_seen, last_seen, facts FROM devices ORDER BY key")
            return [DeviceRow(k, from_ms(f), from_ms(la), MappingProxyType(json.loads(facts)))
                    for k, f, la, facts in rows]

        return self._guard(read)

"""The history file's schema, its migrations, and the compact encodings of times and samples.

Times are integer milliseconds, durations integer microseconds (SQLite stores small integers
in 1-6 bytes). Check/target pairs and sample-name lists are interned, so a result row is a few
integers plus a JSON array of values in the order of its "layout" (the interned list of keys).
Sample values keep 6 significant digits below 1 and 6 decimals from 1 up (integers exactly),
far finer than any probe measures, at about half the bytes of `repr`. See docs/history.md.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dxagent.model import Sample

__all__ = [
    "SCHEMA_VERSION", "HOUR_MS", "migrate", "sample_key", "encode_values", "decode_values",
    "latency_like", "to_ms", "from_ms",
]

HOUR_MS = 3_600_000

# Each entry upgrades the schema from version i to i+1; PRAGMA user_version counts them.
# Never edit a released entry: append a new one (ALTER TABLE, backfill) instead.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY) WITHOUT ROWID;
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        check_id TEXT NOT NULL,
        target TEXT NOT NULL,
        kind TEXT NOT NULL,
        last_status INTEGER,            -- for transitions across restarts
        UNIQUE (check_id, target)
    );
    CREATE TABLE layouts (id INTEGER PRIMARY KEY, keys TEXT NOT NULL UNIQUE);  -- JSON list of sample keys
    CREATE TABLE raw (
        series INTEGER NOT NULL,        -- series.id
        ts INTEGER NOT NULL,            -- Result.started, ms since the epoch
        status INTEGER NOT NULL,        -- 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN
        reason TEXT,
        duration_us INTEGER NOT NULL,
        interval_ms INTEGER NOT NULL,   -- the check's interval when it ran
        layout INTEGER NOT NULL,        -- layouts.id: names of the values below
        vals TEXT NOT NULL              -- JSON array of sample values
    );
    CREATE INDEX raw_series_ts ON raw (series, ts);
    CREATE TABLE hourly (
        series INTEGER NOT NULL,
        hour INTEGER NOT NULL,          -- start of the hour, ms
        count INTEGER NOT NULL,         -- results started in the hour
        ok_ms INTEGER NOT NULL, warn_ms INTEGER NOT NULL, crit_ms INTEGER NOT NULL, unknown_ms INTEGER NOT NULL,
        layout INTEGER NOT NULL,
        stats TEXT NOT NULL,            -- JSON: per key [n, v] or [n, min, avg, max] or [n, min, avg, max, p95]
        duration TEXT NOT NULL,         -- the same for the run duration (seconds)
        PRIMARY KEY (series, hour)
    ) WITHOUT ROWID;
    CREATE TABLE transitions (series INTEGER NOT NULL, ts INTEGER NOT NULL, old INTEGER, new INTEGER NOT NULL);
    CREATE INDEX transitions_ts ON transitions (ts);
    CREATE TABLE alive (id INTEGER PRIMARY KEY, start INTEGER NOT NULL, end INTEGER NOT NULL);
    CREATE TABLE devices (
        key TEXT PRIMARY KEY, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, facts TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class NewerSchemaError(Exception):
    """The file was written by a newer dxagent: we must not guess at its layout."""


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION, each step in its own transaction; returns the old version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise NewerSchemaError(f"schema version {version} is newer than this dxagent's {SCHEMA_VERSION}")
    for step in range(version, SCHEMA_VERSION):
        try:  # BEGIN inside the script: executescript() would commit a transaction opened outside it
            conn.executescript(f"BEGIN IMMEDIATE;\n{MIGRATIONS[step]};\nPRAGMA user_version = {step + 1};\nCOMMIT;")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return int(version)


def to_ms(seconds: float) -> int:
    return round(seconds * 1000)


def from_ms(ms: int) -> float:
    return ms / 1000


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def sample_key(sample: Sample) -> str:
    """`name` or `name{a="x",b="y"}` with labels sorted, as in the Prometheus exposition."""
    if not sample.labels:
        return sample.name
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(sample.labels))
    return f"{sample.name}{{{inner}}}"


def latency_like(key: str) -> bool:
    """Samples whose p95 is kept in roll-ups: durations (`…_seconds`) but not times of day."""
    name = key.split("{", 1)[0]
    return name.endswith("_seconds") and not name.endswith("_timestamp_seconds")


def number(v: float) -> str:
    """A JSON number for v, short: integers exact, else 6 significant digits below 1, 6 decimals above."""
    if isinstance(v, int):
        return str(v)
    if v != v:  # NaN has no JSON spelling; null reads back as NaN
        return "null"
    if math.isinf(v):
        return "1e999" if v > 0 else "-1e999"  # parsed back as ±inf by Python and SQLite
    if v.is_integer() and abs(v) < 2**53:
        return str(int(v))
    if abs(v) < 1:
        return f"{v:.6g}"
    return repr(round(v, 6))


def encode_values(values: Iterable[float]) -> str:
    return "[" + ",".join(number(v) for v in values) + "]"


def decode_values(text: str) -> list[float]:
    return [math.nan if v is None else float(v) for v in json.loads(text)]


def encode_json(value: Any) -> str:
    """Compact JSON for device facts; values JSON cannot hold are written as their text."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)


def keys_json(keys: Sequence[str]) -> str:
    return json.dumps(list(keys), separators=(",", ":"), ensure_ascii=False)


def samples_of(samples: Iterable[Sample]) -> Mapping[str, float]:
    """A Result's samples keyed as stored; a repeated key keeps its last value."""
    return {sample_key(s): s.value for s in samples}

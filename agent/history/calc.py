"""Pure arithmetic of the history: time-weighted status seconds and hourly sample statistics.

Kept apart from SQLite so the rules are unit-tested on hand-built data and shared by the raw
path and the roll-up path: an hour rolled up gives exactly the seconds the raw rows gave, because
both come from `status_ms`. All times are integer milliseconds, so the sums are exact.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["SampleStats", "merge_intervals", "believed_until", "status_ms", "stats_entry", "decode_entry",
           "STATUS_NAMES", "LATE_RUN"]

STATUS_NAMES = ("OK", "WARN", "CRIT", "UNKNOWN")

# A run that comes up to this many intervals after the previous one is late, not missed: the
# previous result is believed until it arrives, so scheduler jitter and slow runs cost no time.
LATE_RUN = 1.5

Span = tuple[int, int]


@dataclasses.dataclass(frozen=True, slots=True)
class SampleStats:
    """Summary of one sample over one hour; p95 only for latency-like samples (else None)."""

    n: int
    min: float
    avg: float
    max: float
    p95: float | None = None


def merge_intervals(spans: Iterable[Span], lo: int | None = None, hi: int | None = None) -> list[Span]:
    """Sorted, non-overlapping spans, optionally clipped to [lo, hi); empty spans dropped."""
    out: list[list[int]] = []
    for s, e in sorted(spans):
        if lo is not None:
            s = max(s, lo)
        if hi is not None:
            e = min(e, hi)
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def believed_until(ts: int, interval: int, nxt: int | None) -> int:
    """Until when a result started at ts is believed: the next result if it came within
    LATE_RUN intervals (a late run), else one interval (a missed run is no data, not the old status).
    """
    if nxt is not None and nxt - ts <= interval * LATE_RUN:
        return nxt
    return ts + interval


def status_ms(rows: Sequence[tuple[int, int, int]], lo: int, hi: int, alive: Sequence[Span]) -> list[int]:
    """Milliseconds per status (index = Status value) within [lo, hi).

    `rows` are (ts, status, interval) of one series sorted by ts, including the last row before
    `lo`. A row covers [ts, believed_until(ts, interval, next ts)): until the next result when that
    one came within LATE_RUN intervals, else one interval (a missed run is no data, not the old
    status). The last row covers one interval. That is further limited to when the agent was
    alive (`alive`, merged and sorted): agent down is never "link down".
    """
    out = [0, 0, 0, 0]
    k, n_alive = 0, len(alive)
    nexts: list[int | None] = [r[0] for r in rows[1:]]
    nexts.append(None)
    for (ts, status, interval), nxt in zip(rows, nexts, strict=True):
        end = min(believed_until(ts, interval, nxt), hi)
        start = max(ts, lo)
        if end <= start or not 0 <= status < 4:
            continue
        while k < n_alive and alive[k][1] <= start:
            k += 1
        if k < n_alive and alive[k][0] <= start and end <= alive[k][1]:
            out[status] += end - start  # the usual case: inside one alive stretch
            continue
        j = k
        while j < n_alive and alive[j][0] < end:
            out[status] += max(0, min(end, alive[j][1]) - max(start, alive[j][0]))
            j += 1
    return out


def _p95(ordered: Sequence[float]) -> float:
    """Nearest-rank 95th percentile (a value that was actually measured)."""
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def stats_entry(values: Sequence[float], latency: bool) -> list[float] | None:
    """The stored form of one sample over an hour, or None when it had no number at all.

    [n, v] when constant (most samples: successes, sizes, expiry times), else [n, min, avg, max],
    plus p95 for latency-like samples. NaN values are not counted.
    """
    clean = sorted(v for v in values if not math.isnan(v))
    if not clean:
        return None
    n = len(clean)
    if clean[0] == clean[-1]:
        return [n, clean[0]]
    finite = math.isfinite(clean[0]) and math.isfinite(clean[-1])
    avg = (math.fsum(clean) if finite else sum(clean)) / n  # fsum raises on inf + -inf
    entry = [n, clean[0], avg, clean[-1]]
    if latency:
        entry.append(_p95(clean))
    return entry


def decode_entry(entry: Sequence[Any], latency: bool) -> SampleStats:
    """Inverse of `stats_entry` (after JSON); JSON null reads as NaN."""
    vals = [math.nan if v is None else float(v) for v in entry[1:]]
    if len(vals) == 1:
        return SampleStats(int(entry[0]), vals[0], vals[0], vals[0], vals[0] if latency else None)
    p95 = vals[3] if len(vals) > 3 else None
    return SampleStats(int(entry[0]), vals[0], vals[1], vals[2], p95)

"""Outages as events: when each check was failing, for how long, how badly and why.

Derived from the history's transitions (kept for the whole retention): a status change to
`min_status` or worse opens an outage, a change back below it closes it. The raw results inside
(kept for `raw_retention`) then refine it: its worst status and that status's most frequent
reason, and where results stopped coming (agent stopped, check removed) the outage ends when the
last failing result stops being believed, exactly as `History.status_seconds` stops counting it
(`calc.believed_until`). Where raw results were already rolled up, the agent's alive intervals
bound it instead, and the worst status comes from the transitions (reason unknown).

Everything is read as of `until`: an outage not over by then has `end=None`; `length(until)`
is its length inside the window. Starts before `since` are clipped to `since`.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections import Counter
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from dxagent.history.calc import LATE_RUN, Span, merge_intervals
from dxagent.history.schema import from_ms, to_ms
from dxagent.model import Status

if TYPE_CHECKING:
    from dxagent.history import History

__all__ = ["Outage", "outages"]


@dataclasses.dataclass(frozen=True)
class Outage:
    """One (check, target) at or above `min_status` without a break; times in unix seconds."""

    check_id: str
    target: str
    start: float          # first failing result (or `since` if it was already failing then)
    end: float | None     # first result below min_status afterwards (or end of data); None while ongoing
    worst: Status
    reason: str | None    # Reason value of the worst results (the most frequent one), None if unknown

    def length(self, now: float) -> float:
        """Seconds from start to end, or to `now` while ongoing (never negative)."""
        return max(0.0, (self.end if self.end is not None else now) - self.start)


@dataclasses.dataclass
class _Piece:
    start: int
    end: int | None
    worst: int
    reasons: Counter[str]


def outages(history: History, since: float, until: float, check_ids: Collection[str] | None = None,
            *, min_status: Status = Status.CRIT) -> list[Outage]:
    """Outages overlapping [since, until) of the selected checks (all when None), ordered by start."""
    lo, hi = to_ms(since), to_ms(until)
    if hi <= lo:
        return []
    level = int(min_status)

    def read() -> list[Outage]:
        conn: sqlite3.Connection = history._conn
        wanted = None if check_ids is None else set(check_ids)
        names = {sid: (cid, tgt) for sid, (cid, tgt, _) in history._series_by_id.items()
                 if wanted is None or cid in wanted}
        if not names:
            return []
        runs = _bad_runs(conn, names, lo, hi, level)
        if not runs:
            return []
        cut = history._rollup_until
        alive = merge_intervals(conn.execute("SELECT start, end FROM alive WHERE end > ? AND start < ?",
                                             (min(s for _, s, _, _ in runs) - 1, hi)).fetchall())
        out = []
        for sid, start, end, statuses in runs:
            for p in _refine(conn, sid, start, end, statuses, lo, hi, level, cut, alive):
                worst = Status(p.worst)
                reason = p.reasons.most_common(1)[0][0] if p.reasons else None
                cid, tgt = names[sid]
                out.append(Outage(cid, tgt, from_ms(max(p.start, lo)), None if p.end is None else from_ms(p.end),
                                  worst, reason))
        out.sort(key=lambda o: (o.start, o.check_id, o.target))
        return out

    return history._guard(read)


def _bad_runs(conn: sqlite3.Connection, names: dict[int, tuple[str, str]], lo: int, hi: int,
              level: int) -> list[tuple[int, int, int | None, list[int]]]:
    """(series, start, end or None, statuses seen) of each stretch at or above `level` by transitions."""
    state: dict[int, tuple[int, int]] = {}  # series -> (ts, status) of the last change before lo
    for sid, ts, new in conn.execute("SELECT series, max(ts), new FROM transitions WHERE ts < ? GROUP BY series",
                                     (lo,)):
        if sid in names:
            state[sid] = (ts, new)
    open_runs: dict[int, tuple[int, list[int]]] = {}
    for sid, (ts, new) in state.items():
        if new >= level:
            open_runs[sid] = (ts, [new])  # began before the window (its start is refined, then clipped)
    runs: list[tuple[int, int, int | None, list[int]]] = []
    for sid, ts, new in conn.execute("SELECT series, ts, new FROM transitions WHERE ts >= ? AND ts < ? ORDER BY ts",
                                     (lo, hi)):
        if sid not in names:
            continue
        if new >= level:
            if sid in open_runs:
                open_runs[sid][1].append(new)
            else:
                open_runs[sid] = (ts, [new])
        elif sid in open_runs:
            start, statuses = open_runs.pop(sid)
            runs.append((sid, start, ts, statuses))
    runs.extend((sid, start, None, statuses) for sid, (start, statuses) in open_runs.items())
    return runs


def _refine(conn: sqlite3.Connection, sid: int, start: int, end: int | None, statuses: list[int],
            lo: int, hi: int, level: int, cut: int, alive: Sequence[Span]) -> list[_Piece]:
    """Split one stretch where its results stopped coming; worst status and reasons from the results."""
    stop = hi if end is None else min(end, hi)
    rolled: list[_Piece] = []
    if start < cut:  # raw results rolled up: the agent's liveness is all we know
        rolled = [_Piece(s, e, max(statuses), Counter()) for s, e in merge_intervals(alive, start, min(stop, cut))]
    pieces: list[_Piece] = []
    cols = "SELECT ts, status, reason, interval_ms FROM raw WHERE series = ?"
    rows = conn.execute(f"{cols} AND ts >= ? AND ts < ? ORDER BY ts", (sid, max(start, cut, lo), stop)).fetchall()
    if start < lo:  # already failing at lo: the last result before the window decides if it still counted
        before = conn.execute(f"{cols} AND ts >= ? AND ts < ? ORDER BY ts DESC LIMIT 1",
                              (sid, max(start, cut), lo)).fetchone()
        rows = ([before] if before else []) + rows
    after = None
    if end is None or end > hi:
        after = conn.execute("SELECT ts FROM raw WHERE series = ? AND ts >= ? ORDER BY ts LIMIT 1",
                             (sid, hi)).fetchone()
    cur: _Piece | None = None
    last: tuple[int, int] | None = None  # (ts, interval) of the last failing result
    for ts, status, reason, interval in rows:
        if cur is not None and last is not None and ts - last[0] > last[1] * LATE_RUN:
            cur.end = _alive_end(alive, last[0], last[0] + last[1])  # results stopped: it ends with belief
            pieces.append(cur)
            cur = None
        if status < level:  # inconsistent with transitions (e.g. rows dropped by the size cap): trust the rows
            if cur is not None:
                cur.end = ts
                pieces.append(cur)
                cur = None
            last = None
            continue
        if cur is None:
            cur = _Piece(ts, None, status, Counter())
        if status > cur.worst:
            cur.worst, cur.reasons = status, Counter()
        if status == cur.worst and reason:
            cur.reasons[reason] += 1
        last = (ts, interval)
    if cur is not None and last is not None:
        ts, interval = last
        if end is not None and end <= hi:  # closed inside the window by a result below min_status
            cur.end = end if end - ts <= interval * LATE_RUN else _alive_end(alive, ts, ts + interval)
        else:  # still failing at `until` by the transitions: was its last result still believed then?
            nxt = after[0] if after else None
            if (nxt is None and ts + interval * LATE_RUN >= hi) or (nxt is not None and nxt - ts <= interval * LATE_RUN):
                cur.end = None
            else:
                cur.end = _alive_end(alive, ts, ts + interval)
        if cur.end is not None and cur.end >= hi:
            cur.end = None
        pieces.append(cur)
    if rolled and pieces and rolled[-1].end == cut and pieces[0].start - cut <= rows[0][3] * LATE_RUN:
        _absorb(rolled[-1], pieces.pop(0))  # one stretch across the roll-up boundary
    if not rows and start >= cut:  # raw rows gone (size cap) but the change is known: liveness bounds it
        pieces = [_Piece(s, None if e >= hi else e, max(statuses), Counter())
                  for s, e in merge_intervals(alive, start, stop)]
    return [p for p in rolled + pieces if p.end is None or p.end > lo]


def _alive_end(alive: Sequence[Span], ts: int, end: int) -> int:
    """`end`, cut short where the agent's alive stretch holding ts ended (it stopped meanwhile)."""
    for s, e in alive:
        if s <= ts <= e:
            return max(ts, min(end, e))
    return end


def _absorb(into: _Piece, p: _Piece) -> None:
    """Extend `into` by the piece that follows it."""
    into.end = p.end
    if p.worst > into.worst:
        into.worst, into.reasons = p.worst, p.reasons
    elif p.worst == into.worst:
        into.reasons.update(p.reasons)

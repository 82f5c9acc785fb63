"""The latest Result of every (check, target), kept in memory for scrapes, the API and reports.

One writer (the daemon's loop) and many readers (scrape threads). The whole state is one
immutable object replaced by a single attribute assignment, so a reader that fetched it once
sees either the state before an update or the state after it, never a mix, and needs no lock.
The flat, ordered snapshot is built on the first read after an update, not by every update:
checks finish several times a second, scrapes come every 15 s or so, and sorting every
result on each update was a tenth of the daemon's CPU per check run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import NamedTuple

from dxagent.model import Result

__all__ = ["Latest"]


class _State(NamedTuple):
    """Everything a reader may see, built completely before it is published."""

    by_check: Mapping[str, tuple[Result, ...]]
    snapshot: tuple[Result, ...] | None  # None until a reader asks for it
    order: tuple[str, ...]


def _build(by_check: dict[str, tuple[Result, ...]], order: tuple[str, ...]) -> _State:
    return _State(MappingProxyType(dict(by_check)), None, order)


def _flatten(state: _State) -> tuple[Result, ...]:
    rank = {cid: i for i, cid in enumerate(state.order)}
    # Known ids in config order; ids not (yet) in the order keep their first-update order after them.
    ids = sorted(state.by_check, key=lambda cid: (0, rank[cid]) if cid in rank else (1, 0))
    return tuple(r for cid in ids for r in state.by_check[cid])


class Latest:
    """Latest results per check id; `update` from one writer, `snapshot`/`get` from any thread."""

    def __init__(self, order: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()  # serialises writers only; readers never take it
        self._state = _build({}, tuple(order))

    def update(self, results: Iterable[Result]) -> None:
        """Replace all results of the check ids present in `results`.

        A check that now reports fewer targets loses the old ones: the new results of a check
        id are its whole truth, so a target removed from a check's config disappears from metrics.
        """
        fresh: dict[str, list[Result]] = {}
        for r in results:
            fresh.setdefault(r.check_id, []).append(r)
        if not fresh:
            return
        with self._lock:
            state = self._state
            by_check = dict(state.by_check)
            for cid, items in fresh.items():
                by_check[cid] = tuple(items)
            self._state = _build(by_check, state.order)

    def retain(self, check_ids: Iterable[str]) -> None:
        """Keep only `check_ids` (the checks of a reloaded config), in that order."""
        order = tuple(dict.fromkeys(check_ids))
        keep = set(order)
        with self._lock:
            state = self._state
            by_check = {cid: rs for cid, rs in state.by_check.items() if cid in keep}
            self._state = _build(by_check, order)

    def snapshot(self) -> tuple[Result, ...]:
        """Every latest result, checks in config order, each check's targets in probe order."""
        snapshot = self._state.snapshot
        if snapshot is None:
            with self._lock:  # build once per update, published like an update
                state = self._state
                snapshot = state.snapshot
                if snapshot is None:
                    snapshot = _flatten(state)
                    self._state = state._replace(snapshot=snapshot)
        return snapshot

    def get(self, check_id: str) -> tuple[Result, ...]:
        """The latest results of one check (empty when it has not run or was removed)."""
        return self._state.by_check.get(check_id, ())

    def check_ids(self) -> tuple[str, ...]:
        """Check ids that have results, in snapshot order."""
        return tuple(dict.fromkeys(r.check_id for r in self.snapshot()))

    def __len__(self) -> int:
        return sum(len(rs) for rs in self._state.by_check.values())

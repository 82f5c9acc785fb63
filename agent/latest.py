"""The latest Result of every (check, target), kept in memory for scrapes, the API and reports.

One writer (the daemon's loop) and many readers (scrape threads). The whole state is one
immutable object replaced by a single attribute assignment, so a reader that fetched it once
sees either the state before an update or the state after it, never a mix, and needs no lock.
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
    snapshot: tuple[Result, ...]
    order: tuple[str, ...]


def _build(by_check: dict[str, tuple[Result, ...]], order: tuple[str, ...]) -> _State:
    rank = {cid: i for i, cid in enumerate(order)}
    # Known ids in config order; ids not (yet) in the order keep their first-update order after them.
    ids = sorted(by_check, key=lambda cid: (0, rank[cid]) if cid in rank else (1, 0))
    snapshot = tuple(r for cid in ids for r in by_check[cid])
    return _State(MappingProxyType(dict(by_check)), snapshot, order)


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
        return self._state.snapshot

    def get(self, check_id: str) -> tuple[Result, ...]:
        """The latest results of one check (empty when it has not run or was removed)."""
        return self._state.by_check.get(check_id, ())

    def check_ids(self) -> tuple[str, ...]:
        """Check ids that have results, in snapshot order."""
        return tuple(dict.fromkeys(r.check_id for r in self._state.snapshot))

    def __len__(self) -> int:
        return len(self._state.snapshot)

"""Where a site report's facts come from: the History store, a results snapshot, the config.

The evaluation only sees the small `SiteData` interface below, so it stays pure and testable;
`StoreData` reads a `dxagent.history.History` (plus, optionally, the latest snapshot and the
config for check groups), `SnapshotData` reads a snapshot alone (no history: windowed measures
come out "unknown", honestly).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from dxagent.history.outages import Outage, outages
from dxagent.model import Status

__all__ = ["CheckInfo", "Obs", "SiteData", "StoreData", "SnapshotData", "snapshot_obs", "read_snapshot",
           "sample_key"]

# A latest result older than this many intervals (and at least STALE_MIN seconds) is not "current".
STALE_INTERVALS = 3
STALE_MIN = 900.0


@dataclasses.dataclass(frozen=True, slots=True)
class CheckInfo:
    """A configured (or observed) check: its id, kind and config groups."""

    check_id: str
    kind: str
    groups: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Obs:
    """One result for one (check, target): status, time and samples keyed `name{label="v",…}`."""

    check_id: str
    kind: str
    target: str
    status: Status
    ts: float
    samples: Mapping[str, float]
    interval: float = 0.0


class SiteData(Protocol):
    """What the evaluation needs to know about one site."""

    checks: Sequence[CheckInfo]
    staff: int | None

    def latest(self, check_ids: Sequence[str], until: float) -> list[Obs]:
        """The latest, still fresh result per (check, target) at `until`."""

    def rows(self, check_ids: Sequence[str], since: float, until: float) -> list[Obs] | None:
        """Every result in [since, until); None when there is no history at all."""

    def status_seconds(self, check_ids: Sequence[str], since: float, until: float
                       ) -> dict[tuple[str, str], dict[str, float]] | None:
        """Time-weighted seconds per status and 'nodata'; None when there is no history."""

    def alive_seconds(self, since: float, until: float) -> float | None:
        """How long the agent ran in the period; None when unknown."""

    def outages(self, since: float, until: float, *, min_status: Status = Status.CRIT) -> list[Outage] | None:
        """Per-check outages overlapping [since, until) (dxagent.history.outages); None without history."""


def sample_key(name: str, labels: Mapping[str, str]) -> str:
    """The store's key for a sample: `name` or `name{a="1",b="2"}` with labels sorted."""
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _stale(obs: Obs, until: float) -> bool:
    return obs.ts < until - max(STALE_INTERVALS * obs.interval, STALE_MIN)


def snapshot_obs(doc: Mapping[str, Any]) -> list[Obs]:
    """The results of a snapshot / `dxagent check --format json` document as observations."""
    out = []
    generated = float(doc.get("generated_at") or 0.0)
    for r in doc.get("results") or []:
        samples = {}
        for s in r.get("samples") or []:
            value = s.get("value")
            if isinstance(value, (int, float)):
                samples[sample_key(str(s.get("name")), s.get("labels") or {})] = float(value)
        out.append(Obs(str(r.get("id", "")), str(r.get("kind", "")), str(r.get("target", "")),
                       Status[str(r.get("status", "UNKNOWN"))], float(r.get("started") or generated), samples))
    return out


def read_snapshot(path: Path) -> dict[str, Any]:
    """Load a results snapshot; ValueError with the reason when it is not one."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read snapshot: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise ValueError(f"{path}: not a dxagent results snapshot (no 'results' list)")
    return doc


class SnapshotData:
    """A site known only from its latest snapshot: current state, no history."""

    def __init__(self, doc: Mapping[str, Any], checks: Iterable[CheckInfo] = (), staff: int | None = None) -> None:
        self.obs = snapshot_obs(doc)
        self.generated = float(doc.get("generated_at") or 0.0)
        known = {c.check_id: c for c in checks}
        for o in self.obs:
            known.setdefault(o.check_id, CheckInfo(o.check_id, o.kind))
        self.checks = list(known.values())
        site = doc.get("site") or {}
        self.staff = staff if staff is not None else site.get("staff")

    def latest(self, check_ids: Sequence[str], until: float) -> list[Obs]:
        wanted = set(check_ids)
        return [o for o in self.obs if o.check_id in wanted]

    def rows(self, check_ids: Sequence[str], since: float, until: float) -> list[Obs] | None:
        return None

    def status_seconds(self, check_ids: Sequence[str], since: float, until: float
                       ) -> dict[tuple[str, str], dict[str, float]] | None:
        return None

    def alive_seconds(self, since: float, until: float) -> float | None:
        return None

    def outages(self, since: float, until: float, *, min_status: Status = Status.CRIT) -> list[Outage] | None:
        return None


class StoreData:
    """A site read from its History store, with the config's checks and optionally a fresher snapshot."""

    def __init__(self, history: Any, checks: Iterable[CheckInfo] = (), staff: int | None = None,
                 snapshot: Mapping[str, Any] | None = None, discover_since: float | None = None,
                 discover_until: float | None = None) -> None:
        self.history = history
        self.staff = staff
        self.snapshot = SnapshotData(snapshot) if snapshot is not None else None
        known = {c.check_id: c for c in checks}
        if discover_since is not None and discover_until is not None:
            # Checks seen in the last day but not configured any more still count: they have data.
            for row in history.results(max(discover_since, discover_until - 86400), discover_until):
                known.setdefault(row.check_id, CheckInfo(row.check_id, row.kind))
        if self.snapshot is not None:
            for c in self.snapshot.checks:
                known.setdefault(c.check_id, c)
        self.checks = list(known.values())

    @staticmethod
    def _obs(row: Any) -> Obs:
        return Obs(row.check_id, row.kind, row.target, Status(row.status), float(row.ts),
                   dict(row.samples), float(row.interval or 0.0))

    def latest(self, check_ids: Sequence[str], until: float) -> list[Obs]:
        if not check_ids:
            return []
        found: dict[tuple[str, str], Obs] = {}
        if self.snapshot is not None and self.snapshot.generated <= until:
            for o in self.snapshot.latest(check_ids, until):
                found[(o.check_id, o.target)] = o
        lookback = until - 2 * 86400
        for row in self.history.results(lookback, until, check_ids=list(check_ids)):
            o = self._obs(row)
            prev = found.get((o.check_id, o.target))
            if prev is None or o.ts >= prev.ts:
                found[(o.check_id, o.target)] = o
        return [o for o in found.values() if o.interval == 0 or not _stale(o, until)]

    def rows(self, check_ids: Sequence[str], since: float, until: float) -> list[Obs] | None:
        if not check_ids:
            return []
        return [self._obs(r) for r in self.history.results(since, until, check_ids=list(check_ids))]

    def status_seconds(self, check_ids: Sequence[str], since: float, until: float
                       ) -> dict[tuple[str, str], dict[str, float]] | None:
        if not check_ids:
            return {}
        return dict(self.history.status_seconds(since, until, check_ids=list(check_ids)))

    def alive_seconds(self, since: float, until: float) -> float | None:
        return sum(max(0.0, min(b, until) - max(a, since)) for a, b in self.history.alive_intervals(since, until))

    def outages(self, since: float, until: float, *, min_status: Status = Status.CRIT) -> list[Outage] | None:
        return outages(self.history, since, until, min_status=min_status)


def matching_checks(checks: Sequence[CheckInfo], kinds: Sequence[str], ids: Sequence[str],
                    groups: Sequence[str]) -> list[CheckInfo]:
    """Checks of one of `kinds` (any when empty) whose id matches a glob of `ids` or that are in `groups`."""
    out = []
    for c in checks:
        if kinds and c.kind not in kinds:
            continue
        if (ids or groups) and not (any(fnmatch.fnmatchcase(c.check_id, p) for p in ids)
                                    or set(c.groups) & set(groups)):
            continue
        out.append(c)
    return out

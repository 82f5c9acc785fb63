"""The rows the history hands out: immutable, in seconds and Status, independent of the storage."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from dxagent.history.calc import SampleStats
from dxagent.model import Status

__all__ = ["HistoryRow", "Transition", "DeviceRow", "RollupRow"]


@dataclasses.dataclass(frozen=True)
class HistoryRow:
    """One stored result; `samples` keyed `name` or `name{label="v",...}` (labels sorted)."""

    ts: float
    check_id: str
    kind: str
    target: str
    status: Status
    reason: str | None
    duration: float
    interval: float
    samples: Mapping[str, float]


@dataclasses.dataclass(frozen=True)
class Transition:
    """A status change of one (check, target); `old` is None for its first result ever."""

    ts: float
    check_id: str
    target: str
    old: Status | None
    new: Status


@dataclasses.dataclass(frozen=True)
class DeviceRow:
    """A device seen on the network or in the inventory, with its latest facts."""

    key: str
    first_seen: float
    last_seen: float
    facts: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class RollupRow:
    """One (check, target) over one hour, after its raw results aged out."""

    hour: float
    check_id: str
    kind: str
    target: str
    count: int
    seconds: Mapping[str, float]
    duration: SampleStats | None
    samples: Mapping[str, SampleStats]

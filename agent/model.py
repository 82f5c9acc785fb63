"""Core types shared by every part of dxagent: Status, Reason, Text, Sample and Result.

Checks produce Results; exporters, the store, reports and the CLI only read them. Results are
immutable so that a snapshot handed to a scrape can never change under it.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["Reason", "Result", "Sample", "Status", "Text", "t", "worst"]


class Status(enum.IntEnum):
    """Check outcome in Nagios order: the worst status of a run is the exit code."""

    OK = 0
    WARN = 1
    CRIT = 2
    UNKNOWN = 3

    @property
    def label(self) -> str:
        return self.name


def worst(statuses: Iterable[Status]) -> Status:
    """The worst status, ranking UNKNOWN below CRIT but above WARN for display.

    Nagios uses the numeric maximum as exit code (UNKNOWN=3 wins); we keep that convention
    for the exit code so that scripts see "could not tell" distinctly.
    """
    result = Status.OK
    for s in statuses:
        if s > result:
            result = s
    return result


class Reason(enum.StrEnum):
    """Why a check failed: a small fixed set, safe to use as a metric label."""

    DNS = "dns"
    CONNECT = "connect"
    TIMEOUT = "timeout"
    TLS = "tls"
    STATUS = "status"
    CONTENT = "content"
    AUTH = "auth"
    PERMISSION = "permission"
    CONFIG = "config"
    INTERNAL = "internal"
    THRESHOLD = "threshold"
    DOWN = "down"


@dataclasses.dataclass(frozen=True, slots=True)
class Text:
    """A message in English and Vietnamese; the CLI, reports and API pick one language."""

    en: str
    vi: str

    def get(self, lang: str) -> str:
        return self.vi if lang == "vi" else self.en

    def __str__(self) -> str:
        return self.en


def t(en: str, vi: str, /, **params: Any) -> Text:
    """Build a bilingual message, formatting both templates with the same parameters."""
    if params:
        return Text(en.format(**params), vi.format(**params))
    return Text(en, vi)


Labels = tuple[tuple[str, str], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    """One measurement: a metric name (without the dxagent_ prefix), labels and a value.

    Names follow Prometheus conventions in base units (seconds, bytes, ratio 0-1); the exporter
    adds the prefix and the check/target labels.
    """

    name: str
    value: float
    labels: Labels = ()

    @staticmethod
    def of(name: str, value: float | int | bool, **labels: object) -> Sample:
        return Sample(name, float(value), tuple(sorted((k, str(v)) for k, v in labels.items())))

    def to_dict(self) -> dict[str, Any]:
        value: float | str | None = self.value
        if math.isnan(self.value):
            value = None
        elif math.isinf(self.value):
            value = "+Inf" if self.value > 0 else "-Inf"
        return {"name": self.name, "labels": dict(self.labels), "value": value}


@dataclasses.dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one check against one target.

    `details` holds structured facts (certificate subject, interface speed, …) for reports and
    JSON; it must contain only JSON-compatible values. `started` is a Unix timestamp.
    """

    check_id: str
    kind: str
    target: str
    status: Status
    summary: Text
    hint: Text | None = None
    reason: Reason | None = None
    samples: tuple[Sample, ...] = ()
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    started: float = 0.0
    duration: float = 0.0
    attempts: int = 1

    def replace(self, **changes: Any) -> Result:
        return dataclasses.replace(self, **changes)

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        """The stable JSON form (see docs/json-output.md); one language for the texts."""
        return {
            "id": self.check_id,
            "kind": self.kind,
            "target": self.target,
            "status": self.status.name,
            "status_code": int(self.status),
            "reason": self.reason.value if self.reason else None,
            "summary": self.summary.get(lang),
            "hint": self.hint.get(lang) if self.hint else None,
            "started": self.started,
            "duration_seconds": round(self.duration, 6),
            "attempts": self.attempts,
            "samples": [s.to_dict() for s in self.samples],
            "details": dict(self.details),
        }

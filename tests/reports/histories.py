"""Hand-built site histories in a REAL `dxagent.history.History` file, for golden report tests.

`Site(tmp_path)` opens a History; `series(check, kind, target, start, end, interval, status_at, samples_at)`
records one result per interval (status and samples may depend on the time), recording one step per
transaction so that liveness follows the results exactly as the daemon's would; times where
`alive(ts)` is false get no result and no heartbeat (the agent was down).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dxagent.history import History
from dxagent.model import Result, Sample, Status, t
from dxagent.reports.data import CheckInfo

T0 = 1_750_000_000.0  # a fixed origin: golden numbers never depend on the wall clock
DAY = 86400.0
INTERVAL = 600.0

SampleFn = Callable[[float], Mapping[str, Any]]


def result(check: str, kind: str, target: str, ts: float, status: Status = Status.OK,
           samples: Mapping[str, Any] | None = None) -> Result:
    """A Result with samples given as {'name': v} or {'name{label=v}': v} (one label at most, for brevity)."""
    out = []
    for key, value in (samples or {}).items():
        if "{" in key:
            name, label = key[:-1].split("{")
            k, v = label.split("=")
            out.append(Sample.of(name, value, **{k: v.strip('"')}))
        else:
            out.append(Sample.of(key, value))
    return Result(check, kind, target, status, t("test", "thử"), samples=tuple(out), started=ts)


class Site:
    """A History being filled with a scripted past."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "history.sqlite"
        self.history = History.open(self.path, heartbeat_gap=2 * INTERVAL)
        self.checks: dict[str, CheckInfo] = {}

    def steps(self, start: float, end: float, series: list[tuple[str, str, str, Callable[[float], Status], SampleFn]],
              alive: Callable[[float], bool] = lambda ts: True, groups: Mapping[str, tuple[str, ...]] | None = None,
              interval: float = INTERVAL) -> None:
        """Record every series at each step in [start, end) where the agent was alive."""
        for check, kind, _, _, _ in series:
            self.checks[check] = CheckInfo(check, kind, tuple((groups or {}).get(check, ())))
        ts = start
        while ts < end:
            if alive(ts):
                batch = [result(c, k, tg, ts, st(ts), sm(ts)) for c, k, tg, st, sm in series]
                self.history.record(batch, {c: interval for c, *_ in series})
            ts += interval

    def close(self) -> None:
        self.history.close()


def ok(ts: float) -> Status:
    return Status.OK


def no_samples(ts: float) -> dict[str, Any]:
    return {}

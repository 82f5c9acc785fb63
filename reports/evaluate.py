"""Evaluate a readiness profile against one site's data: met / not met / unknown per target.

Pure: every fact comes through `dxagent.reports.data.SiteData`, so hand-built histories give
golden results. Missing data is never "met": a criterion without data is unknown, and a
"worst"-aggregated criterion with some checks lacking data is unknown unless a known value
already fails. Availability is the time-weighted share of *measured* time in a good status:
time when the agent was down or a check had no data is a gap (reported), not an outage.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

from dxagent.model import Status, Text, t
from dxagent.reports.data import CheckInfo, Obs, SiteData, matching_checks
from dxagent.reports.profile import Criterion, Profile, SampleSpec, Selection, Target, parse_sample_key

__all__ = ["KeyValue", "CriterionResult", "TargetResult", "Evaluation", "evaluate", "window_of", "MET", "NOT_MET",
           "UNKNOWN"]

MET, NOT_MET, UNKNOWN = "met", "not_met", "unknown"
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq,
}
_REL_TOL = 1e-9  # 0.995 computed as 2578443/2591400 must equal the decimal threshold 0.995
SERIES_POINTS = 48


@dataclasses.dataclass
class KeyValue:
    """The measured value for one (check, target), or why there is none."""

    check_id: str
    kind: str
    target: str
    value: float | None
    why: Text | None = None
    seconds: dict[str, float] | None = None
    series: list[tuple[float, float]] | None = None


@dataclasses.dataclass
class CriterionResult:
    criterion: Criterion
    selection: Selection
    outcome: str
    value: float | None
    at_risk: bool
    why: Text | None
    since: float
    until: float
    keys: list[KeyValue]


@dataclasses.dataclass
class TargetResult:
    target: Target
    outcome: str
    at_risk: bool
    criteria: list[CriterionResult]


@dataclasses.dataclass
class Evaluation:
    profile: Profile
    since: float
    until: float
    targets: list[TargetResult]
    score: float
    known_weight: float
    alive_seconds: float | None

    def counts(self) -> dict[str, int]:
        out = {MET: 0, NOT_MET: 0, UNKNOWN: 0}
        for tr in self.targets:
            out[tr.outcome] += 1
        return out


def compare(value: float, op: str, limit: float) -> bool:
    """`value op limit`, where values within a relative 1e-9 of the limit count as equal to it."""
    if math.isclose(value, limit, rel_tol=_REL_TOL, abs_tol=1e-12):
        return op in (">=", "<=", "==")
    return _OPS[op](value, limit)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (the value below which p% of the samples fall): no interpolation, so a
    hand-checkable sample gives an exact answer."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _aggregate(values: list[float], how: str, op: str) -> float:
    if how == "mean":
        return sum(values) / len(values)
    if how == "sum":
        return sum(values)
    lower_is_worse = op in (">=", ">", "==")
    worst = min(values) if lower_is_worse else max(values)
    best = max(values) if lower_is_worse else min(values)
    return worst if how == "worst" else best


def _target_ok(target: str, sel: Selection) -> bool:
    return not sel.targets or any(fnmatch.fnmatchcase(target, p) for p in sel.targets)


def _sample_values(obs: Obs, specs: Sequence[SampleSpec], absolute: bool) -> list[float]:
    out = []
    for key, value in obs.samples.items():
        name, labels = parse_sample_key(key)
        if any(s.matches(name, labels) for s in specs) and not math.isnan(value):
            out.append(abs(value) if absolute else value)
    return out


def _no_checks(sel: Selection) -> Text:
    return t("no configured check matches ({sel})", "không có kiểm tra nào khớp ({sel})", sel=sel.describe())


_NO_DATA = t("no data in the period", "không có dữ liệu trong kỳ")
_NO_HISTORY = t("no history available (snapshot only)", "không có lịch sử (chỉ có ảnh chụp kết quả)")


class _Evaluator:
    def __init__(self, data: SiteData, until: float, period: float) -> None:
        self.data = data
        self.until = until
        self.period = period

    def criterion(self, target: Target, c: Criterion) -> CriterionResult:
        sel = target.selection(c)
        since = self.until - window_of(c, self.period)
        checks = matching_checks(self.data.checks, sel.kinds, sel.ids, sel.groups)
        if not checks:
            return CriterionResult(c, sel, UNKNOWN, None, False, _no_checks(sel), since, self.until, [])
        measure = getattr(self, "_m_" + c.measure if c.measure != "ratio" else "_m_value")
        keys, value, why = measure(c, sel, checks, since)
        return self._judge(c, sel, keys, value, why, since)

    def _judge(self, c: Criterion, sel: Selection, keys: list[KeyValue], value: float | None, why: Text | None,
               since: float) -> CriterionResult:
        known = [k.value for k in keys if k.value is not None]
        partial = len(known) < len(keys)
        if value is None and known and why is None:
            value = _aggregate(known, c.aggregate, c.compare)
        if value is None:
            reasons = {k.why for k in keys if k.why is not None}
            why = why or (reasons.pop() if len(reasons) == 1 else _NO_DATA)
            return CriterionResult(c, sel, UNKNOWN, None, False, why, since, self.until, keys)
        ok = compare(value, c.compare, c.threshold)
        if ok and partial and c.aggregate != "best":
            why = t("{n} of {total} checks have no data", "{n}/{total} kiểm tra không có dữ liệu",
                    n=len(keys) - len(known), total=len(keys))
            return CriterionResult(c, sel, UNKNOWN, value, False, why, since, self.until, keys)
        at_risk = ok and c.warn is not None and not compare(value, c.compare, c.warn)
        return CriterionResult(c, sel, MET if ok else NOT_MET, value, at_risk, None, since, self.until, keys)

    def _latest_keys(self, sel: Selection, checks: list[CheckInfo]) -> list[tuple[CheckInfo, Obs | None]]:
        latest = self.data.latest([ch.check_id for ch in checks], self.until)
        by_check: dict[str, list[Obs]] = {}
        for o in latest:
            if _target_ok(o.target, sel):
                by_check.setdefault(o.check_id, []).append(o)
        out: list[tuple[CheckInfo, Obs | None]] = []
        for ch in checks:
            found = by_check.get(ch.check_id)
            out.extend((ch, o) for o in found) if found else out.append((ch, None))
        return out

    def _m_state(self, c: Criterion, sel: Selection, checks: list[CheckInfo], since: float) -> Any:
        good = {Status[s] for s in c.statuses}
        keys = []
        for ch, o in self._latest_keys(sel, checks):
            if o is None:
                keys.append(KeyValue(ch.check_id, ch.kind, "", None, _NO_DATA))
            else:
                keys.append(KeyValue(o.check_id, o.kind, o.target, 1.0 if o.status in good else 0.0))
        return keys, None, None

    def _m_count(self, c: Criterion, sel: Selection, checks: list[CheckInfo], since: float) -> Any:
        keys, _, _ = self._m_state(c, sel, checks, since)
        if c.sample:  # only results that carry the sample (a certificate), not "no file matched"
            specs = c.specs()
            carrying = {(o.check_id, o.target) for _, o in self._latest_keys(sel, checks)
                        if o is not None and _sample_values(o, specs, False)}
            keys = [k for k in keys if (k.check_id, k.target) in carrying]
        measured = [k for k in keys if k.value is not None]
        if not measured:
            return keys, None, _NO_DATA
        n = sum(k.value for k in measured if k.value)
        if c.per_staff:
            if not self.data.staff:
                return keys, None, t("the site's staff count is not set (site.staff in the config)",
                                     "chưa khai báo số cán bộ (site.staff trong cấu hình)")
            return [k for k in measured], n / self.data.staff, None
        return [k for k in measured], float(n), None

    def _m_value(self, c: Criterion, sel: Selection, checks: list[CheckInfo], since: float) -> Any:
        specs = c.specs()
        keys = []
        for ch, o in self._latest_keys(sel, checks):
            if o is None:
                keys.append(KeyValue(ch.check_id, ch.kind, "", None, _NO_DATA))
                continue
            values = _sample_values(o, specs, c.absolute)
            if values:
                keys.append(KeyValue(o.check_id, o.kind, o.target, _aggregate(values, c.aggregate, c.compare)))
            else:
                keys.append(KeyValue(o.check_id, o.kind, o.target, None,
                                     t("the latest result has no {s} sample", "kết quả mới nhất không có số đo {s}",
                                       s=" / ".join(c.sample))))
        return keys, None, None

    def _m_days_left(self, c: Criterion, sel: Selection, checks: list[CheckInfo], since: float) -> Any:
        """Days from the evaluation time to a not-after timestamp sample (negative once expired).

        Checks export certificate not-after times, not "days left" gauges (base units, and a gauge
        would be stale by the time a report reads it), so days are computed here at `until`.
        """
        keys, value, why = self._m_value(c, sel, checks, since)
        keys = [k if k.value is None else dataclasses.replace(k, value=(k.value - self.until) / 86400.0) for k in keys]
        return keys, value, why

    def _m_availability(self, c: Criterion, sel: Selection, checks: list[CheckInfo], since: float) -> Any:
        table = self.data.status_seconds([ch.check_id for ch in checks], since, self.until)
        if table is None:
            return [], None, _NO_HISTORY
        good = set(c.statuses)
        bad = {"OK", "WARN", "CRIT"} - good
        window = self.until - since
        kinds = {ch.check_id: ch.kind for ch in checks}
        keys = []
        seen = set()
        for (check_id, target), secs in sorted(table.items()):
            if check_id not in kinds or not _target_ok(target, sel):
                continue
            seen.add(check_id)
            up = sum(secs.get(s, 0.0) for s in good)
            down = sum(secs.get(s, 0.0) for s in bad)
            coverage = (up + down) / window if window > 0 else 0.0
            seconds = {k: round(v, 3) for k, v in secs.items()}
            if up + down <= 0 or coverage < c.min_coverage:
                why = t("data covers {cov:.1%} of the period (need {need:.0%})",
                        "dữ liệu chỉ phủ {cov:.1%} của kỳ (cần {need:.0%})", cov=coverage, need=c.min_coverage)
                keys.append(KeyValue(check_id, kinds[check_id], target, None, why, seconds))
            else:
                keys.append(KeyValue(check_id, kinds[check_id], target, up / (up + down), None, seconds))
        for ch in checks:
            if ch.check_id not in seen:
                keys.append(KeyValue(ch.check_id, ch.kind, "", None, _NO_DATA))
        return keys, None, None

    def _windowed(self, c: Criterion, sel: Selection, checks: list[CheckInfo], since: float,
                  reduce: Callable[[list[float]], float]) -> Any:
        rows = self.data.rows([ch.check_id for ch in checks], since, self.until)
        if rows is None:
            return [], None, _NO_HISTORY
        specs = c.specs()
        per: dict[tuple[str, str], list[tuple[float, float]]] = {}
        kinds = {ch.check_id: ch.kind for ch in checks}
        for o in rows:
            if o.check_id in kinds and _target_ok(o.target, sel):
                vals = _sample_values(o, specs, c.absolute)
                if vals:
                    per.setdefault((o.check_id, o.target), []).append((o.ts, _aggregate(vals, c.aggregate, c.compare)))
        keys = []
        step = (self.until - since) / SERIES_POINTS
        for (check_id, target), points in sorted(per.items()):
            values = [v for _, v in points]
            buckets: dict[int, list[float]] = {}
            for ts, v in points:
                buckets.setdefault(min(SERIES_POINTS - 1, int((ts - since) / step)), []).append(v)
            series = [(round(since + (i + 0.5) * step, 3), reduce(vs)) for i, vs in sorted(buckets.items())]
            keys.append(KeyValue(check_id, kinds[check_id], target, reduce(values), None, None, series))
        seen = {k.check_id for k in keys}
        keys.extend(KeyValue(ch.check_id, ch.kind, "", None, _NO_DATA) for ch in checks if ch.check_id not in seen)
        return keys, None, None

    def _m_percentile(self, c: Criterion, sel: Selection, checks: list[CheckInfo], since: float) -> Any:
        return self._windowed(c, sel, checks, since, lambda vs: percentile(vs, c.percentile))

    def _m_mean(self, c: Criterion, sel: Selection, checks: list[CheckInfo], since: float) -> Any:
        return self._windowed(c, sel, checks, since, lambda vs: sum(vs) / len(vs))


def window_of(c: Criterion, period: float) -> float:
    """The window a criterion is evaluated over: its own window (windowed measures) but never longer
    than the report period, so `--period 1h` is honoured by every criterion; else the period."""
    if c.measure in ("availability", "percentile", "mean") and c.window:
        return min(c.window, period)
    return period


def _combine(results: list[CriterionResult]) -> tuple[str, bool]:
    outcomes = {r.outcome for r in results}
    if NOT_MET in outcomes:
        return NOT_MET, False
    if UNKNOWN in outcomes:
        return UNKNOWN, False
    return MET, any(r.at_risk for r in results)


def evaluate(profile: Profile, data: SiteData, until: float, period: float | None = None) -> Evaluation:
    """Evaluate every target at time `until` over `period` (default: the profile's).

    The score is the weighted share of targets met; unknown counts as not met (never silently
    "met"), and `known_weight` says how much of the weight had data.
    """
    period = period or profile.period
    ev = _Evaluator(data, until, period)
    targets = []
    for target in profile.targets:
        crits = [ev.criterion(target, c) for c in target.criteria]
        outcome, at_risk = _combine(crits)
        targets.append(TargetResult(target, outcome, at_risk, crits))
    total = sum(tr.target.weight for tr in targets)
    met = sum(tr.target.weight for tr in targets if tr.outcome == MET)
    known = sum(tr.target.weight for tr in targets if tr.outcome != UNKNOWN)
    return Evaluation(profile, until - period, until, targets, met / total, known / total,
                      data.alive_seconds(until - period, until))

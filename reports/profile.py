"""Readiness profiles as data: targets, their criteria, thresholds, weights and legal sources.

A profile is YAML (`reports/profiles/plan02.yml` is the default). It is validated like the agent
config: unknown keys are errors and every problem names file:line:field (the same `Problem` and
`ConfigError` as `dxagent.config`). A province can ship its own profile that `extends: plan02`,
replaces targets by id, adds new ones and drops others.
"""

from __future__ import annotations

import importlib.resources
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from dxagent.config import yamlsrc
from dxagent.config.problems import ConfigError, Problem, problems_from
from dxagent.config.types import Duration, Model

__all__ = [
    "Names", "Selection", "Criterion", "Target", "Profile", "SampleSpec", "load_profile", "load_profile_text",
    "builtin_profiles", "MEASURES", "COMPARES",
]

TARGET_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
MEASURES = ("state", "availability", "percentile", "mean", "days_left", "ratio", "count", "value")
COMPARES = (">=", "<=", ">", "<", "==")
WINDOWED = ("availability", "percentile", "mean")
SAMPLED = ("percentile", "mean", "days_left", "ratio", "value")
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:\s*[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"\s*,?)*)\})?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"')
StatusName = Literal["OK", "WARN", "CRIT", "UNKNOWN"]


class SampleSpec:
    """A sample selector `name` or `name{label="v",…}`: matches samples with that name and at least those labels."""

    __slots__ = ("labels", "name", "text")

    def __init__(self, text: str) -> None:
        m = _SAMPLE.match(text.strip())
        if not m:
            raise ValueError(f'invalid sample selector {text!r}: use name or name{{label="value"}}')
        self.text = text.strip()
        self.name = m.group(1)
        self.labels = dict(_LABEL.findall(m.group(2) or ""))

    def matches(self, name: str, labels: dict[str, str]) -> bool:
        return name == self.name and all(labels.get(k) == v for k, v in self.labels.items())

    def __repr__(self) -> str:
        return f"SampleSpec({self.text!r})"


def parse_sample_key(key: str) -> tuple[str, dict[str, str]]:
    """Split a stored sample key `name{a="1",b="2"}` into its name and labels."""
    brace = key.find("{")
    if brace < 0:
        return key, {}
    return key[:brace], dict(_LABEL.findall(key[brace:]))


class Names(Model):
    """A text in both languages: Vietnamese (with diacritics) and English."""

    vi: str = Field(min_length=1, description="Vietnamese text, with diacritics.")
    en: str = Field(min_length=1, description="English text.")

    def get(self, lang: str) -> str:
        return self.vi if lang == "vi" else self.en


class Selection(Model):
    """Which checks a criterion reads: kinds AND (ids or groups). Empty ids and groups = every check of the kinds."""

    kinds: tuple[str, ...] = Field((), description="Check kinds, e.g. `[ping, http]`; empty = any kind.")
    ids: tuple[str, ...] = Field((), description="Check id glob patterns, e.g. `[portal-*]`.")
    groups: tuple[str, ...] = Field((), description="Check groups from the agent config, e.g. `[tslcd]`.")
    targets: tuple[str, ...] = Field((), description="Result target glob patterns (optional).")

    @model_validator(mode="after")
    def _not_everything(self) -> Selection:
        if not (self.kinds or self.ids or self.groups):
            raise ValueError("select needs at least one of kinds, ids or groups")
        return self

    def describe(self) -> str:
        parts = [f"{k}: {', '.join(v)}" for k, v in (("kinds", self.kinds), ("ids", self.ids),
                                                      ("groups", self.groups), ("targets", self.targets)) if v]
        return "; ".join(parts)


class Criterion(Model):
    """One measurable condition of a target; a target is met when all its criteria are met."""

    label: Names = Field(description="Short name of what is measured, e.g. `p95 RTT`.")
    measure: Literal["state", "availability", "percentile", "mean", "days_left", "ratio", "count", "value"] = Field(
        description="state (latest status), availability (time-weighted over window), percentile/mean of a sample "
                    "over window, days_left/ratio/value (latest sample), count (latest results in `statuses`).")
    select: Selection | None = Field(None, description="Checks to read; defaults to the target's `select`.")
    sample: tuple[str, ...] = Field((), description="Sample selectors (alternatives), e.g. `ping_rtt_seconds{stat=\"avg\"}`; "
                                    "for `count`, only results carrying one of them are counted.")
    window: Duration | None = Field(None, gt=0, description="Period for availability/percentile/mean (default: the report period).")
    percentile: float = Field(95.0, gt=0, le=100, description="Which percentile for `percentile`.")
    statuses: tuple[StatusName, ...] = Field(("OK", "WARN"), min_length=1,
                                             description="Statuses that count as up/good (state, availability, count).")
    compare: Literal[">=", "<=", ">", "<", "=="] = Field(description="How the value is compared with the threshold.")
    threshold: float = Field(description="The limit (ratios 0–1, seconds, days, bits per second, counts).")
    warn: float | None = Field(None, description="Stricter level: met but 'at risk' when the value misses it.")
    aggregate: Literal["worst", "best", "mean", "sum"] = Field(
        "worst", description="How several checks/targets combine: worst (each must meet), best (one suffices), mean, sum.")
    absolute: bool = Field(False, description="Compare the absolute value (clock offsets).")
    per_staff: bool = Field(False, description="Divide by the site's staff count (count → share of officials).")
    min_coverage: float = Field(0.5, ge=0, le=1, description="Share of the window that must have data (availability).")

    @field_validator("sample")
    @classmethod
    def _samples_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            SampleSpec(text)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Criterion:
        if self.measure in SAMPLED and not self.sample:
            raise ValueError(f"measure {self.measure!r} needs `sample` (the sample name to read)")
        if self.measure in ("state", "availability") and self.sample:
            raise ValueError(f"measure {self.measure!r} reads statuses, not samples: remove `sample`")
        if self.measure in ("state", "availability", "ratio") and not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold of a {self.measure!r} measure is a ratio between 0 and 1 (99.5% = 0.995)")
        if self.warn is not None:
            if self.compare in (">=", ">") and self.warn < self.threshold:
                raise ValueError("warn must be stricter than threshold: with >= it must be at least the threshold")
            if self.compare in ("<=", "<") and self.warn > self.threshold:
                raise ValueError("warn must be stricter than threshold: with <= it must be at most the threshold")
            if self.compare == "==":
                raise ValueError("warn makes no sense with compare '=='")
        if self.per_staff and self.measure != "count":
            raise ValueError("per_staff applies to measure 'count' only")
        return self

    def specs(self) -> list[SampleSpec]:
        return [SampleSpec(s) for s in self.sample]


class Target(Model):
    """One readiness target (a row of the plan): names, weight, legal source and criteria."""

    id: str = Field(pattern=TARGET_ID, description="Stable target id, e.g. `NET-01`.")
    name: Names = Field(description="Target name in Vietnamese and English.")
    weight: float = Field(1.0, gt=0, le=100, description="Weight in the readiness score.")
    source: str = Field(min_length=3, description="Legal or factual reference for the target and its threshold.")
    note: Names | None = Field(None, description="Explanation shown in the report (e.g. 'engineering default').")
    select: Selection | None = Field(None, description="Default checks for the criteria.")
    criteria: tuple[Criterion, ...] = Field(min_length=1, description="All must be met.")

    @model_validator(mode="after")
    def _every_criterion_selects(self) -> Target:
        for i, c in enumerate(self.criteria):
            if c.select is None and self.select is None:
                raise ValueError(f"criteria[{i}] has no `select` and the target has none to inherit")
        return self

    def selection(self, c: Criterion) -> Selection:
        sel = c.select or self.select
        assert sel is not None  # guaranteed by the validator
        return sel


class Profile(Model):
    """A whole readiness profile."""

    id: str = Field(pattern=TARGET_ID, description="Profile id, e.g. `plan02`.")
    version: str = Field("1", description="Profile version shown in reports.")
    name: Names = Field(description="Profile title.")
    source: str = Field(min_length=3, description="The plan or decision the profile encodes.")
    period: Duration = Field(30 * 86400.0, gt=0, description="Default report period.")
    targets: tuple[Target, ...] = Field(min_length=1, description="The targets.")
    origin: str = Field("<memory>", exclude=True, description="(internal) file the profile came from.")

    @model_validator(mode="after")
    def _unique_ids(self) -> Profile:
        seen: set[str] = set()
        for t in self.targets:
            if t.id in seen:
                raise ValueError(f"duplicate target id {t.id!r}")
            seen.add(t.id)
        return self

    def target(self, target_id: str) -> Target:
        for t in self.targets:
            if t.id == target_id:
                return t
        raise KeyError(target_id)


def builtin_profiles() -> list[str]:
    """Names of the profiles shipped in reports/profiles."""
    folder = importlib.resources.files("dxagent.reports").joinpath("profiles")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".yml"))


def _read(name_or_path: str | Path) -> tuple[str, str]:
    p = Path(name_or_path)
    if p.suffix in (".yml", ".yaml") or p.exists() or "/" in str(name_or_path):
        try:
            return p.read_text(encoding="utf-8"), str(p)
        except FileNotFoundError:
            raise ConfigError([Problem(str(p), None, "", "file not found")]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([Problem(str(p), None, "", f"cannot read: {exc}")]) from None
    name = str(name_or_path)
    if name not in builtin_profiles():
        raise ConfigError([Problem(name, None, "", f"no such profile file or built-in profile; built-in: "
                                                   f"{', '.join(builtin_profiles())}")])
    res = importlib.resources.files("dxagent.reports").joinpath("profiles", f"{name}.yml")
    return res.read_text(encoding="utf-8"), f"<built-in profile {name}>"


def load_profile(name_or_path: str | Path = "plan02", _depth: int = 0) -> Profile:
    """A built-in profile by name, or a YAML file; `extends` is resolved (one base, then its base…)."""
    text, filename = _read(name_or_path)
    return load_profile_text(text, filename, _depth)


def load_profile_text(text: str, filename: str = "<string>", _depth: int = 0) -> Profile:
    """Validate profile YAML; raise ConfigError listing every problem with file:line:field."""
    try:
        src = yamlsrc.load(text, filename)
    except yamlsrc.YamlError as exc:
        raise ConfigError([Problem(filename, exc.line, "", exc.message)]) from None
    data = src.data
    if not isinstance(data, dict):
        raise ConfigError([Problem(filename, 1, "", "a profile must be a YAML mapping")])
    if "extends" in data:
        data = _extend(data, src, _depth)
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(sorted(problems_from(exc, src, ()), key=lambda p: (p.line or 0, p.field))) from None
    return profile.model_copy(update={"origin": filename})


def _extend(data: dict[str, Any], src: yamlsrc.Source, depth: int) -> dict[str, Any]:
    """Merge `extends: BASE`: `targets` replace same-id base targets or are appended; `drop` removes ids."""
    base_ref = data.pop("extends")
    drop = data.pop("drop", []) or []
    line = src.line(("extends",))
    if depth > 4:
        raise ConfigError([Problem(src.filename, line, "extends", "profiles extend each other too deeply (loop?)")])
    if not isinstance(base_ref, str):
        raise ConfigError([Problem(src.filename, line, "extends", "expected a profile name or file path")])
    if not isinstance(drop, list) or not all(isinstance(d, str) for d in drop):
        raise ConfigError([Problem(src.filename, src.line(("drop",)), "drop", "expected a list of target ids")])
    if not Path(base_ref).is_absolute() and (Path(src.filename).parent / base_ref).exists():
        base_ref = str(Path(src.filename).parent / base_ref)
    base = load_profile(base_ref, depth + 1)
    base_targets = {t.id: t for t in base.targets}
    unknown = [d for d in drop if d not in base_targets]
    if unknown:
        raise ConfigError([Problem(src.filename, src.line(("drop",)), "drop",
                                   f"not a target of {base.id}: {', '.join(unknown)}")])
    own = data.get("targets") or []
    if not isinstance(own, list):
        raise ConfigError([Problem(src.filename, src.line(("targets",)), "targets", "expected a list of targets")])
    problems: list[Problem] = []
    mine: dict[str, Target] = {}
    for i, item in enumerate(own):
        try:
            target = Target.model_validate(item)
        except ValidationError as exc:
            problems.extend(problems_from(exc, src, ("targets", i)))
            continue
        mine[target.id] = target
    if problems:
        raise ConfigError(problems)
    targets: list[Any] = [mine.pop(k, v) for k, v in base_targets.items() if k not in drop]
    targets.extend(mine.values())
    out = dict(data)
    out.setdefault("name", base.name.model_dump())
    out.setdefault("source", base.source)
    out.setdefault("period", base.period)
    out["targets"] = targets
    return out

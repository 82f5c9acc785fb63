"""One threshold vocabulary for every check kind: warn/crit pairs, their units and their meaning.

Users write thresholds in YAML, so every kind speaks the same way: a kind with one measure takes
`thresholds: {warn: …, crit: …}`, a kind with several `thresholds: {<measure>: {warn: …, crit: …}}`.
The units are the same everywhere (durations `50ms`/`3s`, ratios `0.05` or percentages `5%`, plain
numbers), and so is the rule: **at the limit is still OK**, only a value beyond it changes the status.

- Upper limits (a value *above* is bad): `TimeLimit`, `RatioLimit`, `NumberLimit`; warn ≤ crit.
- Lower limits (a value *below* is bad): `DaysLimit`, `RateLimit`, `RatioLowerLimit`; crit ≤ warn.

`level(value)` is pure (and `worst()` combines several measures), so every kind's judge stays a pure function. `defaults()` builds a kind's
`thresholds` field with the kind's own default limits and says what a limit left out of the user's
mapping means (keeps its default, or is off), which the config reference then shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from dxagent.config.types import Duration, Model
from dxagent.model import Status

__all__ = [
    "DaysLimit",
    "Limits",
    "NumberLimit",
    "Ratio",
    "RateLimit",
    "RatioLimit",
    "RatioLowerLimit",
    "TimeLimit",
    "defaults",
    "parse_ratio",
    "renamed",
    "worst",
]


def parse_ratio(value: Any) -> Any:
    """`0.05`, `"5%"` or `"0.1%"` → a float ratio; the range (0..1) is checked by `Ratio` itself.

    Percentages are what people write for loss and shares ("1% loss"); ratios are what Prometheus
    and the samples use, so both are accepted and the model holds the ratio.
    """
    if isinstance(value, bool):
        raise PydanticCustomError("ratio", "expected a ratio such as 0.05 or a percentage such as 5%")
    if isinstance(value, str):
        text = value.strip()
        percent = text.endswith("%")
        try:
            number = float(text[:-1].strip() if percent else text)
        except ValueError:
            raise PydanticCustomError(
                "ratio", "invalid ratio '{value}': use a number from 0 to 1 (0.05) or a percentage (5%)",
                {"value": value},
            ) from None
        return number / 100 if percent else number
    return value


Ratio = Annotated[float, BeforeValidator(parse_ratio), Field(ge=0, le=1)]
"""A share from 0 to 1, written as a ratio (`0.05`) or a percentage (`5%`, `0.1%`)."""


class _Limits(Model):
    """warn/crit pair shared by every limit model; subclasses give the unit and the direction."""

    warn: float | None = None
    crit: float | None = None

    def limit_for(self, status: Status) -> float | None:
        """The limit a status was judged against (for messages such as "slower than 3 s")."""
        return {Status.WARN: self.warn, Status.CRIT: self.crit}.get(status)


class _Upper(_Limits):
    """Value above a limit is bad (time, loss, load, utilization)."""

    @model_validator(mode="after")
    def _ordered(self) -> _Upper:
        if self.warn is not None and self.crit is not None and self.warn > self.crit:
            raise ValueError("warn must not be above crit")
        return self

    def level(self, value: float) -> Status:
        """CRIT above crit, WARN above warn, else OK (exactly at a limit is OK). Pure."""
        if self.crit is not None and value > self.crit:
            return Status.CRIT
        if self.warn is not None and value > self.warn:
            return Status.WARN
        return Status.OK


class _Lower(_Limits):
    """Value below a limit is bad (days left, bandwidth, coverage)."""

    @model_validator(mode="after")
    def _ordered(self) -> _Lower:
        if self.warn is not None and self.crit is not None and self.crit > self.warn:
            raise ValueError("crit must not be above warn (lower limits: a value below them is bad)")
        return self

    def level(self, value: float) -> Status:
        """CRIT below crit, WARN below warn, else OK (exactly at a limit is OK). Pure."""
        if self.crit is not None and value < self.crit:
            return Status.CRIT
        if self.warn is not None and value < self.warn:
            return Status.WARN
        return Status.OK


class TimeLimit(_Upper):
    """Upper limits on a time (`50ms`, `3s` or seconds): only a longer time changes the status."""

    warn: Duration | None = Field(None, gt=0, description="Warn when the time is longer (`50ms`, `3s`, seconds).")
    crit: Duration | None = Field(None, gt=0, description="Critical when the time is longer (`50ms`, `3s`, seconds).")


class RatioLimit(_Upper):
    """Upper limits on a share (`0.05` or `5%`): only a larger share changes the status."""

    warn: Ratio | None = Field(None, description="Warn above this share (`0.05` or `5%`).")
    crit: Ratio | None = Field(None, description="Critical above this share (`0.05` or `5%`).")


class NumberLimit(_Upper):
    """Upper limits on a count, a rate or a load: only a larger value changes the status."""

    warn: float | None = Field(None, ge=0, description="Warn above this value.")
    crit: float | None = Field(None, ge=0, description="Critical above this value.")


class DaysLimit(_Lower):
    """Lower limits on the days left before a certificate expires: only fewer days change the status."""

    warn: float | None = Field(None, ge=0, description="Warn when fewer than this many days are left.")
    crit: float | None = Field(None, ge=0, description="Critical when fewer than this many days are left.")


class RateLimit(_Lower):
    """Lower limits on a bandwidth in Mbit/s: only a slower rate changes the status."""

    warn: float | None = Field(None, gt=0, description="Warn below this many Mbit/s.")
    crit: float | None = Field(None, gt=0, description="Critical below this many Mbit/s.")


class RatioLowerLimit(_Lower):
    """Lower limits on a share (`0.5` or `50%`): only a smaller share changes the status."""

    warn: Ratio | None = Field(None, description="Warn below this share (`0.5` or `50%`).")
    crit: Ratio | None = Field(None, description="Critical below this share (`0.5` or `50%`).")


L = TypeVar("L", bound=_Limits)
Limits = _Upper | _Lower  # any limit model, for code that judges several measures


def worst(measures: Iterable[tuple[str, float | None, Limits]]) -> tuple[Status, list[str]]:
    """The worst level of several (name, value, limits) and the names at that level, in order (pure).

    A value of None (not measured this run) is skipped. Kinds with several measures use it so that
    "rtt and jitter above warn" is judged and named the same way everywhere.
    """
    levels = [(name, limits.level(value)) for name, value, limits in measures if value is not None]
    status = max((level for _, level in levels), default=Status.OK)
    return status, [name for name, level in levels if level == status and status != Status.OK]


_KEPT = " A limit left out keeps its default; `null` switches it off."


def defaults(limit: L, description: str) -> Any:
    """A `thresholds` (or per-measure) field whose default is `limit`.

    One rule for every kind: a limit the user leaves out of the mapping keeps the kind's default
    (`{warn: 21}` keeps crit 7 days, `loss: {warn: 5%}` keeps crit 20%), and `null` switches a
    limit off. A partial override therefore never drops a level silently. The sentence is added
    to the field's description so that the config reference says so.
    """
    if limit.warn is None and limit.crit is None:  # nothing to keep
        return Field(default_factory=lambda: limit, description=description)
    field = Field(default_factory=lambda: limit, description=description + _KEPT)
    base = limit.model_dump()

    def fill(value: Any) -> Any:
        return {**base, **value} if isinstance(value, dict) else value

    # A validator on the field itself: pydantic applies FieldInfo.metadata like Annotated metadata.
    field.metadata.append(BeforeValidator(fill))
    return field


def renamed(old: Mapping[str, str]) -> Any:
    """A before-validator for a kind's `thresholds` model that names the new spelling of old flat keys.

    snmp, throughput and discovery once wrote `utilization_warn`, `warn_mbps`, `min_coverage`…; a
    config still using them gets "`utilization_warn` is now `utilization: {warn: …}`" instead of a
    bare "unknown field". Use as `_renamed = renamed({...})` in the model's body.
    """

    def check(cls: type, data: Any) -> Any:
        found = [key for key in data if key in old] if isinstance(data, dict) else []
        if found:
            raise ValueError("; ".join(f"`{key}` is now `{old[key]}`" for key in found))
        return data

    return model_validator(mode="before")(classmethod(check))

"""The shared threshold vocabulary: ratio and duration parsing, ordering errors, level() and field helpers."""

from __future__ import annotations

import typing

import pytest
from pydantic import BaseModel, ValidationError

from dxagent import checks, limits
from dxagent.config import ConfigError, Model, load_text
from dxagent.limits import DaysLimit, NumberLimit, RateLimit, RatioLimit, RatioLowerLimit, RuntimeLimit, TimeLimit
from dxagent.model import Status

OK, WARN, CRIT = Status.OK, Status.WARN, Status.CRIT
UPPER = (TimeLimit, RatioLimit, NumberLimit)
LOWER = (DaysLimit, RateLimit, RatioLowerLimit, RuntimeLimit)

# ----------------------------------------------------------------------------- units


@pytest.mark.parametrize(("written", "ratio"), [
    (0.05, 0.05), (0, 0.0), (1, 1.0), ("5%", 0.05), ("0.1%", 0.001), (" 20 % ", 0.2), ("100%", 1.0), ("0.25", 0.25),
])
def test_ratio_accepts_ratios_and_percentages(written: object, ratio: float) -> None:
    assert RatioLimit(warn=written).warn == pytest.approx(ratio)
    assert RatioLowerLimit(crit=written).crit == pytest.approx(ratio)


@pytest.mark.parametrize(("written", "message"), [
    ("150%", "less than or equal to 1"), (1.5, "less than or equal to 1"), ("-1%", "greater than or equal to 0"),
    ("lots", "invalid ratio 'lots': use a number from 0 to 1 (0.05) or a percentage (5%)"),
    ("%", "invalid ratio"), (True, "expected a ratio such as 0.05"),
])
def test_ratio_rejects(written: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RatioLimit(warn=written)


@pytest.mark.parametrize(("written", "seconds"), [("50ms", 0.05), ("3s", 3.0), ("1m30s", 90.0), (2, 2.0), (0.25, 0.25)])
def test_time_limits_take_durations(written: object, seconds: float) -> None:
    assert TimeLimit(crit=written).crit == pytest.approx(seconds)


@pytest.mark.parametrize(("written", "message"), [("fast", "invalid duration 'fast'"), (0, "greater than 0"),
                                                  ("-3s", "invalid duration")])
def test_time_limits_reject(written: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TimeLimit(warn=written)


def test_number_limits_are_not_negative_and_rates_are_positive() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        NumberLimit(warn=-1)
    with pytest.raises(ValidationError, match="greater than 0"):
        RateLimit(crit=0)
    assert DaysLimit(warn=0, crit=0).level(0) == OK   # zero days as limits: nothing is below them


# ----------------------------------------------------------------------------- level()


# Upper limits warn 0.2 / crit 0.5; lower limits warn 0.5 / crit 0.2: the same values, judged from either side.
LEVELS = {
    "upper": ((0.0, 0.19, 0.2, 0.21, 0.5, 0.51, 1.0), (OK, OK, OK, WARN, WARN, CRIT, CRIT)),
    "lower": ((1.0, 0.51, 0.5, 0.49, 0.2, 0.19, 0.01), (OK, OK, OK, WARN, WARN, CRIT, CRIT)),
}


@pytest.mark.parametrize("model", UPPER + LOWER)
def test_level_at_and_around_the_limits(model: type[limits.Limits]) -> None:
    upper = issubclass(model, UPPER)
    warn, crit = (0.2, 0.5) if upper else (0.5, 0.2)
    values, expected = LEVELS["upper" if upper else "lower"]
    lim = model(warn=warn, crit=crit)
    assert tuple(lim.level(v) for v in values) == expected   # exactly at a limit is still OK
    assert model(crit=crit).level(values[3]) == OK and model(crit=crit).level(values[-1]) == CRIT
    assert model(warn=warn).level(values[-1]) == WARN   # no crit: never worse than WARN
    assert model().level(values[-1]) == OK
    assert (lim.limit_for(WARN), lim.limit_for(CRIT), lim.limit_for(OK)) == (warn, crit, None)


def test_days_limit_as_the_certificate_kinds_use_it() -> None:
    lim = DaysLimit(warn=30, crit=7)
    assert [lim.level(d) for d in (90, 30, 29.99, 7, 6.99)] == [OK, OK, WARN, WARN, CRIT]


@pytest.mark.parametrize("model", UPPER)
def test_upper_ordering(model: type[limits.Limits]) -> None:
    assert model(warn=0.5, crit=0.5).level(0.5) == OK   # equal limits are allowed
    with pytest.raises(ValidationError, match="warn must not be above crit"):
        model(warn=0.6, crit=0.5)


@pytest.mark.parametrize("model", LOWER)
def test_lower_ordering(model: type[limits.Limits]) -> None:
    assert model(warn=0.5, crit=0.5).level(0.5) == OK
    with pytest.raises(ValidationError, match="crit must not be above warn"):
        model(warn=0.4, crit=0.5)


def test_worst_names_the_measures_at_the_worst_level() -> None:
    rtt, loss = TimeLimit(warn=0.05, crit=0.2), RatioLimit(warn=0.01, crit=0.2)
    assert limits.worst([("loss", 0.0, loss), ("rtt", 0.01, rtt)]) == (OK, [])
    assert limits.worst([("loss", 0.05, loss), ("rtt", 0.1, rtt)]) == (WARN, ["loss", "rtt"])
    assert limits.worst([("loss", 0.05, loss), ("rtt", 0.3, rtt)]) == (CRIT, ["rtt"])
    assert limits.worst([("loss", None, loss), ("cov", 0.1, RatioLowerLimit(warn=0.5))]) == (WARN, ["cov"])
    assert limits.worst([]) == (OK, [])


# ----------------------------------------------------------------------------- fields of the kinds


class _Kind(Model):
    days: DaysLimit = limits.defaults(DaysLimit(warn=30, crit=7), "Days left.")
    loss: RatioLimit = limits.defaults(RatioLimit(warn=0.01, crit=0.2), "Loss.")
    time: TimeLimit = limits.defaults(TimeLimit(), "Time.")

    _renamed = limits.renamed({"days_warn": "days: {warn: …}"})


def test_a_limit_left_out_keeps_its_default_and_null_switches_it_off() -> None:
    assert _Kind().days == DaysLimit(warn=30, crit=7) and _Kind().loss == RatioLimit(warn=0.01, crit=0.2)
    k = _Kind.model_validate({"days": {"warn": 21}, "loss": {"warn": "5%"}, "time": {"crit": "1s"}})
    assert (k.days.warn, k.days.crit) == (21, 7)           # kept
    assert (k.loss.warn, k.loss.crit) == (0.05, 0.2)       # kept
    assert _Kind.model_validate({"loss": {"warn": "5%", "crit": None}}).loss.crit is None
    assert (k.time.warn, k.time.crit) == (None, 1.0)
    assert _Kind.model_validate({"days": {"crit": None}}).days.crit is None
    with pytest.raises(ValidationError, match="crit must not be above warn"):   # 5 against the default crit 7
        _Kind.model_validate({"days": {"warn": 5}})
    fields = _Kind.model_fields
    assert fields["days"].description == "Days left. A limit left out keeps its default; `null` switches it off."
    assert fields["loss"].description == "Loss. A limit left out keeps its default; `null` switches it off."
    assert fields["time"].description == "Time."


def test_renamed_flat_keys_say_the_new_spelling() -> None:
    with pytest.raises(ValidationError, match=r"`days_warn` is now `days: \{warn: …\}`"):
        _Kind.model_validate({"days_warn": 10})


@pytest.mark.parametrize("model", UPPER + LOWER)
def test_every_field_has_a_description(model: type[BaseModel]) -> None:
    assert model.__doc__ and all(f.description for f in model.model_fields.values())


def _limit_models(model: type[BaseModel]) -> list[type[BaseModel]]:
    return [f.annotation for f in model.model_fields.values()
            if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)]


@pytest.mark.parametrize("kind", sorted(checks.KINDS))
def test_every_kind_uses_the_shared_shape(kind: str) -> None:
    """`thresholds` is one shared limit model, or a mapping of measures to shared limit models."""
    field = checks.config_model(kind).model_fields.get("thresholds")
    if field is None:
        return
    th = field.annotation
    assert isinstance(th, type)
    if issubclass(th, UPPER + LOWER):
        return
    measures = _limit_models(th)
    assert measures and all(issubclass(m, UPPER + LOWER) for m in measures), th
    others = [n for n, f in th.model_fields.items() if f.annotation not in measures]
    assert all(typing.get_origin(th.model_fields[n].annotation) is typing.Literal for n in others), others


# ----------------------------------------------------------------------------- errors name file:line:field


@pytest.mark.parametrize(("check", "line", "field", "message"), [
    ("kind: tcp\n    host: h\n    port: 1\n    thresholds: {warn: 2s, crit: 500ms}", 6, "checks[0].thresholds",
     "warn must not be above crit"),
    ("kind: tcp\n    host: h\n    port: 1\n    thresholds: {warn: soon}", 6, "checks[0].thresholds.warn",
     "invalid duration 'soon'"),
    ("kind: ping\n    targets: [x]\n    thresholds:\n      loss: {warn: 5%, crit: 1%}", 6, "checks[0].thresholds.loss",
     "warn must not be above crit"),
    ("kind: interfaces\n    thresholds:\n      drops: {warn: 120%}", 5, "checks[0].thresholds.drops.warn",
     "less than or equal to 1"),
    ("kind: system\n    thresholds:\n      load_per_core: {warn: 4, crit: 2}", 5, "checks[0].thresholds.load_per_core",
     "warn must not be above crit"),
    ("kind: tls\n    host: a.example\n    thresholds: {warn: 7, crit: 30}", 5, "checks[0].thresholds",
     "crit must not be above warn"),
    ("kind: throughput\n    url: http://h/f\n    thresholds:\n      mbps: {warn: 10, crit: 50}", 6,
     "checks[0].thresholds.mbps", "crit must not be above warn"),
    ("kind: snmp\n    version: v2c\n    community: c\n    host: h\n    thresholds:\n      errors: {warn: -1}", 8,
     "checks[0].thresholds.errors.warn", "greater than or equal to 0"),
    ("kind: snmp\n    version: v2c\n    community: c\n    host: h\n    thresholds: {errors_warn: 1}", 7,
     "checks[0].thresholds", "`errors_warn` is now `errors: {warn: …}`"),
])
def test_config_errors_name_file_line_and_field(check: str, line: int, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(f"checks:\n  - id: c\n    {check}\n", "site.yml")
    assert any(p.file == "site.yml" and p.line == line and p.field == field and message in p.message
               for p in err.value.problems), err.value.problems

"""The coercion table of the model kit: an annotation becomes one validator function.

A validator is `f(value, info) -> value` raising `Invalid`. Coercion is pydantic's *lax* mode for
what YAML and JSON produce ("443" → 443, 5.0 → 5, "yes" → True, a list → a tuple, a string → a
Path) and strict elsewhere (no number → string). Annotated metadata wraps the validator built so
far, as in pydantic: a BeforeValidator runs before everything to its left, an AfterValidator and
the `Field(ge=…, pattern=…)` constraints after it.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path, PurePath
from typing import Any

from dxagent.modelkit_errors import Invalid, ValidationInfo, call, fail, takes_info
from dxagent.modelkit_fields import AfterValidator, BeforeValidator, Constraints, FieldInfo, plural

__all__ = ["Validator", "apply_metadata", "compile_type"]

Validator = Callable[[Any, ValidationInfo], Any]


# ----------------------------------------------------------------------------------------- scalars

def _any(v: Any, info: ValidationInfo) -> Any:
    return v


def _str(v: Any, info: ValidationInfo) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (bytes, bytearray)):
        try:
            return bytes(v).decode()
        except UnicodeDecodeError:
            fail("string_unicode", "Input should be a valid string, unable to parse raw data as a unicode string", v)
    fail("string_type", "Input should be a valid string", v)


_INT_TEXT = re.compile(r"[+-]?\d+(?:_\d+)*(?:\.0*)?", re.ASCII)


def _int(v: Any, info: ValidationInfo) -> int:
    if isinstance(v, int):
        return int(v)  # bool → 0/1, as pydantic's lax mode
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            fail("finite_number", "Input should be a finite number", v)
        if not v.is_integer():
            fail("int_from_float", "Input should be a valid integer, got a number with a fractional part", v)
        return int(v)
    if isinstance(v, str):
        text = v.strip()
        if _INT_TEXT.fullmatch(text):
            return int(text.split(".")[0])
        fail("int_parsing", "Input should be a valid integer, unable to parse string as an integer", v)
    fail("int_type", "Input should be a valid integer", v)


def _float(v: Any, info: ValidationInfo) -> float:
    if isinstance(v, float):
        return v
    if isinstance(v, int):
        try:
            return float(v)
        except OverflowError:
            pass
    elif isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            fail("float_parsing", "Input should be a valid number, unable to parse string as a number", v)
    fail("float_type", "Input should be a valid number", v)


_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def _bool(v: Any, info: ValidationInfo) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        if v in (0, 1):
            return v == 1
        if isinstance(v, int) or v.is_integer():
            fail("bool_parsing", "Input should be a valid boolean, unable to interpret input", v)
    elif isinstance(v, str):
        text = v.strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        fail("bool_parsing", "Input should be a valid boolean, unable to interpret input", v)
    fail("bool_type", "Input should be a valid boolean", v)


def _none(v: Any, info: ValidationInfo) -> None:
    if v is not None:
        fail("none_required", "Input should be None", v)


def _path(cls: type) -> Validator:
    def path(v: Any, info: ValidationInfo) -> Any:
        if isinstance(v, (str, PurePath)):
            return cls(v)
        fail("path_type", f"Input is not a valid path for {cls!r}", v)

    return path


def _enum(cls: type[enum.Enum]) -> Validator:
    values = [m.value for m in cls]
    expected = _one_of(values)

    def enum_(v: Any, info: ValidationInfo) -> Any:
        if isinstance(v, cls):
            return v
        try:
            return cls(v)
        except ValueError:
            fail("enum", f"Input should be {expected}", v, {"expected": expected})

    return enum_


def _instance(cls: type) -> Validator:
    def instance(v: Any, info: ValidationInfo) -> Any:
        if isinstance(v, cls):
            return v
        fail("is_instance_of", f"Input should be an instance of {cls.__name__}", v, {"class": cls.__name__})

    return instance


def _hook(cls: type) -> Validator:
    """Types that validate themselves (`Secret`, nested models): `cls.__modelkit_validate__(value, info)`."""
    func = cls.__modelkit_validate__  # type: ignore[attr-defined]

    def hook(v: Any, info: ValidationInfo) -> Any:
        return call(func, v, info, True)

    return hook


def _one_of(values: list[Any]) -> str:
    shown = [repr(v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _literal(values: tuple[Any, ...]) -> Validator:
    allowed = {(type(v), v) for v in values}
    expected = _one_of(list(values))

    def literal(v: Any, info: ValidationInfo) -> Any:
        try:
            if (type(v), v) in allowed:
                return v
        except TypeError:  # unhashable input
            pass
        fail("literal_error", f"Input should be {expected}", v, {"expected": expected})

    return literal


# -------------------------------------------------------------------------------------- containers

_SEQ_INPUT = (list, tuple, set, frozenset)
_SEQ_NAME = {tuple: "Tuple", list: "List", set: "Set", frozenset: "Frozenset"}
_TYPE_MSG = {tuple: ("tuple_type", "Input should be a valid tuple"), list: ("list_type", "Input should be a valid list"),
             set: ("set_type", "Input should be a valid set"), frozenset: ("frozen_set_type", "Input should be a valid frozenset")}


def _too_long(name: str, limit: int, v: Any) -> None:
    fail("too_long", f"{name} should have at most {plural(limit, 'item')} after validation, not {len(v)}", v,
         {"field_type": name, "max_length": limit, "actual_length": len(v)})


def _too_short(name: str, limit: int, n: int, v: Any) -> dict[str, Any]:
    return {"type": "too_short", "loc": (), "input": v,
            "msg": f"{name} should have at least {plural(limit, 'item')} after validation, not {n}",
            "ctx": {"field_type": name, "min_length": limit, "actual_length": n}}


def _sequence(cls: type, item: Validator, limits: Constraints | None = None) -> Validator:
    """A homogeneous tuple/list/set; every bad item is reported under its index.

    Length limits given right on the type are checked as pydantic does it: a list's maximum on
    the input before the items, its minimum only when every item passed; a tuple counts the items
    that passed ("after validation"): over the maximum it stops, under the minimum it adds
    too_short to the item errors.
    """
    kind, msg = _TYPE_MSG[cls]
    name = _SEQ_NAME[cls]
    low = limits.min_length if limits is not None else None
    high = limits.max_length if limits is not None else None
    counted = cls is tuple

    def sequence(v: Any, info: ValidationInfo) -> Any:
        if not isinstance(v, _SEQ_INPUT):
            fail(kind, msg, v)
        if high is not None and not counted and len(v) > high:
            _too_long(name, high, v)
        out, errors = [], []
        for i, x in enumerate(v):
            try:
                out.append(item(x, info))
            except Invalid as exc:
                errors.extend({**e, "loc": (i, *e["loc"])} for e in exc.errors)
            if counted and high is not None and len(out) > high:
                _too_long(name, high, v)
        if low is not None and len(out) < low and (counted or not errors):
            errors.append(_too_short(name, low, len(out), v))
        if errors:
            raise Invalid(errors)
        return cls(out)

    sequence.with_limits = lambda new: _sequence(cls, item, new)  # type: ignore[attr-defined]
    return sequence


def _fixed_tuple(items: list[Validator]) -> Validator:
    def fixed(v: Any, info: ValidationInfo) -> tuple[Any, ...]:
        if not isinstance(v, _SEQ_INPUT):
            fail("tuple_type", "Input should be a valid tuple", v)
        v = list(v)
        if len(v) > len(items):
            n = len(items)
            fail("too_long", f"Tuple should have at most {plural(n, 'item')} after validation, not {len(v)}", v,
                 {"field_type": "Tuple", "max_length": n, "actual_length": len(v)})
        out, errors = [], []
        for i, check in enumerate(items):
            if i >= len(v):
                errors.append({"type": "missing", "loc": (i,), "msg": "Field required", "input": v, "ctx": None})
                continue
            try:
                out.append(check(v[i], info))
            except Invalid as exc:
                errors.extend({**e, "loc": (i, *e["loc"])} for e in exc.errors)
        if errors:
            raise Invalid(errors)
        return tuple(out)

    return fixed


def _dict(key: Validator, value: Validator) -> Validator:
    def dict_(v: Any, info: ValidationInfo) -> dict[Any, Any]:
        if not isinstance(v, Mapping):
            fail("dict_type", "Input should be a valid dictionary", v)
        out, errors = {}, []
        for k, x in v.items():
            try:
                k2 = key(k, info)
            except Invalid as exc:
                errors.extend({**e, "loc": (k, "[key]", *e["loc"])} for e in exc.errors)
                continue
            try:
                out[k2] = value(x, info)
            except Invalid as exc:
                errors.extend({**e, "loc": (k, *e["loc"])} for e in exc.errors)
        if errors:
            raise Invalid(errors)
        return out

    return dict_


def _exact_type(tp: Any) -> type | None:
    """The class an input must be exactly to be a union's obvious match (pydantic's smart mode, simplified)."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = tp.__origin__
    origin = typing.get_origin(tp) or tp
    return origin if isinstance(origin, type) else None


def _union(args: tuple[Any, ...]) -> Validator:
    nullable = type(None) in args
    branches = [(_exact_type(a), compile_type(a)) for a in args if a is not type(None)]
    if len(branches) == 1:
        inner = branches[0][1]
        if not nullable:
            return inner

        def optional(v: Any, info: ValidationInfo) -> Any:
            return None if v is None else inner(v, info)

        return optional

    def union(v: Any, info: ValidationInfo) -> Any:
        if v is None and nullable:
            return None
        # an input that is exactly a branch's type goes there first ("5" stays a str in int | str)
        ordered = sorted(branches, key=lambda b: b[0] is not type(v))
        best: list[dict[str, Any]] | None = None
        for _, check in ordered:
            try:
                return check(v, info)
            except Invalid as exc:
                if best is None or len(exc.errors) < len(best):
                    best = exc.errors
        raise Invalid(best or [])

    return union


# ---------------------------------------------------------------------------------------- compiling

def compile_type(tp: Any) -> Validator:
    """The validator for a (resolved) annotation; TypeError names what the kit does not support."""
    if tp is Any or tp is object:
        return _any
    if tp is None or tp is type(None):
        return _none
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return apply_metadata(compile_type(tp.__origin__), tp.__metadata__)
    if origin is not None:
        args = typing.get_args(tp)
        if origin is typing.Literal:
            return _literal(args)
        if origin in (typing.Union, types.UnionType):
            return _union(args)
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return _sequence(tuple, compile_type(args[0]))
            if args == ((),):
                return _fixed_tuple([])
            return _fixed_tuple([compile_type(a) for a in args])
        if origin in (list, set, frozenset):
            return _sequence(origin, compile_type(args[0]) if args else _any)
        if origin is dict:
            return _dict(compile_type(args[0]), compile_type(args[1])) if args else _dict(_any, _any)
        if origin is typing.ClassVar:
            raise TypeError("ClassVar is not a field")
        raise TypeError(f"modelkit does not support the annotation {tp!r}")
    if isinstance(tp, type):
        if hasattr(tp, "__modelkit_validate__"):
            return _hook(tp)
        simple = {bool: _bool, int: _int, float: _float, str: _str}.get(tp)
        if simple is not None:
            return simple
        if issubclass(tp, PurePath):
            return _path(Path if tp is PurePath else tp)
        if issubclass(tp, enum.Enum):
            return _enum(tp)
        if tp in (tuple, list, set, frozenset):
            return _sequence(tp, _any)
        if tp is dict:
            return _dict(_any, _any)
        return _instance(tp)
    raise TypeError(f"modelkit does not support the annotation {tp!r}")


def _before(func: Callable[..., Any], inner: Validator) -> Validator:
    with_info = takes_info(func)

    def before(v: Any, info: ValidationInfo) -> Any:
        return inner(call(func, v, info, with_info), info)

    return before


def _after(func: Callable[..., Any], inner: Validator) -> Validator:
    with_info = takes_info(func)

    def after(v: Any, info: ValidationInfo) -> Any:
        return call(func, inner(v, info), info, with_info)

    return after


def _constrained(limits: Constraints, inner: Validator) -> Validator:
    with_limits = getattr(inner, "with_limits", None)
    if with_limits is not None and not limits.numeric and limits.pattern is None:
        return with_limits(limits)  # length limits right on a sequence: checked during its validation
    direct = inner in (_int, _float, _str)  # pydantic folds these limits into the type's own check

    def constrained(v: Any, info: ValidationInfo) -> Any:
        v = inner(v, info)
        if v is not None:
            limits.check(v, direct)
        return v

    return constrained


def apply_metadata(inner: Validator, metadata: typing.Iterable[Any]) -> Validator:
    """Wrap `inner` with Annotated/Field metadata, left to right, as pydantic applies it."""
    for meta in metadata:
        if isinstance(meta, AfterValidator):
            inner = _after(meta.func, inner)
        elif isinstance(meta, BeforeValidator):
            inner = _before(meta.func, inner)
        elif isinstance(meta, Constraints):
            inner = _constrained(meta, inner)
        elif isinstance(meta, FieldInfo):  # a Field(...) inside Annotated
            inner = apply_metadata(inner, meta.metadata)
    return inner

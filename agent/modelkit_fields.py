"""Field declarations of the model kit: `Field(...)`, `FieldInfo` and the Annotated metadata.

`FieldInfo` carries what `dxagent.config.doc` and the tests read (annotation, default or
default_factory, description, alias, exclude, metadata) and what validation applies: the
`metadata` list holds validators and `Constraints`, applied in order around the type's own
validation, and may be appended to before the model is first used (`dxagent.limits.defaults`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from dxagent.modelkit_errors import fail

__all__ = ["AfterValidator", "BeforeValidator", "Constraints", "Field", "FieldInfo", "Undefined", "number", "plural"]


class _UndefinedType:
    """No default given (pydantic's `PydanticUndefined`): the field is required."""

    _instance: _UndefinedType | None = None

    def __new__(cls) -> _UndefinedType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Undefined"

    def __reduce__(self) -> str:
        return "Undefined"


Undefined: Any = _UndefinedType()


class BeforeValidator:
    """Annotated metadata: `func(value)` or `func(value, info)` runs before the type's own validation."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func

    def __repr__(self) -> str:
        return f"{type(self).__name__}(func={self.func!r})"


class AfterValidator(BeforeValidator):
    """Annotated metadata: `func(value)` or `func(value, info)` runs on the validated value."""

    __slots__ = ()


def number(value: float) -> str:
    """A limit as pydantic prints it in messages: `5` for 5.0, `0.001`, never an exponent."""
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        text = repr(value)
        if "e" in text:
            from decimal import Decimal

            return format(Decimal(text), "f")
        return text
    return str(value)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


_SEQ_NAMES = {tuple: "Tuple", list: "List", dict: "Dictionary", set: "Set", frozenset: "Frozenset"}


_NUMERIC = {"le": (lambda x, c: x <= c, "less_than_equal", "less than or equal to"),
            "lt": (lambda x, c: x < c, "less_than", "less than"),
            "ge": (lambda x, c: x >= c, "greater_than_equal", "greater than or equal to"),
            "gt": (lambda x, c: x > c, "greater_than", "greater than")}
CONSTRAINTS = frozenset({*_NUMERIC, "min_length", "max_length", "pattern"})


class Constraints:
    """`Field(gt=, ge=, lt=, le=, min_length=, max_length=, pattern=)`: checked after the type, on non-None values.

    Only a NaN can break two numeric limits at once, and then pydantic reports the first it checks:
    le, lt, ge, gt when the limits apply straight to a number's validation, but the order they
    were written in when they follow a validator function. `check(value, direct)` does the same.
    """

    __slots__ = ("_regex", "max_length", "min_length", "numeric", "pattern")

    def __init__(self, **limits: Any) -> None:
        unknown = set(limits) - CONSTRAINTS
        if unknown:
            raise TypeError(f"unknown constraint(s) {', '.join(sorted(unknown))}")
        self.numeric = [(name, limit) for name, limit in limits.items() if name in _NUMERIC and limit is not None]
        self.min_length: int | None = limits.get("min_length")
        self.max_length: int | None = limits.get("max_length")
        self.pattern: str | None = limits.get("pattern")
        self._regex = re.compile(self.pattern) if self.pattern is not None else None

    def __repr__(self) -> str:
        given = [f"{k}={v!r}" for k, v in self.numeric]
        given += [f"{k}={getattr(self, k)!r}" for k in ("min_length", "max_length", "pattern") if getattr(self, k) is not None]
        return f"Constraints({', '.join(given)})"

    def check(self, v: Any, direct: bool = True) -> None:
        if isinstance(v, str):
            self._length(v, "string")
            if self._regex is not None and not self._regex.search(v):
                fail("string_pattern_mismatch", f"String should match pattern '{self.pattern}'", v,
                     {"pattern": self.pattern})
        elif isinstance(v, (int, float)):
            limits = sorted(self.numeric, key=lambda item: list(_NUMERIC).index(item[0])) if direct else self.numeric
            for name, limit in limits:
                ok, kind, words = _NUMERIC[name]
                if not ok(v, limit):
                    fail(kind, f"Input should be {words} {number(limit)}", v, {name: limit})
        elif isinstance(v, (tuple, list, dict, set, frozenset)):
            self._length(v, _SEQ_NAMES.get(type(v), "Value"))

    def _length(self, v: Any, what: str) -> None:
        n = len(v)
        if what == "string":
            if self.min_length is not None and n < self.min_length:
                fail("string_too_short", f"String should have at least {plural(self.min_length, 'character')}", v,
                     {"min_length": self.min_length})
            if self.max_length is not None and n > self.max_length:
                fail("string_too_long", f"String should have at most {plural(self.max_length, 'character')}", v,
                     {"max_length": self.max_length})
            return
        if self.min_length is not None and n < self.min_length:
            fail("too_short", f"{what} should have at least {plural(self.min_length, 'item')} after validation, not {n}",
                 v, {"field_type": what, "min_length": self.min_length, "actual_length": n})
        if self.max_length is not None and n > self.max_length:
            fail("too_long", f"{what} should have at most {plural(self.max_length, 'item')} after validation, not {n}",
                 v, {"field_type": what, "max_length": self.max_length, "actual_length": n})


class FieldInfo:
    """One field: its declaration, and after the model is built its annotation (top-level
    `Annotated` stripped, its metadata appended to `metadata`, as pydantic does)."""

    __slots__ = ("alias", "annotation", "default", "default_factory", "description", "examples", "exclude",
                 "json_schema_extra", "metadata", "title")

    def __init__(self, default: Any = Undefined, *, default_factory: Callable[[], Any] | None = None,
                 alias: str | None = None, description: str | None = None, title: str | None = None,
                 exclude: bool | None = None, examples: list[Any] | None = None,
                 json_schema_extra: dict[str, Any] | None = None, metadata: list[Any] | None = None,
                 annotation: Any = None) -> None:
        if default is not Undefined and default_factory is not None:
            raise TypeError("cannot give both default and default_factory")
        self.default = default
        self.default_factory = default_factory
        self.alias = alias
        self.description = description
        self.title = title
        self.exclude = exclude
        self.examples = examples
        self.json_schema_extra = json_schema_extra
        self.metadata: list[Any] = metadata if metadata is not None else []
        self.annotation = annotation

    def is_required(self) -> bool:
        return self.default is Undefined and self.default_factory is None

    def get_default(self, *, call_default_factory: bool = False) -> Any:
        if self.default_factory is not None:
            return self.default_factory() if call_default_factory else None
        return self.default

    def __repr__(self) -> str:
        parts = [f"annotation={self.annotation!r}", f"required={self.is_required()}"]
        for name in ("default", "default_factory", "alias", "description", "exclude"):
            value = getattr(self, name)
            if value is not None and value is not Undefined:
                parts.append(f"{name}={value!r}")
        if self.metadata:
            parts.append(f"metadata={self.metadata!r}")
        return f"FieldInfo({', '.join(parts)})"


def Field(  # pydantic's spelling, so models only change their import line
    default: Any = Undefined, *, default_factory: Callable[[], Any] | None = None, alias: str | None = None,
    description: str | None = None, title: str | None = None, exclude: bool | None = None,
    examples: list[Any] | None = None, json_schema_extra: dict[str, Any] | None = None, **constraints: Any,
) -> Any:
    """Declare a field's default, documentation and constraints (the subset of pydantic's `Field` we use).

    `constraints` are gt, ge, lt, le (numbers), min_length, max_length (strings and collections)
    and pattern (strings, searched as pydantic does; anchor it with ^…$).
    """
    metadata: list[Any] = []
    if any(v is not None for v in constraints.values()):
        metadata.append(Constraints(**constraints))
    return FieldInfo(default, default_factory=default_factory, alias=alias, description=description, title=title,
                     exclude=exclude, examples=examples, json_schema_extra=json_schema_extra, metadata=metadata)

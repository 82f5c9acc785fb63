"""A small in-house replacement for the part of pydantic (v2) dxagent uses: typed, frozen models.

Why (issue #3): the daemon must stay under 45 MiB RSS, and importing pydantic + pydantic_core
and building one model cost 11 MiB on top of the stdlib the daemon loads anyway. The kit
implements exactly the subset the code uses with the same names, so a module only changes its
import line, and `tests/test_modelkit.py` runs the same models through pydantic (the test oracle)
to keep values, error types, locations and messages equal.

What it offers: `BaseModel` (annotations resolved lazily, once per class, on first use, so
models may refer to models defined later), `ConfigDict(extra=, frozen=, validate_default=,
populate_by_name=)`, `model_validate`, `model_validate_json`, `model_construct`, `model_copy`,
`model_dump`, `model_dump_json`, `model_fields`, `Field`, `BeforeValidator`/`AfterValidator`,
`field_validator`, `model_validator` and `ValidationError` collecting every error of a model.
Types and their coercion are in `modelkit_types`; a class validates itself with a classmethod
`__modelkit_validate__(value, info)` and dumps itself with `__modelkit_dump__(json: bool)`.
"""

from __future__ import annotations

import copy
import enum
import json
import math
import sys
import typing
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

from dxagent.modelkit_errors import CustomError, Invalid, ValidationError, ValidationInfo, call, error, takes_info
from dxagent.modelkit_fields import AfterValidator, BeforeValidator, Constraints, Field, FieldInfo, Undefined
from dxagent.modelkit_types import apply_metadata, compile_type

__all__ = ["AfterValidator", "BaseModel", "BeforeValidator", "ConfigDict", "Constraints", "CustomError", "Field",
           "FieldInfo", "Undefined", "ValidationError", "ValidationInfo", "field_validator", "model_validator"]

_CONFIG_KEYS = frozenset({"extra", "frozen", "validate_default", "populate_by_name"})


def ConfigDict(**settings: Any) -> dict[str, Any]:  # pydantic's spelling
    """Model settings; only those the kit implements are accepted, so a typo is not silently ignored."""
    unknown = set(settings) - _CONFIG_KEYS
    if unknown:
        raise TypeError(f"modelkit does not implement model_config {', '.join(sorted(unknown))}")
    if settings.get("extra", "ignore") not in ("ignore", "forbid", "allow"):
        raise TypeError(f"extra must be 'ignore', 'forbid' or 'allow', not {settings['extra']!r}")
    return dict(settings)


class _Decorator:
    """A `field_validator`/`model_validator` in a class body; attribute access still gives the function."""

    __slots__ = ("check_fields", "fields", "func", "kind", "mode")

    def __init__(self, func: Any, kind: str, mode: str, fields: tuple[str, ...] = (), check_fields: bool = True) -> None:
        if mode not in ("before", "after"):
            raise TypeError(f"modelkit implements mode 'before' and 'after', not {mode!r}")
        if (kind == "field" or mode == "before") and not isinstance(func, (classmethod, staticmethod)):
            func = classmethod(func)
        self.func, self.kind, self.mode, self.fields, self.check_fields = func, kind, mode, fields, check_fields

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self.func.__get__(obj, owner)


def field_validator(*fields: str, mode: str = "after", check_fields: bool | None = None) -> Callable[[Any], Any]:
    """Validate the named fields with a classmethod `(cls, value[, info])`, before or after their type.

    A name that is not a field is an error when the class is first used, unless `check_fields=False`
    (a base class validating a field its subclasses define).
    """
    return lambda func: _Decorator(func, "field", mode, fields, check_fields is not False)


def model_validator(*, mode: str) -> Callable[[Any], Any]:
    """`before`: classmethod `(cls, data[, info])` on the raw input; `after`: method `(self[, info])`."""
    return lambda func: _Decorator(func, "model", mode)


class _Field:
    __slots__ = ("info", "key", "name", "run")

    def __init__(self, name: str, info: FieldInfo, run: Callable[[Any, ValidationInfo], Any]) -> None:
        self.name, self.info, self.run = name, info, run
        self.key = info.alias or name


class _Schema:
    """What validating and dumping a class needs, built once on first use."""

    __slots__ = ("after", "before", "by_name", "extra", "fields", "keys", "model_fields", "validate_default")

    def __init__(self, cls: type[BaseModel]) -> None:
        config = cls.model_config
        self.extra: str = config.get("extra", "ignore")
        self.validate_default: bool = config.get("validate_default", False)
        self.by_name: bool = config.get("populate_by_name", False)
        decorators: dict[str, _Decorator] = {}
        for base in reversed(cls.__mro__):
            for attr, value in base.__dict__.items():
                if isinstance(value, _Decorator):
                    decorators[attr] = value
                elif attr in decorators:
                    del decorators[attr]
        self.model_fields: dict[str, FieldInfo] = {}
        self.fields: list[_Field] = []
        for name, tp in _hints(cls).items():
            if name.startswith("_") or tp is typing.ClassVar or typing.get_origin(tp) is typing.ClassVar:
                continue
            info = _field_info(cls, name, tp)
            run = apply_metadata(compile_type(info.annotation), info.metadata)
            for dec in decorators.values():
                if dec.kind == "field" and (name in dec.fields or "*" in dec.fields):
                    bound = dec.func.__get__(None, cls)
                    run = apply_metadata(run, [BeforeValidator(bound) if dec.mode == "before" else AfterValidator(bound)])
            self.model_fields[name] = info
            self.fields.append(_Field(name, info, run))
        for attr, dec in decorators.items():
            missing = [f for f in dec.fields if f != "*" and f not in self.model_fields]
            if missing and dec.check_fields:
                raise TypeError(f"{cls.__name__}.{attr} validates unknown field(s) {', '.join(missing)}")
        self.keys = {f.key for f in self.fields} | ({f.name for f in self.fields} if self.by_name else set())
        before = [dec.func.__get__(None, cls) for dec in decorators.values() if dec.kind == "model" and dec.mode == "before"]
        self.before = [(f, takes_info(f)) for f in reversed(before)]  # each wraps the previous, as in pydantic
        self.after = [(dec.func, takes_info(dec.func)) for dec in decorators.values()
                      if dec.kind == "model" and dec.mode == "after"]


def _hints(cls: type) -> dict[str, Any]:
    """The annotations of `cls` and its bases, each evaluated in its own module (and defining function).

    Not `typing.get_type_hints`: for a class it evaluates with the class namespace as globals,
    so a lambda in an annotation (`AfterValidator(lambda v: _url(v))`) could not see its module.
    """
    hints: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        annotations = base.__dict__.get("__annotations__")  # noqa: RUF063 (own, not inherited)
        if not annotations:
            continue
        module = sys.modules[base.__module__].__dict__
        localns = base.__dict__.get("__modelkit_locals__")
        for name, value in annotations.items():
            hints[name] = eval(value, module, localns) if isinstance(value, str) else value
    return hints


def _field_info(cls: type, name: str, tp: Any) -> FieldInfo:
    """The field as pydantic shows it: top-level Annotated stripped into `metadata` after Field's own."""
    owner = next(b for b in cls.__mro__ if name in b.__dict__.get("__annotations__", {}))  # noqa: RUF063 (own, not inherited)
    raw = owner.__dict__.get(name, Undefined)
    decl = raw if isinstance(raw, FieldInfo) else FieldInfo(raw)
    metadata = list(decl.metadata)
    description, alias = decl.description, decl.alias
    if typing.get_origin(tp) is typing.Annotated:
        for meta in tp.__metadata__:
            if isinstance(meta, FieldInfo):
                metadata.extend(meta.metadata)
                description, alias = description or meta.description, alias or meta.alias
            else:
                metadata.append(meta)
        tp = tp.__origin__
    return FieldInfo(decl.default, default_factory=decl.default_factory, alias=alias, description=description,
                     title=decl.title, exclude=decl.exclude, examples=decl.examples,
                     json_schema_extra=decl.json_schema_extra, metadata=metadata, annotation=tp)


def _schema(cls: type[BaseModel]) -> _Schema:
    schema = cls.__dict__.get("__modelkit__")
    if schema is None:
        schema = _Schema(cls)
        cls.__modelkit__ = schema  # type: ignore[attr-defined]
    return schema


def _default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return info.default_factory()
    value = info.default
    return copy.deepcopy(value) if isinstance(value, (list, dict, set)) else value


def _validate(cls: type[BaseModel], data: Any, context: Any, into: BaseModel | None = None) -> Any:
    """Validate `data` into an instance of `cls` (or fill `into`); raises Invalid with every error."""
    schema = _schema(cls)
    info = ValidationInfo(context)
    for func, with_info in schema.before:
        data = call(func, data, info, with_info)
    if isinstance(data, cls) and into is None:
        return data  # instances are trusted, as pydantic's revalidate_instances='never'
    if not isinstance(data, dict):
        raise Invalid([error("model_type", f"Input should be a valid dictionary or instance of {cls.__name__}",
                             data, {"class_name": cls.__name__})])
    values: dict[str, Any] = {}
    info.data = values
    errors: list[dict[str, Any]] = []
    for field in schema.fields:
        key = field.key
        if key in data:
            raw = data[key]
        elif schema.by_name and field.name in data:
            raw = data[field.name]
        elif field.info.is_required():
            errors.append({"type": "missing", "loc": (key,), "msg": "Field required", "input": data, "ctx": None})
            continue
        else:
            raw = _default(field.info)
            if not schema.validate_default:
                values[field.name] = raw
                continue
        info.field_name = field.name
        try:
            values[field.name] = field.run(raw, info)
        except Invalid as exc:
            errors.extend({**e, "loc": (key, *e["loc"])} for e in exc.errors)
    if schema.extra != "ignore":
        for key, raw in data.items():
            if key not in schema.keys:
                if schema.extra == "forbid":
                    errors.append({"type": "extra_forbidden", "loc": (key,), "msg": "Extra inputs are not permitted",
                                   "input": raw, "ctx": None})
                else:
                    values[key] = raw
    if errors:
        raise Invalid(errors)
    inst = object.__new__(cls) if into is None else into
    inst.__dict__.update(values)
    info.field_name = None
    for func, with_info in schema.after:
        inst = call(func, inst, info, with_info)
    return inst


class _ModelFields:
    """`Model.model_fields`: name → FieldInfo, built on first access like everything else."""

    def __get__(self, obj: Any, owner: type[BaseModel]) -> dict[str, FieldInfo]:
        return _schema(owner).model_fields


class BaseModel:
    """Base of typed models: validated on creation, compared by value, frozen when configured."""

    model_config: typing.ClassVar[dict[str, Any]] = {}
    model_fields = _ModelFields()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        config: dict[str, Any] = {}
        for base in reversed(cls.__mro__[1:]):
            config.update(base.__dict__.get("model_config", {}))
        config.update(cls.__dict__.get("model_config", {}))
        cls.model_config = config
        frame = sys._getframe(1)  # the scope running the `class` statement
        if frame.f_locals is not frame.f_globals:  # defined in a function: its names resolve annotations
            cls.__modelkit_locals__ = frame.f_locals  # type: ignore[attr-defined]
        if "__hash__" not in cls.__dict__:
            cls.__hash__ = BaseModel._frozen_hash if config.get("frozen") else None  # type: ignore[assignment]

    def __init__(self, /, **data: Any) -> None:
        try:
            _validate(type(self), data, None, into=self)
        except Invalid as exc:
            raise ValidationError(type(self).__name__, exc.errors) from None

    @classmethod
    def __modelkit_validate__(cls, value: Any, info: ValidationInfo | None) -> Any:
        return _validate(cls, value, info.context if info is not None else None)

    @classmethod
    def model_validate(cls, obj: Any, *, strict: bool | None = None, context: Any = None) -> Any:
        """Validate a dict (or an instance, returned as is); ValidationError lists every mistake."""
        try:
            return _validate(cls, obj, context)
        except Invalid as exc:
            raise ValidationError(cls.__name__, exc.errors) from None

    @classmethod
    def model_validate_json(cls, data: str | bytes, *, context: Any = None) -> Any:
        try:
            obj = json.loads(data)
        except ValueError as exc:
            raise ValidationError(cls.__name__, [error("json_invalid", f"Invalid JSON: {exc}", data)]) from None
        return cls.model_validate(obj, context=context)

    @classmethod
    def model_construct(cls, _fields_set: set[str] | None = None, **values: Any) -> Any:
        """An instance from trusted values, without validation; missing fields get their defaults."""
        schema = _schema(cls)
        inst = object.__new__(cls)
        for field in schema.fields:
            if field.name in values:
                inst.__dict__[field.name] = values[field.name]
            elif field.key in values:
                inst.__dict__[field.name] = values[field.key]
            elif not field.info.is_required():
                inst.__dict__[field.name] = _default(field.info)
        return inst

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any:
        """A copy with `update` applied, not validated (as pydantic)."""
        new = object.__new__(type(self))
        new.__dict__.update(copy.deepcopy(self.__dict__) if deep else self.__dict__)
        if update:
            new.__dict__.update(update)
        return new

    def model_dump(self, *, mode: str = "python", include: Any = None, exclude: Any = None, by_alias: bool = False,
                   exclude_none: bool = False) -> dict[str, Any]:
        """The fields as plain data; `mode="json"` gives only JSON types (tuples → lists, paths → str)."""
        if mode not in ("python", "json"):
            raise ValueError(f"mode must be 'python' or 'json', not {mode!r}")
        return _dump_model(self, _JSON if mode == "json" else _PYTHON, by_alias, exclude_none, _names(include),
                           _names(exclude))

    def model_dump_json(self, *, indent: int | None = None, include: Any = None, exclude: Any = None,
                        by_alias: bool = False, exclude_none: bool = False) -> str:
        """Compact JSON, UTF-8 kept as is and infinities/NaN as null, as pydantic writes it."""
        data = _dump_model(self, _JSON_TEXT, by_alias, exclude_none, _names(include), _names(exclude))
        return json.dumps(data, ensure_ascii=False, indent=indent, separators=(",", ":") if indent is None else None)

    def _frozen_hash(self) -> int:
        return hash(tuple(self.__dict__.values()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BaseModel):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __setattr__(self, name: str, value: Any) -> None:
        if self.model_config.get("frozen"):
            raise ValidationError(type(self).__name__, [{"type": "frozen_instance", "loc": (name,),
                                                        "msg": "Instance is frozen", "input": value, "ctx": None}])
        if not name.startswith("_") and name not in _schema(type(self)).model_fields \
                and self.model_config.get("extra") != "allow":
            raise ValueError(f'"{type(self).__name__}" object has no field "{name}"')
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if self.model_config.get("frozen"):
            raise ValidationError(type(self).__name__, [{"type": "frozen_instance", "loc": (name,),
                                                        "msg": "Instance is frozen", "input": None, "ctx": None}])
        object.__delattr__(self, name)

    def __iter__(self) -> typing.Iterator[tuple[str, Any]]:
        yield from self.__dict__.items()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"

    def __str__(self) -> str:
        return " ".join(f"{k}={v!r}" for k, v in self.__dict__.items())


def _names(spec: Any) -> set[str] | None:
    """`include`/`exclude` as a set of top-level field names (a dict may map names to True)."""
    if spec is None:
        return None
    if isinstance(spec, dict):
        if any(v is not True for v in spec.values()):
            raise TypeError("modelkit supports include/exclude of top-level fields only")
        return set(spec)
    return set(spec)


_PYTHON, _JSON, _JSON_TEXT = 0, 1, 2  # dump modes: python objects, JSON types, JSON types for text


def _dump_model(model: BaseModel, as_json: int, by_alias: bool, exclude_none: bool,
                include: set[str] | None = None, exclude: set[str] | None = None) -> dict[str, Any]:
    schema = _schema(type(model))
    out: dict[str, Any] = {}
    values = model.__dict__
    for field in schema.fields:
        name = field.name
        if field.info.exclude or name not in values or (include is not None and name not in include) \
                or (exclude is not None and name in exclude):
            continue
        value = values[name]
        if value is None and exclude_none:
            continue
        out[field.key if by_alias else name] = _dump(value, as_json, by_alias, exclude_none)
    if schema.extra == "allow":
        for name, value in values.items():
            if name not in schema.model_fields and (exclude is None or name not in exclude):
                out[name] = _dump(value, as_json, by_alias, exclude_none)
    return out


def _dump(value: Any, as_json: int, by_alias: bool, exclude_none: bool) -> Any:
    if value is None or type(value) in (str, int, bool):
        return value
    if type(value) is float:
        return None if as_json == _JSON_TEXT and not math.isfinite(value) else value
    if isinstance(value, BaseModel):
        return _dump_model(value, as_json, by_alias, exclude_none)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_dump(v, as_json, by_alias, exclude_none) for v in value]
        if as_json or isinstance(value, list):
            return items
        return type(value)(items) if type(value) in (tuple, set, frozenset) else tuple(items)
    if isinstance(value, dict):
        return {k: _dump(v, as_json, by_alias, exclude_none) for k, v in value.items()}
    hook = getattr(value, "__modelkit_dump__", None)
    if hook is not None:
        return hook(as_json != _PYTHON)
    if as_json:
        if isinstance(value, PurePath):
            return str(value)
        if isinstance(value, enum.Enum):
            return _dump(value.value, as_json, by_alias, exclude_none)
    return value

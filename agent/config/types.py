"""Field types of the config and `Model`, the base of every config model: durations such as `30s`,
byte sizes, secret references, ids and metric label maps.

Secrets are `{env: NAME}` or `{file: PATH}` references resolved once at load. The resolved
value lives in a `Secret` whose repr, str and serialisation are masked, so it cannot leak
into logs, metrics, reports or error messages by accident.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

__all__ = ["ID_PATTERN", "RESERVED_LABELS", "ByteSize", "Duration", "LabelMap", "Model", "Secret", "format_duration",
           "parse_bytes", "parse_duration"]

ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
"""Site and check ids: they become label values and file names."""
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Labels the exporter sets itself (or Prometheus attaches at scrape): a config label must not shadow them.
RESERVED_LABELS = frozenset({"check", "kind", "target", "reason", "job", "instance"})

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: Any) -> float:
    """`30s`, `5m`, `1h30m`, `250ms`, `7d` or a plain number of seconds → seconds (float)."""
    if isinstance(value, bool):
        raise PydanticCustomError("duration", "expected a duration such as 30s, 5m or 6h")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        pos, seconds = 0, 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if not text or pos != len(text):
            raise PydanticCustomError(
                "duration",
                "invalid duration '{value}': use a number with a unit (ms, s, m, h, d, w) such as 30s, 5m or 6h",
                {"value": value},
            )
    else:
        raise PydanticCustomError("duration", "expected a duration such as 30s, 5m or 6h")
    if seconds < 0:
        raise PydanticCustomError("duration", "a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of a duration, for docs and the sample config."""
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    return f"{seconds:g}s"


Duration = Annotated[float, BeforeValidator(parse_duration)]

_BYTE_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def parse_bytes(value: Any) -> int:
    """`64KiB`, `10MB`, `1GiB` or a plain integer → bytes."""
    if isinstance(value, bool):
        raise PydanticCustomError("bytes", "expected a size such as 64KiB or 10MB")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]i?[bB]|[bB])?\s*", value)
        if not m:
            raise PydanticCustomError("bytes", "invalid size '{value}': use e.g. 64KiB, 10MB, 1GiB", {"value": value})
        n = int(float(m.group(1)) * _BYTE_UNITS[(m.group(2) or "").lower()])
    else:
        raise PydanticCustomError("bytes", "expected a size such as 64KiB or 10MB")
    if n < 0:
        raise PydanticCustomError("bytes", "a size cannot be negative")
    return n


ByteSize = Annotated[int, BeforeValidator(parse_bytes)]


def _label_map(value: dict[str, str]) -> dict[str, str]:
    """Metric label names must be valid Prometheus names and not clash with the exporter's own labels."""
    for name in value:
        if not _LABEL_NAME.match(name) or name.startswith("__"):
            raise ValueError(f"label name {name!r} must be letters, digits and '_', not starting with a digit or '__'")
        if name in RESERVED_LABELS:
            raise ValueError(f"label name {name!r} is reserved for dxagent/Prometheus; choose another name")
    return value


LabelMap = Annotated[dict[str, str], AfterValidator(_label_map)]


class Secret:
    """A resolved secret. Never printed: repr/str give `<secret>`; use `reveal()` to read it."""

    __slots__ = ("_value", "resolved", "source")

    def __init__(self, value: str, source: str = "inline", resolved: bool = True) -> None:
        self._value = value
        self.source = source
        self.resolved = resolved

    def reveal(self) -> str:
        if not self.resolved:
            raise RuntimeError(f"secret from {self.source} was not resolved (the check is disabled)")
        return self._value

    def __repr__(self) -> str:
        return f"<secret from {self.source}>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    @classmethod
    def _validate(cls, value: Any, info: Any = None) -> Secret:
        """Resolve a reference; with context `resolve_secrets=False` only check its form.

        Disabled checks are validated that way, so a secret file that does not exist yet does
        not block a config whose check using it is switched off.
        """
        if isinstance(value, Secret):
            return value
        if isinstance(value, str):
            return cls(value, "inline")
        resolve = not (info is not None and isinstance(info.context, dict) and info.context.get("resolve_secrets") is False)
        if isinstance(value, dict) and len(value) == 1:
            (key, ref), = value.items()
            if key in ("env", "file") and isinstance(ref, str) and not resolve:
                return cls("", f"{key} {ref}", resolved=False)
            if key == "env" and isinstance(ref, str):
                if ref not in os.environ:
                    raise PydanticCustomError(
                        "secret", "environment variable {name} is not set", {"name": ref}
                    )
                return cls(os.environ[ref], f"env {ref}")
            if key == "file" and isinstance(ref, str):
                try:
                    text = Path(ref).read_text(encoding="utf-8")
                except OSError as exc:
                    raise PydanticCustomError(
                        "secret", "cannot read secret file {path}: {err}", {"path": ref, "err": exc.strerror or str(exc)}
                    ) from None
                return cls(text.rstrip("\r\n"), f"file {ref}")
        raise PydanticCustomError("secret", "expected a secret reference {env: NAME} or {file: PATH}")

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """A field typed `Secret` is validated by `_validate` and dumped (python or JSON) as `<secret>`,
        so a model dump can be logged or written safely."""
        return core_schema.with_info_plain_validator_function(
            cls._validate, serialization=core_schema.plain_serializer_function_ser_schema(lambda _: "<secret>"))


class Model(BaseModel):
    """Base for all config models: unknown keys are errors, values cannot change after load."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

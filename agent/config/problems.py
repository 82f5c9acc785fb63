"""Config mistakes as users see them: `file:line: field: message`, every one of a file at once.

`problems_from()` turns a pydantic `ValidationError` into `Problem`s. It reads only each
error's `loc`, `msg`, `type` and `ctx`, never its `input` nor `str(ValidationError)`, which
repeat the value given: that value may be a secret (an inline community or password).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pydantic import ValidationError

from dxagent.config.types import ID_PATTERN
from dxagent.config.yamlsrc import Source

__all__ = ["ConfigError", "Problem", "field_path", "problems_from"]

# Messages reworded for people editing YAML; the rest are pydantic's own, which read well enough.
_ID_MESSAGE = "use 1-63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"


@dataclasses.dataclass(frozen=True)
class Problem:
    """One config mistake: where it is and what is wrong."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(Exception):
    """The config cannot be used; `problems` lists every mistake found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def field_path(loc: Sequence[str | int]) -> str:
    """`("checks", 2, "thresholds", "warn")` → `checks[2].thresholds.warn`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(err: dict[str, object]) -> str:
    kind, msg = err["type"], str(err["msg"])
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "string_pattern_mismatch" and isinstance(ctx, dict) and ctx.get("pattern") == ID_PATTERN:
        return _ID_MESSAGE
    return msg.removeprefix("Value error, ")


def problems_from(exc: ValidationError, src: Source, prefix: tuple[str | int, ...] = ()) -> list[Problem]:
    """One Problem per error of `exc`, located in `src` under `prefix` (e.g. `("checks", 3)`)."""
    out = []
    for err in exc.errors(include_url=False, include_input=False, include_context=True):
        loc = prefix + tuple(err["loc"])
        out.append(Problem(src.filename, src.line(loc), field_path(loc), _message(err)))
    return out

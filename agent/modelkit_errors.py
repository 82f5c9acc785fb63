"""Errors of the model kit (`dxagent.modelkit`): what a failed validation reports, and how.

The types and English messages are pydantic's (v2), so that `dxagent config check` and the code
and tests reading `ValidationError.errors()` see what they saw before the kit replaced pydantic.
Unlike pydantic, `str(ValidationError)` never shows the input value: an input can be a secret
(an inline community or password), and the message ends up in logs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["CustomError", "Invalid", "ValidationError", "ValidationInfo", "call", "error", "fail", "takes_info"]

ErrorDict = dict[str, Any]


class CustomError(ValueError):
    """An error a validator raises with its own type and message (pydantic's `PydanticCustomError`).

    `{name}` in the template is replaced by `context[name]`; nothing else is formatted, so a
    literal `{{env: NAME}}` stays as written, exactly as pydantic renders it.
    """

    def __init__(self, error_type: str, message_template: str, context: dict[str, Any] | None = None) -> None:
        super().__init__(message_template)
        self.type = error_type
        self.message_template = message_template
        self.context = context

    def message(self) -> str:
        text = self.message_template
        for key, value in (self.context or {}).items():
            text = text.replace("{" + key + "}", str(value))
        return text

    def __str__(self) -> str:
        return self.message()


class Invalid(Exception):  # internal control flow, never escapes the kit
    """Raised inside the kit with the errors found so far; `loc` is relative to the value checked.

    Containers catch it, prefix the item's key or index to each `loc` and go on with the next
    item, so that one validation reports every mistake, not only the first.
    """

    def __init__(self, errors: list[ErrorDict]) -> None:
        super().__init__(errors)
        self.errors = errors


class ValidationError(ValueError):
    """Validation of `title` (a model name) failed; `errors()` lists each problem with its `loc`."""

    def __init__(self, title: str, errors: list[ErrorDict]) -> None:
        super().__init__(title)
        self.title = title
        self._errors = errors

    def errors(self, *, include_url: bool = True, include_context: bool = True,
               include_input: bool = True) -> list[ErrorDict]:
        """`[{type, loc, msg, input?, ctx?}]` as pydantic gives them (`include_url` is accepted, no URLs exist)."""
        out = []
        for err in self._errors:
            item = {"type": err["type"], "loc": err["loc"], "msg": err["msg"]}
            if include_input:
                item["input"] = err["input"]
            if include_context and err.get("ctx") is not None:
                item["ctx"] = err["ctx"]
            out.append(item)
        return out

    def error_count(self) -> int:
        return len(self._errors)

    def __str__(self) -> str:
        n = len(self._errors)
        lines = [f"{n} validation error{'' if n == 1 else 's'} for {self.title}"]
        for err in self._errors:
            if err["loc"]:
                lines.append(".".join(str(part) for part in err["loc"]))
            lines.append(f"  {err['msg']} [type={err['type']}]")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"ValidationError({self.title!r}, {self.error_count()} errors)"


class ValidationInfo:
    """What a validator taking an `info` argument sees: the caller's `context`, the fields
    validated so far (`data`) and the field being validated (`field_name`)."""

    __slots__ = ("context", "data", "field_name")

    def __init__(self, context: Any, data: dict[str, Any] | None = None, field_name: str | None = None) -> None:
        self.context = context
        self.data = data if data is not None else {}
        self.field_name = field_name


def error(kind: str, msg: str, value: Any, ctx: dict[str, Any] | None = None) -> ErrorDict:
    return {"type": kind, "loc": (), "msg": msg, "input": value, "ctx": ctx}


def fail(kind: str, msg: str, value: Any, ctx: dict[str, Any] | None = None) -> NoReturn:
    raise Invalid([error(kind, msg, value, ctx)])


def takes_info(func: Callable[..., Any], bound: int = 0) -> bool:
    """Whether a validator wants `(value, info)` rather than `(value)`, as pydantic decides it.

    `bound` counts the leading parameters filled in already (`cls` of a classmethod). Read from
    the code object rather than `inspect.signature`: cheaper, and enough for the functions,
    methods and lambdas validators are.
    """
    if hasattr(func, "__self__") and hasattr(func, "__func__"):  # bound method
        func, bound = func.__func__, bound + 1
    code = getattr(func, "__code__", None)
    if code is None:
        return False
    return code.co_argcount - bound >= 2


def call(func: Callable[..., Any], value: Any, info: ValidationInfo | None, with_info: bool,
         *args: Any) -> Any:
    """Run a user validator and turn the exceptions pydantic treats as validation errors into `Invalid`.

    ValueError → `value_error` ("Value error, …"), AssertionError → `assertion_error`, a
    CustomError → its own type and message, a ValidationError of a nested validation → its
    errors under the current location. Anything else is a bug and propagates unchanged.
    """
    try:
        return func(*args, value, info) if with_info else func(*args, value)
    except Invalid:
        raise
    except CustomError as exc:
        raise Invalid([error(exc.type, exc.message(), value, exc.context)]) from None
    except ValidationError as exc:
        raise Invalid(list(exc._errors)) from None
    except ValueError as exc:
        raise Invalid([error("value_error", f"Value error, {exc}", value, {"error": exc})]) from None
    except AssertionError as exc:
        raise Invalid([error("assertion_error", f"Assertion failed, {exc}", value, {"error": exc})]) from None

"""The config reference (Markdown) and the commented sample config, generated from the models.

Both come from the same source as validation (field types, defaults, descriptions and each kind's
`EXAMPLE`), and a test keeps docs/config-reference.md equal to `reference_markdown()`, so the
documentation cannot drift from what the loader accepts.
"""

from __future__ import annotations

import enum
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from dxagent import checks
from dxagent.config.check import CheckConfig
from dxagent.config.toplevel import Config
from dxagent.config.types import Duration, Secret, format_duration

__all__ = ["reference_markdown", "sample_text"]

_SKIP = {"source"}


def _type_name(ann: Any, field: FieldInfo | None = None) -> str:
    meta = field.metadata if field is not None else []
    if ann is float and any(getattr(m, "func", None).__name__ == "parse_duration" for m in meta if hasattr(m, "func")):
        return "duration"
    if ann is int and any(getattr(m, "func", None).__name__ == "parse_bytes" for m in meta if hasattr(m, "func")):
        return "size"
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Annotated:
        inner = args[0]
        if ann == Duration:
            return "duration"
        return _type_name(inner, field)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " \\| ".join(names) + (" (optional)" if type(None) in args else "")
    if origin in (tuple, list):
        return f"list of {_type_name(args[0]) if args else 'any'}"
    if origin is dict:
        return f"map {_type_name(args[0])} → {_type_name(args[1])}"
    if isinstance(ann, type):
        if ann is Secret:
            return "secret"
        if issubclass(ann, BaseModel):
            return f"mapping ({ann.__name__})"
        if issubclass(ann, enum.Enum):
            return " \\| ".join(f"`{m.value}`" for m in ann)
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "Path": "path"}.get(ann.__name__, ann.__name__)
    return str(ann).replace("typing.", "")


def _default(field: FieldInfo, name_type: str) -> str:
    if field.is_required():
        return "**required**"
    value = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        flat = value.model_dump(mode="json", exclude_none=True)
        if any(isinstance(v, dict) for v in flat.values()):
            return "see below"
        return "`{" + ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in flat.items()) + "}`"
    if value is None:
        return "—"
    if name_type == "duration" and isinstance(value, (int, float)):
        return f"`{format_duration(float(value))}`"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, (tuple, list, dict)) and not value:
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == "":
        return '`""`'
    return f"`{value}`"


def _nested_models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    for field in model.model_fields.values():
        for arg in [field.annotation, *typing.get_args(field.annotation)]:
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in found:
                found.append(arg)
    return found


def _table(model: type[BaseModel], skip: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    rows = ["| field | type | default | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in _SKIP or name in skip:
            continue
        tname = "list of checks" if model is Config and name == "checks" else _type_name(field.annotation, field)
        desc = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{name}` | {tname} | {_default(field, tname)} | {desc} |")
    return rows


def _section(model: type[BaseModel], title: str, level: str, seen: set[type[BaseModel]]) -> list[str]:
    out = [f"{level} {title}", "", (model.__doc__ or "").strip().splitlines()[0], "", *_table(model), ""]
    seen.add(model)
    prefix = title.split(":")[0]
    for sub in _nested_models(model):
        if sub not in seen and sub is not CheckConfig:
            out += _section(sub, f"{prefix}: {sub.__name__}", level, seen)
    return out


def reference_markdown() -> str:
    """The full config reference as Markdown."""
    out = [
        "# Configuration reference",
        "",
        "Generated from the config model by `dxagent config reference`; a test keeps this file in step.",
        "Durations read as `250ms`, `30s`, `5m`, `6h`, `7d` (or a number of seconds); sizes as `64KiB`,",
        "`10MB`; secrets as `{env: NAME}` or `{file: PATH}` (an inline string works but is discouraged).",
        "Unknown fields are errors.",
        "",
        "## Top level",
        "",
    ]
    seen: set[type[BaseModel]] = set()
    out += _section(Config, "Config", "###", seen)
    out += ["## Fields of every check", "", *_table(CheckConfig), ""]
    common = set(CheckConfig.model_fields)
    out += ["## Check kinds", ""]
    for kind in sorted(checks.KINDS):
        model = checks.config_model(kind)
        mod = checks.module(kind)
        out += [f"### `{kind}`", "", (model.__doc__ or "").strip().splitlines()[0], "",
                *_table(model, common | {"kind"}), ""]
        kind_seen: set[type[BaseModel]] = {model}
        for sub in _nested_models(model):
            if sub not in kind_seen and sub is not CheckConfig:
                out += _section(sub, f"`{kind}`: {sub.__name__}", "####", kind_seen)
        example = getattr(mod, "EXAMPLE", "")
        if example:
            out += ["Example:", "", "```yaml", example.rstrip(), "```", ""]
    return "\n".join(out).rstrip() + "\n"


def sample_text() -> str:
    """A fully commented sample config: header, site, server and every kind's example."""
    lines = [
        "# dxagent configuration (written by `dxagent config init`).",
        "# Reference: docs/config-reference.md or `dxagent config reference`.",
        "# Validate with: dxagent config check /etc/dxagent/dxagent.yml",
        "",
        "site:",
        "  id: hn-phu-dong            # stable site code: lowercase letters, digits, . _ -",
        "  name: UBND xã Phù Đổng     # human name shown in reports",
        "  province: ha-noi           # province code",
        "  level: commune             # commune | province | central",
        "  staff: 25                  # number of officials (workstation coverage target)",
        "",
        "# Constant labels added to every metric (keep them few and stable).",
        "labels: {}",
        "",
        "# lang: vi                   # message language (vi | en); default from $LANG",
        "# state_dir: /var/lib/dxagent",
        "",
        "server:",
        "  listen: 0.0.0.0:10190       # metrics, health and API of `dxagent run`",
        "  # web_config_file: /etc/dxagent/web.yml   # TLS and basic auth, as for node_exporter",
        "",
        "checks:",
    ]
    for kind in checks.KINDS:
        example = getattr(checks.module(kind), "EXAMPLE", "")
        for line in example.rstrip().splitlines():
            lines.append(("  " + line) if line.strip() else "")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_reference(path: Path) -> None:
    path.write_text(reference_markdown(), encoding="utf-8")


if __name__ == "__main__":  # python -m dxagent.config.doc docs/config-reference.md
    import sys

    write_reference(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/config-reference.md"))

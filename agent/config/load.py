"""Loading the config file: YAML with line marks, each check by its kind's model, every problem at once.

`load()` returns a `Config` or raises `ConfigError` whose problems each name the file, the line
and the field path, so that `dxagent config check` prints one line per mistake and exits 2.
This module sits above the check kinds and the readiness profiles it validates against.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dxagent.checks import KINDS, config_model
from dxagent.config import yamlsrc
from dxagent.config.problems import ConfigError, Problem, field_path, problems_from
from dxagent.config.sections import ReadinessConfig
from dxagent.config.toplevel import Config

__all__ = ["BUILTIN", "DEFAULT_PATH", "default_text", "load", "load_default", "load_source", "load_text", "resolve"]

DEFAULT_PATH = Path("/etc/dxagent/dxagent.yml")
BUILTIN = "builtin"


def _load_checks(raw: list[Any], src: yamlsrc.Source) -> tuple[list[Any], list[Problem]]:
    """Each item validated by its kind's model; duplicate ids and unknown kinds are problems too."""
    problems: list[Problem] = []
    checks: list[Any] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        loc: tuple[str | int, ...] = ("checks", i)
        if not isinstance(item, dict):
            problems.append(Problem(src.filename, src.line(loc), field_path(loc), "expected a mapping"))
            continue
        raw_id = item.get("id")
        if isinstance(raw_id, str) and raw_id in seen:
            problems.append(Problem(src.filename, src.line((*loc, "id")), field_path((*loc, "id")),
                                    f"duplicate check id {raw_id!r} (also checks[{seen[raw_id]}])"))
            continue
        if isinstance(raw_id, str):
            seen[raw_id] = i
        kind = item.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            known = ", ".join(sorted(KINDS))
            what = "missing" if kind is None else f"unknown kind {kind!r}"
            problems.append(Problem(src.filename, src.line((*loc, "kind")), field_path((*loc, "kind")),
                                    f"{what}; known kinds: {known}"))
            continue
        try:
            enabled = item.get("enabled", True) is not False
            check = config_model(kind).model_validate(item, context={"resolve_secrets": enabled})
        except ValidationError as exc:
            problems.extend(problems_from(exc, src, loc))
            continue
        except Exception as exc:  # a kind's validator failed in an unexpected way: still one clear line
            problems.append(Problem(src.filename, src.line(loc), field_path(loc),
                                    f"cannot validate this {kind} check: {type(exc).__name__}: {exc}"))
            continue
        checks.append(check)
    return checks, problems


def _readiness_problem(raw: Any, src: yamlsrc.Source) -> Problem | None:
    """A profile that does not load would only fail hours later in the daemon: say so at load.

    Checked on the `readiness` section alone, so that it is reported beside the file's other problems.
    """
    try:
        readiness = ReadinessConfig.model_validate({} if raw is None else raw)
    except ValidationError:
        return None  # already among the Config's problems
    if not readiness.enabled:
        return None
    from dxagent.reports.profile import load_profile  # reports sit above config; only the loader reaches up

    try:
        load_profile(readiness.profile)
    except ConfigError as exc:
        first = exc.problems[0]
        more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        return Problem(src.filename, src.line(("readiness",)), "readiness",
                       f"profile {readiness.profile!r} is not usable: {first}{more}")
    return None


def load_source(src: yamlsrc.Source) -> Config:
    """Validate parsed YAML into a Config, collecting every problem before raising."""
    data = src.data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(src.filename, 1, "", "the config must be a YAML mapping")])
    raw_checks = data.get("checks") or []
    problems: list[Problem] = []
    if not isinstance(raw_checks, list):
        problems.append(Problem(src.filename, src.line(("checks",)), "checks", "expected a list of checks"))
        raw_checks = []
    checks, check_problems = _load_checks(raw_checks, src)
    cfg: Config | None
    try:
        cfg = Config.model_validate({**data, "checks": ()})
    except ValidationError as exc:
        problems.extend(problems_from(exc, src))
        cfg = None
    if (bad_profile := _readiness_problem(data.get("readiness"), src)) is not None:
        problems.append(bad_profile)
    problems.extend(check_problems)
    if problems or cfg is None:
        raise ConfigError(sorted(problems, key=lambda p: (p.line or 0, p.field)))
    return cfg.model_copy(update={"checks": tuple(checks), "source": src.filename})


def load_text(text: str, filename: str = "<string>") -> Config:
    """Validate YAML text; `filename` is what problems name."""
    try:
        src = yamlsrc.load(text, filename)
    except yamlsrc.YamlError as exc:
        raise ConfigError([Problem(filename, exc.line, "", exc.message)]) from None
    return load_source(src)


def load(path: str | Path) -> Config:
    """Read and validate a config file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(str(p), None, "", "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(str(p), None, "", f"not UTF-8 text ({exc.reason})")]) from None
    except OSError as exc:
        raise ConfigError([Problem(str(p), None, "", f"cannot read: {exc.strerror or exc}")]) from None
    return load_text(text, str(p))


def default_text() -> str:
    """The embedded default config (agent/defaults/default.yml)."""
    return importlib.resources.files("dxagent.defaults").joinpath("default.yml").read_text(encoding="utf-8")


def load_default() -> Config:
    """The embedded default config used when no file is given."""
    return load_text(default_text(), "<built-in default>")


def resolve(path: str | Path | None) -> Config:
    """The config to use: `path`, else $DXAGENT_CONFIG, else /etc/dxagent/dxagent.yml if present,
    else the built-in default. `builtin` (as path or in the variable) names the built-in default,
    whatever is in /etc, so a technician can always compare with it. Raises ConfigError."""
    chosen = str(path) if path is not None else os.environ.get("DXAGENT_CONFIG") or None
    if chosen == BUILTIN:
        return load_default()
    if chosen:
        return load(chosen)
    if DEFAULT_PATH.exists():
        return load(DEFAULT_PATH)
    return load_default()

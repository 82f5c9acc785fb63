"""The typed configuration: one YAML file validated once at load.

Every model forbids unknown keys and is frozen. `load()` returns a `Config` or raises
`ConfigError` whose `problems` each name the file, the line and the field path, so that
`dxagent config check` prints one line per mistake and exits 2.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator

from dxagent.config import yamlsrc
from dxagent.config.sections import (
    EmailConfig,
    NotifyConfig,
    PushConfig,
    ReadinessConfig,
    ServerConfig,
    SnapshotConfig,
    StoreConfig,
    WebhookConfig,
)
from dxagent.config.types import Duration, Model

__all__ = [
    "BUILTIN",
    "DEFAULT_PATH",
    "resolve",
    "CheckConfig",
    "Config",
    "ConfigError",
    "EmailConfig",
    "Model",
    "NotifyConfig",
    "Problem",
    "ReadinessConfig",
    "ServerConfig",
    "SiteConfig",
    "StoreConfig",
    "WebhookConfig",
    "load",
    "load_default",
    "load_text",
]

DEFAULT_PATH = Path("/etc/dxagent/dxagent.yml")
ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Labels the exporter sets itself (or Prometheus attaches at scrape): a config label must not shadow them.
RESERVED_LABELS = frozenset({"check", "kind", "target", "reason", "job", "instance"})


def _label_map(value: dict[str, str]) -> dict[str, str]:
    """Metric label names must be valid Prometheus names and not clash with the exporter's own labels."""
    for name in value:
        if not _LABEL_NAME.match(name) or name.startswith("__"):
            raise ValueError(f"label name {name!r} must be letters, digits and '_', not starting with a digit or '__'")
        if name in RESERVED_LABELS:
            raise ValueError(f"label name {name!r} is reserved for dxagent/Prometheus; choose another name")
    return value


LabelMap = Annotated[dict[str, str], AfterValidator(_label_map)]


class CheckConfig(Model):
    """Fields every check has; each kind's module subclasses this with its own targets."""

    id: str = Field(pattern=ID_PATTERN, description="Unique check name, used in metrics and `--only`.")
    kind: str = Field(description="Check kind (see the kinds below).")
    description: str = Field("", description="Free text shown in reports.")
    interval: Duration = Field(60.0, gt=0, description="How often `dxagent run` runs the check.")
    timeout: Duration = Field(10.0, gt=0, description="Budget for one attempt; the check is stopped at this time.")
    retries: int = Field(0, ge=0, le=5, description="Quick re-tries that must also fail before a failure is reported.")
    retry_delay: Duration = Field(1.0, ge=0, description="Pause between re-tries.")
    groups: tuple[str, ...] = Field((), description="Group names for `dxagent check --only GROUP` (e.g. `meeting`).")
    labels: LabelMap = Field(default_factory=dict, description="Extra labels on this check's metrics.")
    enabled: bool = Field(True, description="Set false to keep a check in the file without running it.")

    def target_label(self) -> str:
        """The target shown when the runner has to report for the check (timeout, crash)."""
        return ""

    @model_validator(mode="after")
    def _timeout_fits_interval(self) -> CheckConfig:
        if self.timeout * (self.retries + 1) > self.interval:
            raise ValueError(
                "timeout × (retries + 1) must not exceed interval, or runs would overlap"
            )
        return self


class SiteConfig(Model):
    """Who this agent speaks for; becomes `dxagent_site_info` and the report header."""

    id: str = Field("unset", pattern=ID_PATTERN, description="Stable site code, e.g. `hn-xa-phu-dong`.")
    name: str = Field("", description="Human name of the site, e.g. `UBND xã Phù Đổng`.")
    province: str = Field("", description="Province code or name, e.g. `ha-noi`.")
    level: Literal["commune", "province", "central"] = Field("commune", description="Administrative level.")
    staff: int | None = Field(None, ge=0, description="Number of officials (for workstation coverage).")


class Config(Model):
    """The whole agent configuration."""

    site: SiteConfig = Field(default_factory=SiteConfig, description="Site identity.")
    labels: LabelMap = Field(default_factory=dict, description="Constant labels added to every metric.")
    lang: Literal["vi", "en"] | None = Field(None, description="Default language for messages (else from $LANG).")
    state_dir: Path = Field(Path("/var/lib/dxagent"), description="Where history and state are kept.")
    concurrency: int = Field(16, ge=1, le=256, description="Checks run at the same time at most.")
    server: ServerConfig = Field(default_factory=ServerConfig, description="HTTP listener of the daemon.")
    store: StoreConfig = Field(default_factory=StoreConfig, description="History store: retention and size cap.")
    push: PushConfig = Field(default_factory=PushConfig, description="Pushgateway push (off unless `url` is set).")
    snapshot: SnapshotConfig = Field(default_factory=SnapshotConfig, description="JSON snapshot file of the latest results.")
    notify: NotifyConfig | None = Field(None, description="Local notifier: webhook/e-mail on state changes (off when unset).")
    readiness: ReadinessConfig = Field(default_factory=ReadinessConfig,
                                       description="Readiness evaluation exported as metrics by the daemon.")
    checks: tuple[Any, ...] = Field((), description="The checks; each has `id`, `kind` and the kind's fields.")
    source: str = Field("<memory>", exclude=True, description="(internal) file the config came from.")

    @model_validator(mode="before")
    @classmethod
    def _no_source(cls, data: Any) -> Any:
        if isinstance(data, dict) and "source" in data:
            raise ValueError("unknown field 'source'")
        return data


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


def _field_path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _problems(exc: ValidationError, src: yamlsrc.Source, prefix: tuple[str | int, ...]) -> list[Problem]:
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = prefix + tuple(err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "string_pattern_mismatch" and (err.get("ctx") or {}).get("pattern") == ID_PATTERN:
            msg = "use 1-63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        out.append(Problem(src.filename, src.line(loc), _field_path(loc), msg))
    return out


def _load_checks(raw: list[Any], src: yamlsrc.Source) -> tuple[list[Any], list[Problem]]:
    from dxagent.checks import KINDS, config_model

    problems: list[Problem] = []
    checks: list[Any] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        loc: tuple[str | int, ...] = ("checks", i)
        if not isinstance(item, dict):
            problems.append(Problem(src.filename, src.line(loc), _field_path(loc), "expected a mapping"))
            continue
        raw_id = item.get("id")
        if isinstance(raw_id, str) and raw_id in seen:
            problems.append(Problem(src.filename, src.line((*loc, "id")), _field_path((*loc, "id")),
                                    f"duplicate check id {raw_id!r} (also checks[{seen[raw_id]}])"))
            continue
        if isinstance(raw_id, str):
            seen[raw_id] = i
        kind = item.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            known = ", ".join(sorted(KINDS))
            what = "missing" if kind is None else f"unknown kind {kind!r}"
            problems.append(Problem(src.filename, src.line((*loc, "kind")), _field_path((*loc, "kind")),
                                    f"{what}; known kinds: {known}"))
            continue
        try:
            enabled = item.get("enabled", True) is not False
            check = config_model(kind).model_validate(item, context={"resolve_secrets": enabled})
        except ValidationError as exc:
            problems.extend(_problems(exc, src, loc))
            continue
        except Exception as exc:  # a kind's validator failed in an unexpected way: still one clear line
            problems.append(Problem(src.filename, src.line(loc), _field_path(loc),
                                    f"cannot validate this {kind} check: {type(exc).__name__}: {exc}"))
            continue
        checks.append(check)
    return checks, problems


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
    try:
        cfg = Config.model_validate({**data, "checks": ()})
    except ValidationError as exc:
        problems.extend(_problems(exc, src, ()))
        cfg = None
    problems.extend(check_problems)
    if problems or cfg is None:
        raise ConfigError(sorted(problems, key=lambda p: (p.line or 0, p.field)))
    return cfg.model_copy(update={"checks": tuple(checks), "source": src.filename})


def load_text(text: str, filename: str = "<string>") -> Config:
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
    return importlib.resources.files("dxagent.defaults").joinpath("default.yml").read_text(encoding="utf-8")


def load_default() -> Config:
    """The embedded default config used when no file is given."""
    return load_text(default_text(), "<built-in default>")


BUILTIN = "builtin"


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

"""The typed configuration: one YAML file validated once at load, by pydantic models.

Every model forbids unknown keys and is frozen. `load()` returns a `Config` or raises
`ConfigError` whose `problems` each name the file, the line and the field path. The modules,
bottom-up: `types` (field types, `Model`), `yamlsrc` (YAML with lines), `problems`
(file:line: field: message), `check` (`CheckConfig`, what check kinds build on), `sections`
and `toplevel` (the agent's own settings), `load` (the loader, above the check kinds), `doc`
(reference and sample generated from the models). This package re-exports the public names.
"""

from __future__ import annotations

from dxagent.config.check import CheckConfig
from dxagent.config.load import BUILTIN, DEFAULT_PATH, default_text, load, load_default, load_source, load_text, resolve
from dxagent.config.problems import ConfigError, Problem
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
from dxagent.config.toplevel import Config, SiteConfig
from dxagent.config.types import Model

__all__ = [
    "BUILTIN",
    "DEFAULT_PATH",
    "CheckConfig",
    "Config",
    "ConfigError",
    "EmailConfig",
    "Model",
    "NotifyConfig",
    "Problem",
    "PushConfig",
    "ReadinessConfig",
    "ServerConfig",
    "SiteConfig",
    "SnapshotConfig",
    "StoreConfig",
    "WebhookConfig",
    "default_text",
    "load",
    "load_default",
    "load_source",
    "load_text",
    "resolve",
]

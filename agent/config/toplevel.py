"""The top-level config model: site identity, constant labels and the daemon's sections.

`checks` is left untyped here: the loader validates each item with its kind's own model
(`dxagent.checks.config_model`), so that an unknown kind is named with the known ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from dxagent.config.sections import (
    NotifyConfig,
    PushConfig,
    ReadinessConfig,
    ServerConfig,
    SnapshotConfig,
    StoreConfig,
)
from dxagent.config.types import ID_PATTERN, LabelMap, Model

__all__ = ["Config", "SiteConfig"]


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

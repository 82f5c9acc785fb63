"""The daemon's config sections: HTTP listener, history store, push, snapshot, notifier, readiness.

The top-level model (`config.toplevel`) holds one of each; every model here is re-exported by
`dxagent.config`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from dxagent.config.types import ByteSize, Duration, Model, Secret

__all__ = ["ServerConfig", "PushConfig", "SnapshotConfig", "StoreConfig", "WebhookConfig", "EmailConfig",
           "NotifyConfig", "ReadinessConfig"]


class ServerConfig(Model):
    """The HTTP listener of `dxagent run` (metrics, health, API); see docs/operations.md."""

    listen: str = Field(
        "0.0.0.0:10190",
        pattern=r"^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$",
        description="Address:port to listen on (all IPv4 addresses by default, so the provincial Prometheus "
        "can scrape; restrict with a firewall and the web config). Port 0 disables the listener.",
    )
    web_config_file: Path | None = Field(
        None, description="exporter-toolkit web config (TLS, basic auth), as for node_exporter."
    )


class PushConfig(Model):
    """Push to a Pushgateway, for sites the provincial Prometheus cannot scrape."""

    url: str | None = Field(
        None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="Pushgateway base URL, e.g. `http://pgw.tinh.example:9091`; unset means no push.",
    )
    interval: Duration = Field(60.0, ge=5, description="How often the latest results are pushed.")
    timeout: Duration = Field(10.0, gt=0, description="Budget for one push.")
    job: str = Field("dxagent", pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="`job` label of the pushed group.")
    username: str | None = Field(None, description="Basic-auth user for the Pushgateway (with `password`).")
    password: Secret | None = Field(None, description="Basic-auth password: `{env: NAME}` or `{file: PATH}`.")
    ca_file: Path | None = Field(None, description="CA bundle to verify an https Pushgateway (default: system CAs).")

    @model_validator(mode="after")
    def _auth_pair(self) -> PushConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("set both username and password, or neither")
        return self


class SnapshotConfig(Model):
    """A JSON file with the latest results (same schema as `check --format json`), for offline reports."""

    enabled: bool = Field(True, description="Write the snapshot file.")
    path: Path | None = Field(None, description="Where to write it (default: `<state_dir>/snapshot.json`).")
    interval: Duration = Field(60.0, ge=1, description="Written at most this often, when results changed, and at exit.")


class StoreConfig(Model):
    """The history file under `state_dir` (see docs/history.md): how long and how big."""

    raw_retention: Duration = Field(
        "35d", gt=0, description="How long every result is kept; older results are rolled up into hourly summaries."
    )
    retention: Duration = Field("400d", gt=0, description="How long hourly summaries, transitions and devices are kept.")
    max_size: ByteSize = Field(
        "256MiB", ge=1048576, description="Size cap of the history file; the oldest summaries, then results, go first."
    )

    @model_validator(mode="after")
    def _raw_within_retention(self) -> StoreConfig:
        if self.raw_retention > self.retention:
            raise ValueError("raw_retention must not exceed retention")
        return self


class WebhookConfig(Model):
    """One webhook of the local notifier: a JSON POST per confirmed state change (docs/early-warning.md)."""

    url: Secret = Field(
        description="`http(s)://` URL to POST to; inline, or `{env: NAME}`/`{file: PATH}` when the URL itself holds "
        "a token. Logs show only its host.")
    bearer_token: Secret | None = Field(None, description="Sent as `Authorization: Bearer …`: `{env: NAME}` or `{file: PATH}`.")
    username: str | None = Field(None, description="Basic-auth user (with `password`).")
    password: Secret | None = Field(None, description="Basic-auth password: `{env: NAME}` or `{file: PATH}`.")
    ca_file: Path | None = Field(None, description="CA bundle to verify an https webhook (default: system CAs).")

    @model_validator(mode="after")
    def _check(self) -> WebhookConfig:
        if self.url.resolved and not re.match(r"^https?://[^\s/]+(/\S*)?$", self.url.reveal()):
            raise ValueError("url must be an http:// or https:// URL")
        if (self.username is None) != (self.password is None):
            raise ValueError("set both username and password, or neither")
        if self.bearer_token is not None and self.username is not None:
            raise ValueError("use bearer_token or username/password, not both")
        return self


class EmailConfig(Model):
    """E-mail of the local notifier over SMTP; the subject and body name the site, check, target and status."""

    host: str = Field(min_length=1, description="SMTP server (the province's mail relay), e.g. `mail.tinh.example`.")
    port: int = Field(587, ge=1, le=65535, description="SMTP port: 587 for `starttls`, 465 for `tls`, 25 for `none`.")
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="`starttls` (upgrade after connecting), `tls` (implicit TLS) or `none` (local relay only).")
    username: str | None = Field(None, description="SMTP AUTH user (with `password`).")
    password: Secret | None = Field(None, description="SMTP AUTH password: `{env: NAME}` or `{file: PATH}`.")
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="From address, e.g. `dxagent@xa.tinh.example`.")
    to: tuple[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")], ...] = Field(
        min_length=1, description="Recipients (the province's IT team).")
    ca_file: Path | None = Field(None, description="CA bundle to verify the server's certificate (default: system CAs).")
    lang: Literal["vi", "en", "both"] = Field("both", description="Language of subject and body; `both` puts Vietnamese first.")

    @model_validator(mode="after")
    def _check(self) -> EmailConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("set both username and password, or neither")
        if self.security == "none" and self.password is not None:
            raise ValueError("a password would cross the network in clear text: use security starttls or tls")
        return self


class NotifyConfig(Model):
    """The local notifier, for sites no central Prometheus watches: webhook and/or e-mail on confirmed changes."""

    consecutive: int = Field(2, ge=1, le=100, description="Results in a row in a new state before it counts (hysteresis).")
    recovery_consecutive: int | None = Field(
        None, ge=1, le=100, description="Results in a row that confirm a return to OK (default: `consecutive`).")
    min_status: Literal["WARN", "CRIT"] = Field("WARN", description="Lowest status worth a notification; below it counts as OK.")
    only: tuple[str, ...] = Field((), description="Check ids, kinds or groups to notify about (default: every check).")
    resend_every: Duration | None = Field(None, ge=60, description="Remind while a problem lasts, this often (default: never).")
    timeout: Duration = Field(10.0, gt=0, le=300, description="Budget of one delivery attempt.")
    retries: int = Field(5, ge=0, le=20, description="Further attempts after a failed delivery.")
    backoff: Duration = Field(5.0, gt=0, description="Pause before the first retry; doubles each time up to `backoff_max`.")
    backoff_max: Duration = Field(300.0, gt=0, description="Longest pause between retries.")
    queue_size: int = Field(100, ge=1, le=10000, description="Notifications waiting per destination; when full the oldest is dropped.")
    webhooks: tuple[WebhookConfig, ...] = Field((), description="Webhooks receiving the JSON payload.")
    email: EmailConfig | None = Field(None, description="E-mail delivery over SMTP.")

    @model_validator(mode="after")
    def _check(self) -> NotifyConfig:
        if not self.webhooks and self.email is None:
            raise ValueError("give at least one of webhooks or email")
        if self.backoff > self.backoff_max:
            raise ValueError("backoff must not exceed backoff_max")
        return self


class ReadinessConfig(Model):
    """Readiness against a profile, evaluated by `dxagent run` and exported as `dxagent_readiness_*` metrics.

    Whether the profile loads is checked by the loader (`dxagent.config.load`), which may reach the reports.
    """

    enabled: bool = Field(True, description="Evaluate the profile in the daemon and export the results.")
    profile: str = Field("plan02", min_length=1,
                         description="Built-in profile name (`plan02`) or path to a profile YAML file (docs/reports.md).")
    interval: Duration = Field(900.0, ge=60, description="How often the daemon evaluates it (it reads the history).")

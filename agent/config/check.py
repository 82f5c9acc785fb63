"""`CheckConfig`: the fields every check has; each kind's `Config` subclasses it.

Kept apart from the loader so that check modules depend only on this and `config.types`,
never on the loader that imports them in turn.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from dxagent.config.types import ID_PATTERN, Duration, LabelMap, Model

__all__ = ["CheckConfig"]


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

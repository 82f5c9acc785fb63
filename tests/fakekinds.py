"""A test-only check kind whose behaviour is chosen in its config (never registered in production)."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from pydantic import Field, model_validator

from dxagent.config.check import CheckConfig
from dxagent.model import Reason, Result, Sample, Status, t
from dxagent.probe import ProbeContext, run_blocking

METRICS = {"fake_value": "A value chosen by the test."}
EXAMPLE = ""


class Config(CheckConfig):
    """Behaves as `mode` says."""

    kind: Literal["fake"] = "fake"
    mode: Literal["ok", "warn", "crit", "sleep", "raise", "block", "stubborn", "flaky", "many", "none"] = "ok"
    seconds: float = Field(0.0, description="How long to sleep/block.")
    fail_times: int = Field(0, description="flaky: fail this many attempts first.")
    explode_in_validator: bool = Field(False, description="Raise a non-validation error while validating.")

    @model_validator(mode="after")
    def _explode(self) -> Config:
        if self.explode_in_validator:
            raise RuntimeError("validator bug")
        return self

    def target_label(self) -> str:
        return f"fake-{self.mode}"


async def probe(cfg: Config, ctx: ProbeContext) -> Result | list[Result]:
    status = {"ok": Status.OK, "warn": Status.WARN, "crit": Status.CRIT}.get(cfg.mode, Status.OK)
    if cfg.mode == "sleep":
        await asyncio.sleep(cfg.seconds)
    elif cfg.mode == "raise":
        raise RuntimeError("boom")
    elif cfg.mode == "block":
        await run_blocking(time.sleep, cfg.seconds)
    elif cfg.mode == "stubborn":  # ignores cancellation
        end = time.monotonic() + cfg.seconds
        while time.monotonic() < end:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue
    elif cfg.mode == "flaky":
        n = ctx.state["calls"] = ctx.state.get("calls", 0) + 1
        status = Status.CRIT if n <= cfg.fail_times else Status.OK
    elif cfg.mode == "many":
        return [ctx.result(Status.OK, t("a", "a"), target="a"), ctx.result(Status.WARN, t("b", "b"), target="b")]
    elif cfg.mode == "none":
        return []
    return ctx.result(status, t("fake {m}", "giả {m}", m=cfg.mode), target=cfg.target_label(),
                      reason=None if status == Status.OK else Reason.THRESHOLD,
                      samples=[Sample.of("fake_value", 1)])

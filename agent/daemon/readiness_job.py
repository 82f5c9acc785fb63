"""Readiness in the daemon: the configured profile evaluated over the live history, as Results.

`dxagent run` calls `evaluate()` on the `readiness.interval` schedule and puts the Results (kind
`readiness`, check id `readiness`) beside the checks' own, so /metrics carries
`dxagent_readiness_target_met`, `…_unknown`, `dxagent_readiness_score` and
`dxagent_readiness_known_weight_ratio`: Grafana, the alert rules and `dxagent report rollup
--prometheus` read the numbers the site report shows. The profile is loaded once per config.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from dxagent.config import CheckConfig, Config
from dxagent.model import Result
from dxagent.probe import run_blocking

__all__ = ["CHECK_ID", "KIND", "evaluate", "pseudo_check"]

log = logging.getLogger(__name__)
CHECK_ID = KIND = "readiness"
_profiles: dict[str, Any] = {}


def pseudo_check(cfg: Config) -> CheckConfig:
    """The scrape view's stand-in for the readiness results (no labels of its own, the job's interval)."""
    return CheckConfig.model_construct(id=CHECK_ID, kind=KIND, description="readiness profile evaluation",
                                       interval=cfg.readiness.interval, timeout=cfg.readiness.interval,
                                       retries=0, retry_delay=0.0, groups=(), labels={}, enabled=True)


def _evaluate_blocking(cfg: Config, history: Any, now: float) -> list[Result]:
    from dxagent.reports.metrics import evaluate_results
    from dxagent.reports.profile import load_profile

    profile = _profiles.get(cfg.readiness.profile)
    if profile is None:
        profile = _profiles[cfg.readiness.profile] = load_profile(cfg.readiness.profile)
    return evaluate_results(profile, history, cfg, now)


async def evaluate(cfg: Config, history: Any) -> list[Result]:
    """Evaluate on a worker thread (it queries SQLite); [] with a log line when it cannot."""
    t0 = time.monotonic()
    try:
        results = await run_blocking(_evaluate_blocking, cfg, history, time.time())
    except Exception as exc:  # a report bug must never stop the agent
        log.warning("readiness evaluation of profile %s failed: %s: %s", cfg.readiness.profile, type(exc).__name__, exc)
        return []
    log.debug("readiness evaluated in %.2fs (%d results)", time.monotonic() - t0, len(results))
    return results


def forget_profiles() -> None:
    """Drop loaded profiles (after a reload, a profile file may have changed)."""
    _profiles.clear()

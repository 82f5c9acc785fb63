"""The check kinds: one module each, listed explicitly here (kind → module).

A kind module defines `Config` (a `dxagent.config.CheckConfig` subclass with
`kind: Literal["<kind>"]`) and `async def probe(cfg, ctx) -> Result | list[Result]`.
Modules are imported on first use, and must keep heavy imports (cryptography, dnspython, httpx)
inside functions, so that an agent pays in memory only for the kinds its config uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

__all__ = ["KINDS", "module", "config_model", "probe_fn"]

KINDS: dict[str, str] = {
    "system": "dxagent.checks.system",
    "dns": "dxagent.checks.dns",
    "tcp": "dxagent.checks.tcp",
    "ping": "dxagent.checks.ping",
    "interfaces": "dxagent.checks.interfaces",
    "snmp": "dxagent.checks.snmp",
    "sip": "dxagent.checks.sip",
    "throughput": "dxagent.checks.throughput",
    "tls": "dxagent.checks.tls",
    "certfile": "dxagent.checks.certfile",
    "clock": "dxagent.checks.clock",
    "http": "dxagent.checks.http",
    "inventory": "dxagent.checks.inventory",
    "discovery": "dxagent.checks.discovery",
    "ups": "dxagent.checks.ups",
}


def module(kind: str) -> ModuleType:
    return importlib.import_module(KINDS[kind])


def config_model(kind: str) -> Any:
    return module(kind).Config


def probe_fn(kind: str) -> Callable[..., Awaitable[Any]]:
    return module(kind).probe  # type: ignore[no-any-return]

"""Reading a UPS: from a NUT server (aionut) or from the UPS's SNMP card (pysnmp), → `Reading`.

Each reader raises `UpsError` with the Reason and the facts a hint needs (host, port, UPS name);
the kind turns that into the result. Libraries are imported here, only when a `ups` check runs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from typing import TYPE_CHECKING, Any

from dxagent.checks.ups.reading import UPS_MIB, XUPS_MIB, Reading, from_mibs, from_nut
from dxagent.model import Reason

if TYPE_CHECKING:
    from dxagent.checks.ups import Config

__all__ = ["UpsError", "read_nut", "read_snmp"]

# aionut logs each line it sends at DEBUG, PASSWORD included: keep its logger above DEBUG so that
# `dxagent run --log-level debug` never writes a NUT password (secrets stay out of logs).
logging.getLogger("aionut").setLevel(logging.INFO)


class UpsError(Exception):
    """The UPS could not be read: `reason` for the result, `code` a short word for hints and details."""

    def __init__(self, reason: Reason, code: str, message: str, known: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.reason = reason
        self.code = code
        self.known = known


_ERR = re.compile(r"\bERR ([A-Z-]+)")
# NUT protocol errors (docs/net-protocol.txt) → (reason, code)
_NUT_ERRORS = {
    "UNKNOWN-UPS": (Reason.CONFIG, "unknown-ups"),
    "ACCESS-DENIED": (Reason.AUTH, "access-denied"),
    "PASSWORD-REQUIRED": (Reason.AUTH, "access-denied"),
    "PASSWORD-INCORRECT": (Reason.AUTH, "access-denied"),
    "USERNAME-REQUIRED": (Reason.AUTH, "access-denied"),
    "DATA-STALE": (Reason.DOWN, "data-stale"),
    "DRIVER-NOT-CONNECTED": (Reason.DOWN, "driver-not-connected"),
}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def read_nut(cfg: Config, budget: float) -> tuple[str, Reading]:
    """Ask upsd for the UPS's variables → (UPS name, Reading). Without `ups`, upsd's only UPS."""
    from aionut import AIONUTClient, NUTError

    password = cfg.password.reveal() if cfg.password is not None else None
    client = AIONUTClient(cfg.host, cfg.nut_port, username=cfg.username, password=password, timeout=budget,
                          persistent=False)
    try:
        async with asyncio.timeout(budget):
            name = cfg.ups
            if name is None:
                names = sorted(await client.list_ups())
                if len(names) != 1:
                    raise UpsError(Reason.CONFIG, "choose-ups" if names else "no-ups",
                                   f"upsd serves {len(names)} UPSes; name one with `ups:`", tuple(names))
                name = names[0]
            variables = await client.list_vars(name)
    except TimeoutError:
        raise UpsError(Reason.TIMEOUT, "timeout", f"no answer from upsd within {budget:.1f} s") from None
    except NUTError as exc:
        text = str(exc)
        found = _ERR.search(text)
        if found and found.group(1) in _NUT_ERRORS:
            reason, code = _NUT_ERRORS[found.group(1)]
            known: tuple[str, ...] = ()
            if code == "unknown-ups":
                try:
                    async with asyncio.timeout(budget):
                        known = tuple(sorted(await client.list_ups()))
                except (NUTError, TimeoutError):
                    known = ()
            raise UpsError(reason, code, f"upsd: ERR {found.group(1)}", known) from None
        cause = exc.__cause__
        if isinstance(cause, ConnectionRefusedError) or "refused" in text.lower():
            code = "not-installed" if _is_loopback(cfg.host) else "refused"
            raise UpsError(Reason.CONNECT, code, "connection refused") from None
        if isinstance(cause, OSError) and cause.strerror:
            raise UpsError(Reason.CONNECT, "connect", cause.strerror) from None
        raise UpsError(Reason.CONTENT, "protocol", f"unexpected answer from upsd ({type(exc).__name__})") from None
    except OSError as exc:
        code = "not-installed" if isinstance(exc, ConnectionRefusedError) and _is_loopback(cfg.host) else "connect"
        raise UpsError(Reason.CONNECT, code, exc.strerror or str(exc)) from None
    finally:
        client.shutdown()
    try:
        return name, from_nut(variables)
    except ValueError as exc:
        raise UpsError(Reason.CONTENT, "no-status", str(exc)) from None


async def _get(agent: Any, names: dict[str, str]) -> dict[str, int | str | None]:
    """One GET of `names` (key → OID) → key → int, text, or None where the device has no such object."""
    from dxagent.checks.snmp.session import parse_oid

    oids = {key: parse_oid(oid) for key, oid in names.items()}
    got = await agent.get(list(oids.values()))
    out: dict[str, int | str | None] = {}
    for key, oid in oids.items():
        value = got.get(oid)
        out[key] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return out


async def read_snmp(cfg: Config, budget: float) -> Reading:
    """UPS-MIB, and XUPS-MIB when the card answers it → Reading (two GETs on the shared engine)."""
    from dxagent.checks.snmp import session

    snmp = cfg.snmp
    assert snmp is not None  # the config requires it for source snmp
    try:
        async with asyncio.timeout(budget):
            agent = await session.connect(cfg.host, cfg.snmp_port, snmp.credentials(), timeout=snmp.request_timeout,
                                          retries=snmp.request_retries)
            ups = await _get(agent, UPS_MIB)
            xups = await _get(agent, XUPS_MIB)
    except TimeoutError:
        raise UpsError(Reason.TIMEOUT, "snmp-timeout", f"no SNMP answer within {budget:.1f} s") from None
    except session.SnmpError as exc:
        reason = {"dns": Reason.DNS, "timeout": Reason.TIMEOUT, "auth": Reason.AUTH,
                  "permission": Reason.PERMISSION}.get(exc.kind, Reason.CONTENT)
        raise UpsError(reason, "snmp-timeout" if exc.kind == "timeout" else f"snmp-{exc.kind}", exc.detail) from None
    try:
        return from_mibs(ups, xups)
    except ValueError as exc:
        raise UpsError(Reason.CONTENT, "no-ups-mib", str(exc)) from None

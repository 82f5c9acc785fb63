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


_ENGINE: Any = None


def _engine() -> Any:
    """One SnmpEngine per process, reused by every run (building one costs ~200 ms)."""
    global _ENGINE
    if _ENGINE is None:
        from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

        _ENGINE = SnmpEngine()
    return _ENGINE


async def _get(cfg: Config, oids: dict[str, str]) -> dict[str, int | str | None]:
    """One GET of `oids` (name → OID); values not on the device come back as None."""
    from pysnmp.hlapi.v3arch.asyncio import ContextData, ObjectIdentity, ObjectType, UdpTransportTarget, get_cmd
    from pysnmp.proto.rfc1902 import Integer, OctetString

    from dxagent.checks.snmp.access import auth_data

    snmp = cfg.snmp
    assert snmp is not None
    target = await UdpTransportTarget.create((cfg.host, cfg.snmp_port), timeout=snmp.request_timeout,
                                             retries=snmp.request_retries)
    error_indication, error_status, _, var_binds = await get_cmd(
        _engine(), auth_data(snmp), target, ContextData(contextName=snmp.context.encode()),
        *(ObjectType(ObjectIdentity(oid)) for oid in oids.values()), lookupMib=False)
    if error_indication:
        text = str(error_indication)
        if "timeout" in text.lower() or "no snmp response" in text.lower():
            raise UpsError(Reason.TIMEOUT, "snmp-timeout", "no SNMP response")
        raise UpsError(Reason.AUTH if "auth" in text.lower() or "unknown user" in text.lower() else Reason.CONNECT,
                       "snmp-error", text)
    if error_status:
        raise UpsError(Reason.CONTENT, "snmp-error", str(error_status.prettyPrint()))
    out: dict[str, int | str | None] = {}
    for name, (_, value) in zip(oids, var_binds, strict=True):
        if isinstance(value, Integer) or value.__class__.__name__ in ("Integer32", "Gauge32", "Counter32", "Unsigned32", "TimeTicks"):
            out[name] = int(value)
        elif isinstance(value, OctetString):
            out[name] = bytes(value).decode("utf-8", "replace")
        else:
            out[name] = None  # noSuchObject / noSuchInstance / endOfMibView
    return out


async def read_snmp(cfg: Config, budget: float) -> Reading:
    """UPS-MIB, and XUPS-MIB when the card answers it → Reading."""
    try:
        async with asyncio.timeout(budget):
            ups = await _get(cfg, UPS_MIB)
            xups = await _get(cfg, XUPS_MIB)
    except TimeoutError:
        raise UpsError(Reason.TIMEOUT, "snmp-timeout", f"no SNMP answer within {budget:.1f} s") from None
    except OSError as exc:
        raise UpsError(Reason.CONNECT, "connect", exc.strerror or str(exc)) from None
    try:
        return from_mibs(ups, xups)
    except ValueError as exc:
        raise UpsError(Reason.CONTENT, "no-ups-mib", str(exc)) from None

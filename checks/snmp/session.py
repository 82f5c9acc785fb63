"""SNMP through pysnmp for every dxagent reader (the `snmp` kind, discovery, UPS-MIB).

One pysnmp `SnmpEngine` per event loop, built on first use and kept: the daemon and
`dxagent check` run one loop, so one engine per process, which keeps the v3 engine IDs, clocks
and localized keys it learned. pysnmp is imported on first use, not with this module, so an
agent without SNMP checks never loads it.

    s = await session.for_config(cfg)         # any config with the snmp kind's field names
    s = await session.connect(host, port, session.Credentials("v2c", community="…"), timeout=1.0, retries=1)
    got = await s.get([(1, 3, 6, 1, 2, 1, 1, 5, 0)])          # {oid: int | bytes | str | None}
    table = await s.walk([column, ...], max_repetitions=25)   # {column: {row index: value}}

Failures raise `SnmpError(kind, detail)`, kind one of "dns", "timeout", "auth", "permission",
"protocol"; `detail` is English and never holds a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import time
from collections.abc import AsyncIterator, Sequence
from types import ModuleType
from typing import Any, Literal

__all__ = ["AUTH_PROTOCOLS", "PRIV_PROTOCOLS", "Credentials", "Oid", "Session", "SnmpError", "auth_data",
           "connect", "credentials", "engine", "for_config", "format_oid", "parse_oid", "target"]

Oid = tuple[int, ...]
ErrorKind = Literal["dns", "timeout", "auth", "permission", "protocol"]

# The config's protocol names → pysnmp's constants (every auth and privacy protocol pysnmp has).
AUTH_PROTOCOLS = {"MD5": "USM_AUTH_HMAC96_MD5", "SHA": "USM_AUTH_HMAC96_SHA", "SHA224": "USM_AUTH_HMAC128_SHA224",
                  "SHA256": "USM_AUTH_HMAC192_SHA256", "SHA384": "USM_AUTH_HMAC256_SHA384",
                  "SHA512": "USM_AUTH_HMAC384_SHA512"}
PRIV_PROTOCOLS = {"DES": "USM_PRIV_CBC56_DES", "3DES": "USM_PRIV_CBC168_3DES", "AES": "USM_PRIV_CFB128_AES",
                  "AES192": "USM_PRIV_CFB192_AES_BLUMENTHAL", "AES256": "USM_PRIV_CFB256_AES_BLUMENTHAL",
                  "AES192C": "USM_PRIV_CFB192_AES", "AES256C": "USM_PRIV_CFB256_AES"}

_PERMISSION_STATUS = {"noAccess", "authorizationError", "readOnly"}
_TOO_BIG = 1
RENEW_EVERY = 60.0      # seconds between two engine renewals for agents that changed engine ID


class SnmpError(Exception):
    """An SNMP request failed; `kind` says how, `detail` says what (in English, no secrets)."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind: ErrorKind = kind
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class Credentials:
    """Plain credentials for one agent, taken from a validated config by `credentials()`."""

    version: Literal["v2c", "v3"]
    community: str = ""
    user: str = ""
    level: Literal["noAuthNoPriv", "authNoPriv", "authPriv"] = "authPriv"
    auth_protocol: str = "SHA"
    auth_key: str = ""
    priv_protocol: str = "AES"
    priv_key: str = ""
    context: str = ""

    def __repr__(self) -> str:  # keys must not reach logs through a repr
        return f"Credentials(version={self.version!r}, user={self.user!r}, level={self.level!r})"


def credentials(cfg: Any) -> Credentials:
    """Credentials from a config that uses the snmp kind's field names (version, community, user,
    security_level, auth_protocol, auth_key, priv_protocol, priv_key, context): the one place the
    secrets are revealed. Missing fields take the defaults (a v2c-only config needs no v3 fields)."""

    def reveal(name: str) -> str:
        secret = getattr(cfg, name, None)
        return secret.reveal() if secret is not None else ""

    return Credentials(
        version=getattr(cfg, "version", "v2c"), community=reveal("community"), user=getattr(cfg, "user", None) or "",
        level=getattr(cfg, "security_level", "authPriv"), auth_protocol=getattr(cfg, "auth_protocol", "SHA"),
        auth_key=reveal("auth_key"), priv_protocol=getattr(cfg, "priv_protocol", "AES"), priv_key=reveal("priv_key"),
        context=getattr(cfg, "context", "") or "")


def parse_oid(text: str) -> Oid:
    """'1.3.6.1.2.1.1.3.0' (leading dot allowed) → (1, 3, 6, …)."""
    return tuple(int(p) for p in text.strip().lstrip(".").split("."))


def format_oid(oid: Oid) -> str:
    return ".".join(str(p) for p in oid)


def _hl() -> ModuleType:
    """pysnmp's high-level asyncio API, imported on first use."""
    from pysnmp.hlapi.v3arch import asyncio as hl

    return hl


_engine: tuple[asyncio.AbstractEventLoop, Any] | None = None
_renewed = -RENEW_EVERY
# Agent address → when it last answered for an SNMPv3 engine ID this engine has no user for.
_unknown_engine: dict[tuple[Any, ...], float] = {}


def engine() -> Any:
    """The running loop's `SnmpEngine`, built on first use and reused by every later request.

    pysnmp binds an engine's sockets to the loop it first ran on, so a new loop (a test's
    `asyncio.run`) gets a new engine and the previous one's sockets are closed.
    """
    global _renewed
    loop = asyncio.get_running_loop()
    if _engine is None or _engine[0] is not loop:
        _new_engine(loop, close_after=0.0)
        _renewed = -RENEW_EVERY                       # the renewal limit counts within one loop's engines
    assert _engine is not None
    return _engine[1]


def _new_engine(loop: asyncio.AbstractEventLoop, close_after: float) -> None:
    """Replace the engine; the old one's sockets close after `close_after` s (its requests in flight)."""
    global _engine
    old, _engine = _engine, (loop, _hl().SnmpEngine())
    _engine[1].observer.register_observer(_observe, "rfc3412.prepareDataElements:sm-failure")
    _slots.clear()
    if old is not None and not old[0].is_closed():
        if close_after > 0 and old[0] is loop:
            loop.call_later(close_after, old[1].close_dispatcher)
        else:
            old[1].close_dispatcher()


def _observe(snmp_engine: Any, execpoint: str, variables: dict[str, Any], context: Any) -> None:
    """pysnmp observer of messages its security model rejected: note the agents that answered for
    an engine ID it has no user for, i.e. that came back with a new engine ID (restarted without
    keeping it, or replaced). pysnmp itself forgets a peer's engine ID only 300 s after learning it."""
    from pysnmp.proto import errind

    with contextlib.suppress(KeyError, TypeError):
        if isinstance(variables["statusInformation"]["errorIndication"], errind.UnknownSecurityName):
            _unknown_engine[tuple(variables["transportAddress"])[:2]] = time.monotonic()


def _renew_for(snmp: Any, address: tuple[Any, ...], since: float) -> bool:
    """After a v3 request on `snmp` timed out: did its agent answer with a new engine ID meanwhile?
    Then make sure the current engine is a newer one (at most one renewal per RENEW_EVERY seconds,
    so an agent cannot make every device rediscover on every poll) and say the request may be retried."""
    global _renewed
    if _unknown_engine.get(tuple(address)[:2], -1.0) < since:
        return False
    assert _engine is not None
    if _engine[1] is not snmp:
        return True                                   # renewed meanwhile, by another request
    if time.monotonic() - _renewed < RENEW_EVERY:
        return False
    _renewed = time.monotonic()
    _new_engine(_engine[0], close_after=200.0)        # longer than any request's bound (30 s × 6)
    return True


def auth_data(creds: Credentials) -> Any:
    """pysnmp's `CommunityData` (v2c) or `UsmUserData` (v3, at the configured security level)."""
    hl = _hl()
    if creds.version == "v2c":
        return hl.CommunityData(creds.community, mpModel=1)
    auth = priv = None
    if creds.level != "noAuthNoPriv":
        if creds.auth_protocol not in AUTH_PROTOCOLS:
            raise SnmpError("protocol", f"unknown auth protocol {creds.auth_protocol}")
        auth = getattr(hl, AUTH_PROTOCOLS[creds.auth_protocol])
    if creds.level == "authPriv":
        if creds.priv_protocol not in PRIV_PROTOCOLS:
            raise SnmpError("protocol", f"unknown privacy protocol {creds.priv_protocol}")
        priv = getattr(hl, PRIV_PROTOCOLS[creds.priv_protocol])
    return hl.UsmUserData(creds.user, authKey=creds.auth_key if auth else None,
                          privKey=creds.priv_key if priv else None, authProtocol=auth, privProtocol=priv)


async def target(host: str, port: int, *, timeout: float, retries: int) -> Any:
    """pysnmp's UDP target (IPv6 when `host` has a colon): `timeout` per try, `retries` re-sends."""
    hl = _hl()
    cls = hl.Udp6TransportTarget if ":" in host else hl.UdpTransportTarget
    try:
        return await cls.create((host, port), timeout=timeout, retries=retries)
    except Exception as exc:  # pysnmp wraps resolver errors in PySnmpError
        raise SnmpError("dns", f"cannot resolve {host}: {exc}") from None


# v3 users live in the engine under their user name; a second set of keys for the same name
# replaces the first (pysnmp's LCD). Requests with other keys for a name wait until the
# requests in flight with the current keys are done, so none is sent or checked with the wrong keys.
@dataclasses.dataclass
class _Slot:
    keys: str = ""
    busy: int = 0
    changed: asyncio.Condition = dataclasses.field(default_factory=asyncio.Condition)


_slots: dict[str, _Slot] = {}


@contextlib.asynccontextmanager
async def _user_slot(creds: Credentials) -> AsyncIterator[None]:
    if creds.version != "v3":
        yield
        return
    fingerprint = hashlib.sha256("\0".join((creds.level, creds.auth_protocol, creds.auth_key, creds.priv_protocol,
                                            creds.priv_key)).encode()).hexdigest()
    slot = _slots.setdefault(creds.user, _Slot())
    async with slot.changed:
        await slot.changed.wait_for(lambda: slot.busy == 0 or slot.keys == fingerprint)
        slot.keys, slot.busy = fingerprint, slot.busy + 1
    try:
        yield
    finally:
        async with slot.changed:
            slot.busy -= 1
            slot.changed.notify_all()


class Session:
    """One agent with one set of credentials: GET and multi-column GETBULK walks on the shared engine.

    `requests` counts the PDUs asked for (pysnmp's retries and v3 discovery not included).
    """

    def __init__(self, creds: Credentials, transport: Any) -> None:
        self.creds = creds
        self.requests = 0
        self._auth = auth_data(creds)
        self._target = transport
        self._context = _hl().ContextData(contextName=creds.context.encode())
        self._bound = transport.timeout * (transport.retries + 1)

    async def get(self, oids: Sequence[Oid]) -> dict[Oid, Any]:
        """GET scalar instances; a missing object maps to None."""
        status, index, varbinds = await self._command(oids)
        self._raise(status, index)
        return {tuple(name): _value(value) for name, value in varbinds}

    async def walk(self, columns: Sequence[Oid], max_repetitions: int = 25,
                   max_rows: int = 10000) -> dict[Oid, dict[Oid, Any]]:
        """Walk several table columns at once with GETBULK: column → {row index → value}.

        All unfinished columns ride in every request, so 12 columns of a 50-port switch take a
        handful of round trips, not one walk per column. A column ends when the agent leaves its
        subtree or does not advance (a buggy or hostile agent); `max_rows` bounds the total.
        """
        hl = _hl()
        out: dict[Oid, dict[Oid, Any]] = {c: {} for c in columns}
        cursor: dict[Oid, Oid] = {c: c for c in columns}
        active = list(columns)
        reps = max_repetitions
        rows = 0
        while active and rows < max_rows:
            status, index, varbinds = await self._command([cursor[c] for c in active], reps)
            if status == _TOO_BIG and reps > 1:
                reps = max(1, reps // 2)
                continue
            self._raise(status, index)
            done: set[Oid] = set()
            width = len(active)
            for i, (name, value) in enumerate(varbinds):
                col = active[i % width]
                if col in done:
                    continue
                oid, n = tuple(name), len(col)
                if isinstance(value, hl.EndOfMibView) or oid[:n] != col or oid <= cursor[col]:
                    done.add(col)
                    continue
                out[col][oid[n:]] = _value(value)
                cursor[col] = oid
                rows += 1
            if not varbinds:
                break
            active = [c for c in active if c not in done]
        return out

    async def _command(self, oids: Sequence[Oid], repetitions: int | None = None) -> tuple[int, int, Sequence[Any]]:
        """One GET (or GETBULK with `repetitions`) on the shared engine, within timeout × (retries + 1);
        once more on a new engine if a v3 agent answered meanwhile with a new engine ID."""
        self.requests += 1
        failure = SnmpError("timeout", "no response")
        for _ in range(2):
            snmp, started = engine(), time.monotonic()
            try:
                indication, status, index, got = await self._send(snmp, oids, repetitions)
            except TimeoutError:
                indication = failure
            if indication:
                failure = indication if isinstance(indication, SnmpError) else _failure(indication)
                if (failure.kind == "timeout" and self.creds.version == "v3"
                        and _renew_for(snmp, self._target.transport_address, started)):
                    continue
                raise failure
            return int(status), int(index), got
        raise failure

    async def _send(self, snmp: Any, oids: Sequence[Oid], repetitions: int | None) -> tuple[Any, Any, Any, Any]:
        hl = _hl()
        varbinds = [hl.ObjectType(hl.ObjectIdentity(hl.ObjectIdentifier(oid))) for oid in oids]
        async with _user_slot(self.creds):
            if repetitions is None:
                request = hl.get_cmd(snmp, self._auth, self._target, self._context, *varbinds, lookupMib=False)
            else:
                request = hl.bulk_cmd(snmp, self._auth, self._target, self._context, 0, repetitions, *varbinds,
                                      lookupMib=False)
            return await asyncio.wait_for(request, self._bound)  # type: ignore[no-any-return]

    @staticmethod
    def _raise(status: int, index: int) -> None:
        if status:
            name = _status_name(status)
            if name in _PERMISSION_STATUS:
                raise SnmpError("permission", f"agent answered {name}")
            raise SnmpError("protocol", f"agent answered error {name} at index {index}")


async def connect(host: str, port: int, creds: Credentials, *, timeout: float, retries: int) -> Session:
    """A `Session` to `host:port` (an address, or a name pysnmp resolves)."""
    return Session(creds, await target(host, port, timeout=timeout, retries=retries))


async def for_config(cfg: Any, address: str | None = None) -> Session:
    """A `Session` for a config with the snmp kind's field names (host, port, request_timeout,
    request_retries and the credential fields); `address` replaces `host` once it is resolved."""
    return await connect(address or cfg.host, cfg.port, credentials(cfg), timeout=cfg.request_timeout,
                         retries=cfg.request_retries)


def _status_name(status: int) -> str:
    from pysnmp.proto.rfc1905 import errorStatus

    try:
        return str(errorStatus.clone(status).prettyPrint())
    except Exception:  # a value outside RFC 3416's list
        return f"status {status}"


def _failure(indication: Any) -> SnmpError:
    """pysnmp's error indication → SnmpError with the words the results use."""
    from pysnmp.proto import errind

    table: list[tuple[type, ErrorKind, str]] = [
        (errind.RequestTimedOut, "timeout", "no response"),
        (errind.UnknownUserName, "auth", "unknown user name"),
        (errind.WrongDigest, "auth", "wrong authentication key or protocol (digest mismatch)"),
        (errind.AuthenticationFailure, "auth", "wrong authentication key or protocol"),
        (errind.AuthenticationError, "auth", "authentication error"),
        (errind.DecryptionError, "auth", "wrong privacy key or protocol (decryption error)"),
        (errind.UnsupportedSecurityLevel, "auth", "security level not supported for this user"),
        (errind.UnknownSecurityName, "auth", "unknown security name"),
        (errind.NotInTimeWindow, "auth", "not in time window (engine boots/time out of sync)"),
        (errind.UnknownEngineID, "auth", "unknown engine ID"),
        (errind.EncryptionError, "auth", "privacy not available in this agent (cryptography package missing)"),
    ]
    for cls, kind, detail in table:
        if isinstance(indication, cls):
            return SnmpError(kind, detail)
    return SnmpError("protocol", str(indication))


def _value(value: Any) -> Any:
    """A decoded value (pyasn1) → int, bytes, dotted OID string, or None for Null/noSuch*/endOfMibView."""
    from pyasn1.type import univ

    if isinstance(value, univ.Null):      # also noSuchObject, noSuchInstance, endOfMibView (before
        return None                       # OctetString: pyasn1's Null is one)
    if isinstance(value, univ.OctetString):
        return bytes(value)
    if isinstance(value, univ.ObjectIdentifier):
        return str(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

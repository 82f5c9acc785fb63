"""A small asyncio SNMP client over pysnmp 7.1: GET and a multi-column GETBULK table walk.

Kept apart from `checks/snmp.py` so that pysnmp (about 25 MB of RSS) is imported only when an
SNMP check actually runs: this module imports it inside `Session.__aenter__`, never at import.
Values come back as plain Python (int, bytes, str OID, None for "no such object"), OIDs as int
tuples, so the check's logic and its tests never see pysnmp types.

Failures are `SnmpError(kind, detail)` with `kind` one of "timeout", "auth", "permission",
"protocol": the check turns them into results. `detail` never holds a secret (pysnmp's error
indications name the failure, not the keys).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

__all__ = ["Credentials", "SnmpError", "Session", "Oid", "parse_oid", "format_oid"]

Oid = tuple[int, ...]
ErrorKind = Literal["timeout", "auth", "permission", "protocol"]

# pysnmp attribute names for the protocol spellings accepted in the config.
AUTH_PROTOCOLS: dict[str, str] = {
    "MD5": "usmHMACMD5AuthProtocol",
    "SHA": "usmHMACSHAAuthProtocol",
    "SHA224": "usmHMAC128SHA224AuthProtocol",
    "SHA256": "usmHMAC192SHA256AuthProtocol",
    "SHA384": "usmHMAC256SHA384AuthProtocol",
    "SHA512": "usmHMAC384SHA512AuthProtocol",
}
PRIV_PROTOCOLS: dict[str, str] = {
    "DES": "usmDESPrivProtocol",
    "3DES": "usm3DESEDEPrivProtocol",
    "AES": "usmAesCfb128Protocol",
    "AES192": "usmAesBlumenthalCfb192Protocol",
    "AES256": "usmAesBlumenthalCfb256Protocol",
    "AES192C": "usmAesCfb192Protocol",
    "AES256C": "usmAesCfb256Protocol",
}

# Error indications meaning "the agent rejected who we are" (RFC 3414 reports) and the words
# we say for each: the operator needs to know which of user, auth key or priv key is wrong.
_AUTH_INDICATIONS: dict[str, str] = {
    "UnknownUserName": "unknown user name",
    "WrongDigest": "wrong authentication key or protocol (digest mismatch)",
    "AuthenticationFailure": "wrong authentication key or protocol",
    "AuthenticationError": "authentication error",
    "DecryptionError": "wrong privacy key or protocol (decryption error)",
    "UnsupportedSecurityLevel": "security level not supported for this user",
    "UnknownSecurityName": "unknown security name",
    "UnknownCommunityName": "unknown community",
    "NotInTimeWindow": "not in time window (engine boots/time out of sync)",
    "UnknownEngineID": "unknown engine ID",
    "EncryptionError": "privacy not available in this agent (cryptography package missing)",
}
# PDU error-status values meaning "you are who you say, but may not read this".
_PERMISSION_STATUS = {"noAccess", "authorizationError", "readOnly"}


class SnmpError(Exception):
    """An SNMP request failed; `kind` says how, `detail` says what (in English, no secrets)."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind: ErrorKind = kind
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class Credentials:
    """Plain credentials for one agent; built by the check from its validated config."""

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


def parse_oid(text: str) -> Oid:
    """'1.3.6.1.2.1.1.3.0' (leading dot allowed) → (1, 3, 6, …)."""
    return tuple(int(p) for p in text.strip().lstrip(".").split("."))


def format_oid(oid: Oid) -> str:
    return ".".join(str(p) for p in oid)


class Session:
    """One SNMP engine and transport for one probe: `async with Session(...) as s: await s.get(...)`.

    An engine per probe costs about 50 ms but keeps checks independent (no shared v3 engine-ID
    cache to poison, nothing left bound to a closed event loop).
    """

    def __init__(self, host: str, port: int, creds: Credentials, *, timeout: float, retries: int) -> None:
        self.host, self.port, self.creds = host, port, creds
        self.timeout, self.retries = timeout, retries
        self.requests = 0
        self._hl: Any = None
        self._engine: Any = None
        self._auth: Any = None
        self._target: Any = None
        self._context: Any = None

    async def __aenter__(self) -> Session:
        from pysnmp.hlapi.v3arch import asyncio as hl  # heavy: only when SNMP really runs

        self._hl = hl
        self._engine = hl.SnmpEngine()
        c = self.creds
        if c.version == "v2c":
            self._auth = hl.CommunityData(c.community, mpModel=1)
        else:
            kwargs: dict[str, Any] = {}
            if c.level in ("authNoPriv", "authPriv"):
                kwargs["authKey"] = c.auth_key
                kwargs["authProtocol"] = getattr(hl, AUTH_PROTOCOLS[c.auth_protocol])
            if c.level == "authPriv":
                kwargs["privKey"] = c.priv_key
                kwargs["privProtocol"] = getattr(hl, PRIV_PROTOCOLS[c.priv_protocol])
            self._auth = hl.UsmUserData(c.user, **kwargs)
        self._context = hl.ContextData(contextName=c.context)
        cls = hl.Udp6TransportTarget if ":" in self.host else hl.UdpTransportTarget
        try:
            self._target = await cls.create((self.host, self.port), timeout=self.timeout, retries=self.retries)
        except Exception:
            self._engine.close_dispatcher()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._engine is not None:
            self._engine.close_dispatcher()

    async def get(self, oids: Sequence[Oid]) -> dict[Oid, Any]:
        """GET scalar instances; a missing object maps to None."""
        hl = self._hl
        self.requests += 1
        ei, es, eidx, vbs = await hl.get_cmd(
            self._engine, self._auth, self._target, self._context,
            *(hl.ObjectType(hl.ObjectIdentity(format_oid(o))) for o in oids), lookupMib=False,
        )
        self._raise(ei, es, eidx)
        return {tuple(name): _value(val) for name, val in vbs}

    async def walk_columns(self, columns: Sequence[Oid], max_repetitions: int = 25,
                           max_rows: int = 10000) -> dict[Oid, dict[Oid, Any]]:
        """Walk several table columns at once with GETBULK: column → {row index → value}.

        All unfinished columns ride in every request, so a 14-column table of 50 rows takes a
        handful of round trips rather than one walk per column. A column ends when the agent
        leaves its subtree; an agent that does not advance (a buggy or hostile one) ends the
        column too, and `max_rows` bounds the total.
        """
        hl = self._hl
        from pysnmp.proto import rfc1905

        out: dict[Oid, dict[Oid, Any]] = {c: {} for c in columns}
        cursor: dict[Oid, Oid] = {c: c for c in columns}
        active = list(columns)
        reps = max_repetitions
        rows = 0
        while active and rows < max_rows:
            self.requests += 1
            ei, es, eidx, vbs = await hl.bulk_cmd(
                self._engine, self._auth, self._target, self._context, 0, reps,
                *(hl.ObjectType(hl.ObjectIdentity(format_oid(cursor[c]))) for c in active), lookupMib=False,
            )
            if not ei and es and str(es) == "tooBig" and reps > 1:
                reps = max(1, reps // 2)
                continue
            self._raise(ei, es, eidx)
            done: set[Oid] = set()
            for i, (name, val) in enumerate(vbs):
                col = active[i % len(active)]
                if col in done:
                    continue
                oid = tuple(name)
                if isinstance(val, rfc1905.EndOfMibView) or oid[:len(col)] != col or oid <= cursor[col]:
                    done.add(col)
                    continue
                out[col][oid[len(col):]] = _value(val)
                cursor[col] = oid
                rows += 1
            if not vbs:
                break
            active = [c for c in active if c not in done]
        return out

    def _raise(self, ei: Any, es: Any, eidx: Any) -> None:
        if ei:
            name = type(ei).__name__
            if name == "RequestTimedOut":
                raise SnmpError("timeout", "no response")
            if name in _AUTH_INDICATIONS:
                raise SnmpError("auth", _AUTH_INDICATIONS[name])
            raise SnmpError("protocol", str(ei) or name)
        if es:
            status = es.prettyPrint() if hasattr(es, "prettyPrint") else str(es)
            if status in _PERMISSION_STATUS:
                raise SnmpError("permission", f"agent answered {status}")
            raise SnmpError("protocol", f"agent answered error {status} at index {int(eidx)}")


def _value(val: Any) -> Any:
    """pysnmp value → int, bytes, OID string, or None for noSuch*/endOfMibView."""
    from pyasn1.type import univ
    from pysnmp.proto import rfc1905

    if isinstance(val, (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView)):
        return None
    if isinstance(val, univ.ObjectIdentifier):
        return format_oid(tuple(val))
    if isinstance(val, univ.OctetString):
        return val.asOctets()
    if isinstance(val, univ.Integer):
        return int(val)
    return val.prettyPrint()

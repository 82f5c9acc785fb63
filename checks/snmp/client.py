"""A small asyncio SNMP client: GET and a multi-column GETBULK table walk, v2c and v3 (USM).

Our own wire code (`_snmpber` for BER, `_snmpusm` for SNMPv3 security) over a plain connected
asyncio UDP socket, instead of pysnmp: pysnmp's pure-Python BER cost ~100 µs per variable and an
engine ~50 ms per probe, 22.8 MiB of RSS besides (issue #5, docs/architecture.md). Values come back
as plain Python (int, bytes, str OID, None for "no such object"), OIDs as int tuples.

Failures are `SnmpError(kind, detail)` with `kind` one of "timeout", "auth", "permission",
"protocol": the check turns them into results. `detail` never holds a secret.

Time bound: each request waits `timeout` per try, `retries + 1` tries, and nothing the network
sends can extend that (datagrams that are not the answer are dropped on arrival, unqueued).
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

from dxagent.checks.snmp import ber as ber
from dxagent.checks.snmp import usm as usm

__all__ = ["Credentials", "SnmpError", "Session", "Oid", "parse_oid", "format_oid"]

Oid = tuple[int, ...]
ErrorKind = Literal["timeout", "auth", "permission", "protocol"]
T = TypeVar("T")

# The protocol spellings accepted in the config (checks/snmp/__init__.py), as _snmpusm implements them.
AUTH_PROTOCOLS = tuple(usm.AUTH)
PRIV_PROTOCOLS = tuple(usm.PRIV)

# RFC 3416 error-status names; the ones meaning "you are who you say, but may not read this".
_STATUS = ("noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess", "wrongType",
           "wrongLength", "wrongEncoding", "wrongValue", "noCreation", "inconsistentValue", "resourceUnavailable",
           "commitFailed", "undoFailed", "authorizationError", "notWritable", "inconsistentName")
_PERMISSION_STATUS = {"noAccess", "authorizationError", "readOnly"}
_TOO_BIG = 1
_NULL_TAGS = frozenset({ber.NULL, ber.NO_SUCH_OBJECT, ber.NO_SUCH_INSTANCE, ber.END_OF_MIB_VIEW})


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


class _Endpoint(asyncio.DatagramProtocol):
    """The socket's receiving side: each datagram is checked on arrival by the pending request's
    matcher, and only an answer wakes the request. Nothing is queued, so a flood costs CPU per
    datagram but never memory, and never moves the request's deadline."""

    def __init__(self) -> None:
        self.matcher: Callable[[bytes], Any] | None = None
        self.waiter: asyncio.Future[Any] | None = None

    def datagram_received(self, data: bytes, addr: Any) -> None:
        waiter, matcher = self.waiter, self.matcher
        if waiter is None or matcher is None or waiter.done():
            return
        try:
            got = matcher(data)
        except (ber.BerError, ber.Mismatch):
            return
        except Exception:  # defence in depth: no datagram may break the request or the loop
            return
        waiter.set_result(got)

    def error_received(self, exc: Exception) -> None:
        """ICMP errors (port unreachable) are ignored: the timeout says "no answer", as before."""


class Session:
    """One connected UDP socket for one probe: `async with Session(...) as s: await s.get(...)`.

    Cheap to open (no engine to build); v3 engine IDs and localized keys are cached per process
    in `_snmpusm`, so a probe pays discovery and key hashing only the first time.
    """

    def __init__(self, host: str, port: int, creds: Credentials, *, timeout: float, retries: int) -> None:
        self.host, self.port, self.creds = host, port, creds
        self.timeout, self.retries = timeout, retries
        self.requests = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._endpoint = _Endpoint()
        self._community = creds.community.encode()
        self._usm: usm.Usm | None = None
        if creds.version == "v3":
            if creds.level != "noAuthNoPriv" and creds.auth_protocol not in usm.AUTH:
                raise SnmpError("protocol", f"unknown auth protocol {creds.auth_protocol}")
            if creds.level == "authPriv" and creds.priv_protocol not in usm.PRIV:
                raise SnmpError("protocol", f"unknown privacy protocol {creds.priv_protocol}")
            self._usm = usm.Usm(creds.user, creds.level, creds.auth_protocol, creds.auth_key,
                                creds.priv_protocol, creds.priv_key, creds.context)

    async def __aenter__(self) -> Session:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: self._endpoint,
                                                               remote_addr=(self.host, self.port))
        except OSError as exc:
            raise SnmpError("protocol", f"cannot open a UDP socket to the agent: {exc.strerror or exc}") from None
        self._transport = transport
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def get(self, oids: Sequence[Oid]) -> dict[Oid, Any]:
        """GET scalar instances; a missing object maps to None."""
        pdu = await self._request(ber.GET, 0, 0, oids)
        self._raise(pdu)
        return {oid: _value(tag, val) for oid, tag, val in pdu.varbinds}

    async def walk_columns(self, columns: Sequence[Oid], max_repetitions: int = 25,
                           max_rows: int = 10000) -> dict[Oid, dict[Oid, Any]]:
        """Walk several table columns at once with GETBULK: column → {row index → value}.

        All unfinished columns ride in every request, so a 14-column table of 50 rows takes a
        handful of round trips rather than one walk per column. A column ends when the agent
        leaves its subtree; an agent that does not advance (a buggy or hostile one) ends the
        column too, and `max_rows` bounds the total.
        """
        out: dict[Oid, dict[Oid, Any]] = {c: {} for c in columns}
        cursor: dict[Oid, Oid] = {c: c for c in columns}
        active = list(columns)
        reps = max_repetitions
        rows = 0
        while active and rows < max_rows:
            pdu = await self._request(ber.GETBULK, 0, reps, [cursor[c] for c in active])
            if pdu.error_status == _TOO_BIG and reps > 1:
                reps = max(1, reps // 2)
                continue
            self._raise(pdu)
            done: set[Oid] = set()
            width = len(active)
            for i, (oid, tag, val) in enumerate(pdu.varbinds):
                col = active[i % width]
                if col in done:
                    continue
                n = len(col)
                if tag == ber.END_OF_MIB_VIEW or oid[:n] != col or oid <= cursor[col]:
                    done.add(col)
                    continue
                out[col][oid[n:]] = _value(tag, val)
                cursor[col] = oid
                rows += 1
            if not pdu.varbinds:
                break
            active = [c for c in active if c not in done]
        return out

    # ------------------------------------------------------------ requests

    async def _request(self, tag: int, a: int, b: int, oids: Sequence[Oid]) -> ber.Pdu:
        self.requests += 1
        rid = secrets.randbits(31) or 1
        pdu = ber.encode_pdu(tag, rid, a, b, [(o, ber.NULL, None) for o in oids])
        if self._usm is None:
            message = ber.encode_v2c(self._community, pdu)

            def match(data: bytes) -> ber.Pdu:
                _, community, reply = ber.decode_v2c(data, rid)
                if reply.tag != ber.RESPONSE or community != self._community:
                    raise ber.Mismatch("not our response")
                return reply

            return await self._exchange(lambda: message, match)
        return await self._v3(pdu, rid)

    async def _v3(self, pdu: bytes, rid: int) -> ber.Pdu:
        """Send one PDU with USM; discover the engine first if unknown, resync once on a time
        window or engine-ID report, and turn other reports into the failure they name."""
        assert self._usm is not None
        key = (self.host, self.port, self.creds.user)
        detail = ""
        for _ in range(3):
            engine = usm.cached_engine(key)
            if engine is None:
                engine = await self._discover()
                usm.remember_engine(key, engine)
            reply = await self._exchange_v3(pdu, rid, lambda mid, e=engine: self._usm.wrap(mid, e, pdu))  # type: ignore[union-attr]
            if reply.pdu.tag != ber.REPORT:
                if reply.authenticated:
                    engine.update(reply.usm.boots, reply.usm.time)
                return reply.pdu
            kind, detail = usm.report_reason(reply.pdu)
            if kind == "time" and reply.usm.engine_id == engine.engine_id:
                usm.remember_engine(key, usm.Engine(engine.engine_id, reply.usm.boots, reply.usm.time,
                                                    time.monotonic()))
                continue
            if kind in ("time", "engine"):
                usm.forget_engine(key)
                continue
            raise SnmpError(kind, detail)  # type: ignore[arg-type]
        usm.forget_engine(key)
        raise SnmpError("auth", detail)

    async def _discover(self) -> usm.Engine:
        rid = secrets.randbits(31) or 1
        pdu = ber.encode_pdu(ber.GET, rid, 0, 0, [])
        reply = await self._exchange_v3(pdu, rid, lambda mid: usm.Usm.discovery(mid, pdu), discovery=True)
        return usm.Engine(reply.usm.engine_id, reply.usm.boots, reply.usm.time, time.monotonic())

    async def _exchange_v3(self, pdu: bytes, rid: int, build: Callable[[int], bytes],
                           discovery: bool = False) -> usm.Reply:
        """Each try gets a fresh msgID (RFC 3412 §7.1); an answer to any of them is accepted."""
        assert self._usm is not None
        sec = self._usm
        msg_ids: set[int] = set()

        def next_message() -> bytes:
            mid = secrets.randbits(31) or 1
            msg_ids.add(mid)
            return build(mid)

        def match(data: bytes) -> usm.Reply:
            reply = sec.unwrap(data, msg_ids, rid)
            if discovery and (reply.pdu.tag != ber.REPORT or not reply.usm.engine_id):
                raise ber.Mismatch("not a discovery report")
            return reply

        return await self._exchange(next_message, match)

    async def _exchange(self, message: Callable[[], bytes], match: Callable[[bytes], T]) -> T:
        """Send, wait `timeout` for `match` to accept a datagram, resend up to `retries` times."""
        transport = self._transport
        if transport is None:
            raise SnmpError("protocol", "session is not open")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        self._endpoint.matcher, self._endpoint.waiter = match, waiter
        try:
            for _ in range(self.retries + 1):
                transport.sendto(message())
                done, _ = await asyncio.wait({waiter}, timeout=self.timeout)
                if done:
                    return waiter.result()
        finally:
            self._endpoint.matcher = self._endpoint.waiter = None
            waiter.cancel()
        raise SnmpError("timeout", "no response")

    @staticmethod
    def _raise(pdu: ber.Pdu) -> None:
        if pdu.error_status:
            es = pdu.error_status
            status = _STATUS[es] if 0 <= es < len(_STATUS) else f"status {es}"
            if status in _PERMISSION_STATUS:
                raise SnmpError("permission", f"agent answered {status}")
            raise SnmpError("protocol", f"agent answered error {status} at index {pdu.error_index}")


def _value(tag: int, val: Any) -> Any:
    """A decoded value → int, bytes, OID string, or None for NULL/noSuch*/endOfMibView."""
    if tag == ber.OID:
        return format_oid(val)
    return None if tag in _NULL_TAGS else val

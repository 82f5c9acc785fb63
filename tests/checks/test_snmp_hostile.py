"""Hostile and broken SNMP agents: garbage, wrong request ids, oversized lengths, floods, agents
that never advance or never end, tooBig forever. The probe must end with a clear result within
its time bound, and the client must never hang, crash or grow without bound.

The agents are real UDP servers on loopback (a thread answering with crafted datagrams).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pysnmp.proto import api

from dxagent.checks import snmp
from dxagent.checks.snmp import session
from dxagent.checks.snmp.session import Credentials, SnmpError
from dxagent.model import Reason, Status
from dxagent.probe import ProbeContext
from tests.udpserver import serve_udp

Handler = Callable[[bytes], list[bytes]]
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
IF_DESCR = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
V2 = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]   # pysnmp's v2c message codec, to play the agent


@dataclasses.dataclass
class Request:
    """A decoded v2c request, as the crafted agents see it."""

    community: bytes
    request_id: int
    bulk: bool
    oids: list[tuple[int, ...]]
    repetitions: int


@contextlib.contextmanager
def agent(handler: Handler) -> Iterator[int]:
    """A loopback UDP 'agent' sending `handler(request)` datagrams back for each request."""
    with serve_udp(lambda data, _peer: handler(data)) as port:
        yield port


def _decode(data: bytes) -> Request:
    """A v2c request (raises PyAsn1Error on anything else, such as a v3 message)."""
    msg, _ = decoder.decode(data, asn1Spec=V2.Message())
    pdu = V2.apiMessage.get_pdu(msg)
    bulk = pdu.isSameTypeWith(V2.GetBulkRequestPDU())
    return Request(bytes(V2.apiMessage.get_community(msg)), int(V2.apiPDU.get_request_id(pdu)), bulk,
                   [tuple(oid) for oid, _ in V2.apiPDU.get_varbinds(pdu)],
                   int(V2.apiBulkPDU.get_max_repetitions(pdu)) if bulk else 0)


def _respond(request: bytes, varbinds: Callable[[Request], list[tuple[tuple[int, ...], Any]]], *, rid_delta: int = 0,
             error_status: int = 0) -> bytes:
    req = _decode(request)
    msg = V2.Message()
    V2.apiMessage.set_defaults(msg)
    V2.apiMessage.set_community(msg, req.community)
    pdu = V2.ResponsePDU()
    V2.apiPDU.set_defaults(pdu)
    V2.apiPDU.set_request_id(pdu, req.request_id + rid_delta)
    V2.apiPDU.set_error_status(pdu, error_status)
    V2.apiPDU.set_varbinds(pdu, varbinds(req))
    V2.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


def _echo(req: Request) -> list[tuple[tuple[int, ...], Any]]:
    return [(oid, V2.OctetString(b"x")) for oid in req.oids]


def _probe(port: int, version: str = "v2c") -> tuple[list[object], float]:
    fields: dict[str, object] = ({"community": "public"} if version == "v2c" else
                                 {"user": "u", "auth_key": "hostile-auth", "priv_key": "hostile-priv"})
    cfg = snmp.Config(id="h", host="127.0.0.1", port=port, version=version, request_timeout=0.3, request_retries=1,
                      **fields)  # type: ignore[arg-type]

    async def run() -> tuple[list[object], float]:
        session.engine()                     # the daemon's engine exists already: time the probe only
        t0 = time.monotonic()
        results = await snmp.probe(cfg, ProbeContext("h", "snmp", timeout=2.5))
        return list(results), time.monotonic() - t0

    return asyncio.run(run())


HOSTILE: dict[str, Handler] = {
    "garbage": lambda req: [random.Random(len(req)).randbytes(300)],
    "wrong request-id": lambda req: [_respond(req, _echo, rid_delta=1)],
    "oversized length": lambda req: [b"\x30\x84\x7f\xff\xff\xff\x02\x01\x01" + bytes(100)],
    "5-byte length": lambda req: [b"\x30\x85\x01\x00\x00\x00\x00" + bytes(50)],
    "truncated": lambda req: [_respond(req, _echo)[:-3]],
    "wrong community": lambda req: [_respond(req, _echo).replace(b"public", b"PUBLIC")],
    "a request, not a response": lambda req: [req],
    "flood of garbage": lambda req: [random.Random(i).randbytes(1 + i % 1400) for i in range(400)]
                                    + [_respond(req, _echo, rid_delta=i) for i in range(1, 100)],
}


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("version", ["v2c", "v3"])
def test_hostile_agent_ends_in_a_timeout_within_the_bound(name: str, version: str) -> None:
    handler = HOSTILE[name]

    def safe(req: bytes) -> list[bytes]:
        try:
            return handler(req)
        except PyAsn1Error:      # v3 requests are not v2c: send garbage of the same kind instead
            return [random.Random(len(req)).randbytes(200), b"\x30\x84\x7f\xff\xff\xff" + bytes(60)]

    with agent(safe) as port:
        [r], elapsed = _probe(port, version)
    assert (r.status, r.reason) == (Status.CRIT, Reason.TIMEOUT), r.summary.en   # type: ignore[attr-defined]
    assert "no answer from the SNMP agent in 0.6 s" in r.summary.en              # type: ignore[attr-defined]
    assert 0.6 - 0.05 <= elapsed < 0.6 + 0.6, elapsed     # (retries + 1) × timeout, not extended by the flood


def _session(port: int, timeout: float) -> Any:
    return session.connect("127.0.0.1", port, Credentials(version="v2c", community="public"), timeout=timeout, retries=0)


def test_answer_after_a_flood_is_still_taken() -> None:
    def handler(req: bytes) -> list[bytes]:
        noise = [random.Random(i).randbytes(40 + i) for i in range(200)]
        return [*noise, _respond(req, lambda r: [(o, V2.OctetString(b"edge-1")) for o in r.oids])]

    with agent(handler) as port:
        async def get() -> object:
            return await (await _session(port, 1.0)).get([SYS_NAME])

        assert asyncio.run(get()) == {SYS_NAME: b"edge-1"}


def _walk(port: int, max_rows: int = 10000, reps: int = 10) -> tuple[dict[tuple[int, ...], object], int]:
    async def run() -> tuple[dict[tuple[int, ...], object], int]:
        s = await _session(port, 0.5)
        table = await s.walk([IF_DESCR], max_repetitions=reps, max_rows=max_rows)
        return table[IF_DESCR], s.requests

    return asyncio.run(run())


def test_non_advancing_agent_ends_the_column() -> None:
    with agent(lambda req: [_respond(req, lambda r: [(o, V2.OctetString(b"same")) for o in r.oids] * 10)]) as port:
        rows, requests = _walk(port)
    assert rows == {} and requests == 1


def test_endless_table_is_bounded_by_max_rows() -> None:
    def endless(r: Request) -> list[tuple[tuple[int, ...], Any]]:
        [oid] = r.oids
        last = oid[len(IF_DESCR)] if len(oid) > len(IF_DESCR) else 0
        return [((*IF_DESCR, last + k), V2.OctetString(b"if")) for k in range(1, r.repetitions + 1)]

    with agent(lambda req: [_respond(req, endless)]) as port:
        rows, requests = _walk(port, max_rows=95)
    assert 95 <= len(rows) < 105 and requests == 10


def test_too_big_forever_halves_then_fails_clearly() -> None:
    with agent(lambda req: [_respond(req, lambda r: [], error_status=1)]) as port, pytest.raises(SnmpError) as err:
        _walk(port, reps=8)
    assert (err.value.kind, err.value.detail) == ("protocol", "agent answered error tooBig at index 0")


def test_exceptions_and_end_of_view_are_none_and_end_the_walk() -> None:
    def handler(req: bytes) -> list[bytes]:
        if not _decode(req).bulk:
            return [_respond(req, lambda r: [(r.oids[0], V2.NoSuchObject("")), (r.oids[1], V2.NoSuchInstance(""))])]
        return [_respond(req, lambda r: [((*IF_DESCR, 1), V2.OctetString(b"lo")), ((*IF_DESCR, 2), V2.EndOfMibView(""))])]

    with agent(handler) as port:
        async def run() -> tuple[object, object]:
            s = await _session(port, 0.5)
            return await s.get([SYS_NAME, (*SYS_NAME[:-1], 6, 0)]), await s.walk([IF_DESCR], 2)

        got, table = asyncio.run(run())
    assert got == {SYS_NAME: None, (*SYS_NAME[:-1], 6, 0): None}
    assert table == {IF_DESCR: {(1,): b"lo"}}

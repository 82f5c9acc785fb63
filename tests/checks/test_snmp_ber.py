"""Our SNMP BER codec against pysnmp/pyasn1 as the oracle, property-style round trips, hostile bytes.

Why: `checks/snmp/ber.py` replaced pysnmp on the wire for speed, so an independent implementation
must agree with it both ways, and a hostile or broken agent must only ever produce `BerError`
(quickly, without big allocations), never a hang or another exception.
"""

from __future__ import annotations

import random
import time

import pytest

from dxagent.checks.snmp import ber as ber

pytest.importorskip("pysnmp", reason="pysnmp is the test oracle (the test extra)")
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

V2 = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]

# (our tag, python value, pysnmp value)
SAMPLES = [
    (ber.INTEGER, 0, V2.Integer(0)), (ber.INTEGER, -1, V2.Integer(-1)), (ber.INTEGER, 127, V2.Integer(127)),
    (ber.INTEGER, 128, V2.Integer(128)), (ber.INTEGER, -129, V2.Integer(-129)),
    (ber.INTEGER, 2**31 - 1, V2.Integer(2**31 - 1)), (ber.INTEGER, -(2**31), V2.Integer(-(2**31))),
    (ber.OCTET_STRING, b"", V2.OctetString(b"")), (ber.OCTET_STRING, b"eth0", V2.OctetString(b"eth0")),
    (ber.OCTET_STRING, bytes(range(256)) * 3, V2.OctetString(bytes(range(256)) * 3)),
    (ber.OID, (1, 3, 6, 1, 4, 1, 8072, 3, 2, 10), V2.ObjectIdentifier((1, 3, 6, 1, 4, 1, 8072, 3, 2, 10))),
    (ber.OID, (2, 999, 4294967295), V2.ObjectIdentifier((2, 999, 4294967295))),
    (ber.OID, (0, 0), V2.ObjectIdentifier((0, 0))),
    (ber.IP_ADDRESS, b"\x0a\x00\x00\x01", V2.IpAddress("10.0.0.1")),
    (ber.COUNTER32, 0, V2.Counter32(0)), (ber.COUNTER32, 2**32 - 1, V2.Counter32(2**32 - 1)),
    (ber.GAUGE32, 1000000000, V2.Gauge32(1000000000)), (ber.TIMETICKS, 8640000, V2.TimeTicks(8640000)),
    (ber.OPAQUE, b"\x9f\x78\x04\x3f\x80\x00\x00", V2.Opaque(b"\x9f\x78\x04\x3f\x80\x00\x00")),
    (ber.COUNTER64, 2**64 - 1, V2.Counter64(2**64 - 1)), (ber.COUNTER64, 2**63, V2.Counter64(2**63)),
    (ber.NULL, None, V2.Null("")),
    (ber.NO_SUCH_OBJECT, None, V2.NoSuchObject("")), (ber.NO_SUCH_INSTANCE, None, V2.NoSuchInstance("")),
    (ber.END_OF_MIB_VIEW, None, V2.EndOfMibView("")),
]
PDUS = {ber.GET: V2.GetRequestPDU, ber.GETNEXT: V2.GetNextRequestPDU, ber.RESPONSE: V2.ResponsePDU,
        ber.GETBULK: V2.GetBulkRequestPDU, ber.REPORT: V2.ReportPDU}


def _pysnmp_message(tag: int, request_id: int, a: int, b: int, varbinds: list[tuple[tuple[int, ...], object]],
                    community: bytes = b"public") -> bytes:
    msg = V2.Message()
    V2.apiMessage.set_defaults(msg)
    V2.apiMessage.set_community(msg, community)
    pdu = PDUS[tag]()
    if tag == ber.GETBULK:
        V2.apiBulkPDU.set_defaults(pdu)
        V2.apiBulkPDU.set_non_repeaters(pdu, a)
        V2.apiBulkPDU.set_max_repetitions(pdu, b)
    else:
        V2.apiPDU.set_defaults(pdu)
        V2.apiPDU.set_error_status(pdu, a)
        V2.apiPDU.set_error_index(pdu, b)
    V2.apiPDU.set_request_id(pdu, request_id)
    V2.apiPDU.set_varbinds(pdu, varbinds)
    V2.apiMessage.set_pdu(msg, pdu)
    return encoder.encode(msg)


def _ours(tag: int, request_id: int, a: int, b: int, varbinds: list[ber.VarBind], community: bytes = b"public") -> bytes:
    return ber.encode_v2c(community, ber.encode_pdu(tag, request_id, a, b, varbinds))


@pytest.mark.parametrize("tag, value, theirs", SAMPLES, ids=[f"{t:#x}-{i}" for i, (t, _, _) in enumerate(SAMPLES)])
def test_each_type_both_ways(tag: int, value: object, theirs: object) -> None:
    oid = (1, 3, 6, 1, 2, 1, 1, 1, 0)
    wire = _pysnmp_message(ber.RESPONSE, 4242, 0, 0, [(oid, theirs)])
    version, community, pdu = ber.decode_v2c(wire)
    assert (version, community, pdu.tag, pdu.request_id) == (1, b"public", ber.RESPONSE, 4242)
    assert pdu.varbinds == [(oid, tag, value)]
    mine = _ours(ber.RESPONSE, 4242, 0, 0, [(oid, tag, value)])
    assert mine == wire or value == -(2**31)   # both shortest form (pyasn1 spends a 5th byte on -2^31)
    decoded, _ = decoder.decode(mine, asn1Spec=V2.Message())
    [(name, val)] = V2.apiPDU.get_varbinds(V2.apiMessage.get_pdu(decoded))
    assert tuple(name) == oid and val == theirs and type(val).__name__ == type(theirs).__name__


@pytest.mark.parametrize("tag", [ber.GET, ber.GETNEXT, ber.GETBULK, ber.RESPONSE, ber.REPORT])
def test_pdu_kinds_and_header_fields(tag: int) -> None:
    oids = [(1, 3, 6, 1, 2, 1, 2, 2, 1, c) for c in (2, 10, 16)]
    a, b = (0, 25) if tag == ber.GETBULK else (5, 2) if tag == ber.RESPONSE else (0, 0)
    wire = _pysnmp_message(tag, 2**31 - 1, a, b, [(o, V2.Null("")) for o in oids], community=b"c\x00mm")
    assert _ours(tag, 2**31 - 1, a, b, [(o, ber.NULL, None) for o in oids], b"c\x00mm") == wire
    _, community, pdu = ber.decode_v2c(wire)
    assert community == b"c\x00mm" and pdu == ber.Pdu(tag, 2**31 - 1, a, b, [(o, ber.NULL, None) for o in oids])


def _random_value(rng: random.Random) -> tuple[int, object]:
    kind = rng.choice([ber.INTEGER, ber.OCTET_STRING, ber.OID, ber.IP_ADDRESS, ber.COUNTER32, ber.GAUGE32,
                       ber.TIMETICKS, ber.OPAQUE, ber.COUNTER64, ber.NULL, ber.NO_SUCH_OBJECT, ber.END_OF_MIB_VIEW])
    if kind == ber.INTEGER:
        return kind, rng.randint(-(2**31), 2**31 - 1)
    if kind in (ber.OCTET_STRING, ber.OPAQUE):
        return kind, rng.randbytes(rng.choice([0, 1, 5, 127, 128, 300, 70000 // 100]))
    if kind == ber.OID:
        return kind, _random_oid(rng)
    if kind == ber.IP_ADDRESS:
        return kind, rng.randbytes(4)
    if kind == ber.COUNTER64:
        return kind, rng.getrandbits(rng.choice([1, 32, 63, 64]))
    if kind in (ber.COUNTER32, ber.GAUGE32, ber.TIMETICKS):
        return kind, rng.getrandbits(rng.choice([1, 8, 31, 32]))
    return kind, None


def _random_oid(rng: random.Random) -> tuple[int, ...]:
    first = rng.choice([0, 1, 2])
    second = rng.randint(0, 39) if first < 2 else rng.choice([0, 5, 48, 1000])
    return (first, second, *(rng.choice([0, 1, 127, 128, 16383, 16384, 2**32 - 1, rng.getrandbits(32)])
                             for _ in range(rng.randint(0, 20))))


def test_random_messages_round_trip_and_agree_with_pyasn1() -> None:
    """Property-style: 300 random messages; ours → ours is the identity, pyasn1 decodes ours to the
    same values, and pyasn1 re-encoding is byte-identical (both shortest form)."""
    rng = random.Random(5)
    for _ in range(300):
        varbinds = [(_random_oid(rng), *_random_value(rng)) for _ in range(rng.randint(0, 30))]
        rid = rng.randint(-(2**31), 2**31 - 1)
        community = rng.randbytes(rng.randint(0, 40))
        wire = _ours(ber.RESPONSE, rid, rng.randint(0, 18), rng.randint(0, 30), varbinds, community)
        _, got_community, pdu = ber.decode_v2c(wire)
        assert got_community == community and pdu.request_id == rid and pdu.varbinds == varbinds
        theirs, rest = decoder.decode(wire, asn1Spec=V2.Message())
        assert rest == b"" and encoder.encode(theirs) == wire
        their_vbs = V2.apiPDU.get_varbinds(V2.apiMessage.get_pdu(theirs))
        assert [tuple(n) for n, _ in their_vbs] == [v[0] for v in varbinds]


def test_v3_structures_agree_with_pysnmp() -> None:
    from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message
    from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

    pdu = ber.encode_pdu(ber.GET, 99, 0, 0, [((1, 3, 6, 1, 2, 1, 1, 5, 0), ber.NULL, None)])
    scoped = ber.encode_scoped_pdu(b"\x80\x00\x1f\x88\x04engine", b"ctx", pdu)
    sec, offset = ber.encode_usm(b"\x80\x00\x1f\x88\x04engine", 7, 123456, b"dxtest", 12, b"\x01" * 8)
    wire = ber.tlv(ber.SEQUENCE, ber.encode_v3_header(31337, 65507, 0x07) + sec + ber.tlv(ber.OCTET_STRING, b"\xaa" * 40))
    msg, rest = decoder.decode(wire, asn1Spec=SNMPv3Message())
    assert rest == b"" and int(msg["msgGlobalData"]["msgID"]) == 31337
    assert bytes(msg["msgGlobalData"]["msgFlags"]) == b"\x07" and int(msg["msgGlobalData"]["msgSecurityModel"]) == 3
    usm_params, _ = decoder.decode(bytes(msg["msgSecurityParameters"]), asn1Spec=UsmSecurityParameters())
    assert (int(usm_params["msgAuthoritativeEngineBoots"]), int(usm_params["msgAuthoritativeEngineTime"])) == (7, 123456)
    assert bytes(usm_params["msgUserName"]) == b"dxtest" and bytes(usm_params["msgAuthenticationParameters"]) == bytes(12)
    assert sec[offset:offset + 12] == bytes(12)
    m = ber.decode_v3(wire)
    assert (m.msg_id, m.flags, m.usm.boots, m.usm.time, m.usm.user, m.plaintext) == (31337, 7, 7, 123456, b"dxtest", False)
    assert wire[m.auth_span[0]:m.auth_span[1]] == bytes(12) and m.data == b"\xaa" * 40
    plain = ber.tlv(ber.SEQUENCE, ber.encode_v3_header(1, 484, 0x04) + ber.encode_usm(b"", 0, 0, b"", 0, b"")[0] + scoped)
    m = ber.decode_v3(plain)
    assert m.plaintext and ber.decode_scoped_pdu(m.data)[:2] == (b"\x80\x00\x1f\x88\x04engine", b"ctx")
    assert ber.decode_scoped_pdu(m.data + bytes(5))[2].request_id == 99   # DES padding after the PDU is allowed
    assert decoder.decode(plain, asn1Spec=SNMPv3Message())[1] == b""


def test_request_id_mismatch_is_cheap_and_distinct() -> None:
    wire = _ours(ber.RESPONSE, 5, 0, 0, [((1, 3, 6), ber.INTEGER, 1)])
    with pytest.raises(ber.Mismatch):
        ber.decode_v2c(wire, request_id=6)
    assert ber.decode_v2c(wire, request_id=5)[2].request_id == 5


# ---------------------------------------------------------------- hostile input

GOOD = _ours(ber.RESPONSE, 1234, 0, 0, [((1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 1), ber.OCTET_STRING, b"lo"),
                                         ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1), ber.COUNTER64, 2**40)])


def _hostile_corpus() -> list[tuple[str, bytes]]:
    corpus = [(f"truncated at {n}", GOOD[:n]) for n in range(len(GOOD))]
    corpus += [(f"byte {i} set to {v:#x}", GOOD[:i] + bytes((v,)) + GOOD[i + 1:])
               for i in range(len(GOOD)) for v in (0x00, 0x7F, 0x80, 0x81, 0x84, 0xFF)]
    corpus += [
        ("empty", b""),
        ("huge length", b"\x30\x84\xff\xff\xff\xff" + GOOD[2:]),
        ("5-byte length", b"\x30\x85\x00\x00\x00\x00\x10" + GOOD[2:]),
        ("indefinite length", b"\x30\x80" + GOOD[2:] + b"\x00\x00"),
        ("trailing garbage", GOOD + b"\x00"),
        ("nested depth", b"\x30\x82\x0f\xa0" + b"\x30\x82\x0f\x9c" * 1000),
        ("sequence as value", _ours(ber.RESPONSE, 1, 0, 0, [])[:-2] + b"\x30\x08\x30\x06\x06\x01\x2b\x30\x01\x00"),
        ("oversized integer", b"\x30\x1a\x02\x01\x01\x04\x00\xa2\x13\x02\x0a" + b"\x01" * 10 + b"\x02\x01\x00\x02\x01\x00\x30\x00"),
        ("long OID arc", ber.encode_v2c(b"", b"\xa2\x17\x02\x01\x01\x02\x01\x00\x02\x01\x00\x30\x0c\x30\x0a\x06\x06\x2b"
                                        + b"\xff" * 5 + b"\x05\x00")),
        ("OID arc run", ber.encode_v2c(b"", ber.tlv(0xA2, b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + ber.tlv(
            ber.SEQUENCE, ber.tlv(ber.SEQUENCE, ber.tlv(ber.OID, b"\x2b" + b"\x81" * 60000 + b"\x01") + b"\x05\x00"))))),
        ("counter32 too big", _ours(ber.RESPONSE, 1, 0, 0, [((1, 3), ber.COUNTER64, 2**33)]).replace(b"\x46\x05", b"\x41\x05")),
        ("IpAddress of 5 bytes", _ours(ber.RESPONSE, 1, 0, 0, [((1, 3), ber.OCTET_STRING, b"12345")]).replace(b"\x04\x05", b"\x40\x05")),
        ("non-empty NULL", _ours(ber.RESPONSE, 1, 0, 0, [((1, 3), ber.OCTET_STRING, b"1")]).replace(b"\x04\x01", b"\x05\x01")),
        ("unknown PDU", GOOD.replace(b"\xa2", b"\xa9", 1)),
        ("version 3 as v2c", GOOD.replace(b"\x02\x01\x01", b"\x02\x01\x03", 1)),
        ("random", random.Random(1).randbytes(1400)),
    ]
    rng = random.Random(2)
    corpus += [(f"random flip {k}", bytes(b ^ (rng.getrandbits(8) if rng.random() < 0.05 else 0) for b in GOOD))
               for k in range(200)]
    return corpus


def test_hostile_packets_raise_only_ber_errors_quickly() -> None:
    for name, data in _hostile_corpus():
        t0 = time.perf_counter()
        try:
            ber.decode_v2c(data)
        except ber.BerError:
            pass
        else:
            # a flip may leave a still well-formed message (inside a string, a non-minimal integer):
            # what we decoded must then survive our own encode → decode unchanged
            version, community, pdu = ber.decode_v2c(data)
            assert name.startswith(("byte", "random flip")), name
            again = ber.encode_v2c(community, ber.encode_pdu(pdu.tag, pdu.request_id, pdu.error_status,
                                                             pdu.error_index, pdu.varbinds), version)
            assert ber.decode_v2c(again) == (version, community, pdu), name
        for decode in (ber.decode_v3, ber.decode_scoped_pdu):
            with pytest.raises(ber.BerError):
                decode(data)
        assert time.perf_counter() - t0 < 1.0, name   # a bound against pathological parsing, not a speed test


def test_encoder_refuses_what_it_cannot_represent() -> None:
    for oid in [(1,), (3, 1), (1, 40), (1, 3, -1), (1, 3, 2**32), tuple([1, 3] * 65)]:
        with pytest.raises(ber.BerError):
            ber.encode_oid(oid)
    with pytest.raises(ber.BerError):
        ber.encode_value(0x30, b"")

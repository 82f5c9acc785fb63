"""Minimal BER for SNMP: exactly the types and PDUs an SNMP manager sends and reads, fast and strict.

Why our own: pysnmp/pyasn1 decode BER in generic pure Python at ~100 µs per variable, which made
an IF-MIB walk of 50 interfaces 10× slower than snmp_exporter (issue #5). SNMP uses a tiny fixed
subset of BER, so a decoder that follows the message structure (not a generic ASN.1 engine) is a
few µs per variable.

Strict on purpose: every length is checked against its enclosing element (so against the
datagram), lengths use at most 4 bytes, integers and OIDs are bounded, the structure has a fixed
depth (no recursion on input), and anything else raises `BerError`. A hostile or truncated packet
therefore costs at most one pass over its bytes and never allocates more than it holds.

Values are plain Python: a variable binding is `(oid: tuple[int, ...], tag: int, value)` where value
is an int (INTEGER, Counter32, Gauge32, TimeTicks, Counter64), bytes (OCTET STRING, IpAddress,
Opaque), an OID tuple, or None (NULL, noSuchObject, noSuchInstance, endOfMibView; `tag` tells which).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

__all__ = [
    "BerError", "Mismatch", "VarBind", "Pdu", "V3Message", "UsmParams",
    "INTEGER", "OCTET_STRING", "NULL", "OID", "SEQUENCE", "IP_ADDRESS", "COUNTER32", "GAUGE32", "TIMETICKS",
    "OPAQUE", "COUNTER64", "NO_SUCH_OBJECT", "NO_SUCH_INSTANCE", "END_OF_MIB_VIEW",
    "GET", "GETNEXT", "RESPONSE", "SET", "GETBULK", "INFORM", "TRAP", "REPORT",
    "encode_int", "encode_octets", "encode_oid", "encode_value", "encode_pdu", "encode_v2c", "tlv",
    "decode_v2c", "decode_pdu", "decode_v3", "decode_scoped_pdu", "encode_scoped_pdu", "encode_usm", "encode_v3_header",
]

INTEGER, OCTET_STRING, NULL, OID, SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30
IP_ADDRESS, COUNTER32, GAUGE32, TIMETICKS, OPAQUE, COUNTER64 = 0x40, 0x41, 0x42, 0x43, 0x44, 0x46
NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW = 0x80, 0x81, 0x82
GET, GETNEXT, RESPONSE, SET, GETBULK, INFORM, TRAP, REPORT = 0xA0, 0xA1, 0xA2, 0xA3, 0xA5, 0xA6, 0xA7, 0xA8
PDU_TAGS = frozenset({GET, GETNEXT, RESPONSE, SET, GETBULK, INFORM, TRAP, REPORT})

_UNSIGNED = {COUNTER32: 5, GAUGE32: 5, TIMETICKS: 5, COUNTER64: 9}  # tag → most content bytes
_BYTES = frozenset({OCTET_STRING, OPAQUE})
_EMPTY = frozenset({NULL, NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW})
MAX_OID_ARCS = 128          # RFC 2578 §3.5
MAX_ARC = 0xFFFFFFFF        # sub-identifiers are 32-bit unsigned

VarBind = tuple[tuple[int, ...], int, Any]


class BerError(ValueError):
    """The bytes are not a well-formed SNMP message (said without echoing the bytes)."""


class Mismatch(Exception):
    """A well-formed message that answers another request (stale or spoofed): ignore it."""


class Pdu(NamedTuple):
    tag: int
    request_id: int
    error_status: int      # non-repeaters in a GETBULK
    error_index: int       # max-repetitions in a GETBULK
    varbinds: list[VarBind]


class UsmParams(NamedTuple):
    engine_id: bytes
    boots: int
    time: int
    user: bytes
    auth: bytes
    priv: bytes


class V3Message(NamedTuple):
    msg_id: int
    max_size: int
    flags: int
    security_model: int
    usm: UsmParams
    auth_span: tuple[int, int]   # where msgAuthenticationParameters sits in the datagram (to zero it)
    plaintext: bool              # True: `data` is a ScopedPDU, False: an encrypted OCTET STRING's content
    data: bytes


# ---------------------------------------------------------------- encoding

def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes((tag, n)) + body
    return bytes((tag,)) + _len(n) + body


def encode_int(value: int, tag: int = INTEGER) -> bytes:
    """Two's complement, shortest form (unsigned types get a leading zero when the top bit is set)."""
    body = value.to_bytes((value if value >= 0 else ~value).bit_length() // 8 + 1, "big", signed=True)
    return tlv(tag, body)


def encode_octets(value: bytes, tag: int = OCTET_STRING) -> bytes:
    return tlv(tag, value)


def encode_oid(oid: Sequence[int]) -> bytes:
    if len(oid) < 2 or oid[0] > 2 or (oid[0] < 2 and oid[1] >= 40) or len(oid) > MAX_OID_ARCS:
        raise BerError(f"cannot encode OID of {len(oid)} arcs starting {tuple(oid[:2])}")
    arcs = [oid[0] * 40 + oid[1], *oid[2:]]
    if max(arcs) < 0x80 and min(arcs) >= 0:
        return tlv(OID, bytes(arcs))
    if min(oid) < 0 or max(oid[1:]) > MAX_ARC:
        raise BerError("OID arc out of range")
    out = bytearray()
    for arc in arcs:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(OID, bytes(out))


def encode_value(tag: int, value: Any) -> bytes:
    """One variable-binding value of type `tag` (see the module docstring for the Python types)."""
    if tag == INTEGER or tag in _UNSIGNED:
        return encode_int(int(value), tag)
    if tag in _BYTES or tag == IP_ADDRESS:
        return tlv(tag, bytes(value))
    if tag == OID:
        return encode_oid(value)
    if tag in _EMPTY:
        return bytes((tag, 0))
    raise BerError(f"cannot encode value type 0x{tag:02x}")


def encode_pdu(tag: int, request_id: int, a: int, b: int, varbinds: Iterable[tuple[Sequence[int], int, Any]]) -> bytes:
    """A PDU; `a`/`b` are error-status/index, or non-repeaters/max-repetitions for GETBULK."""
    vbs = b"".join(tlv(SEQUENCE, encode_oid(oid) + encode_value(t, v)) for oid, t, v in varbinds)
    return tlv(tag, encode_int(request_id) + encode_int(a) + encode_int(b) + tlv(SEQUENCE, vbs))


def encode_v2c(community: bytes, pdu: bytes, version: int = 1) -> bytes:
    """A community-based message (version 1 = SNMPv2c, 0 = SNMPv1)."""
    return tlv(SEQUENCE, encode_int(version) + tlv(OCTET_STRING, community) + pdu)


def encode_scoped_pdu(context_engine_id: bytes, context_name: bytes, pdu: bytes) -> bytes:
    return tlv(SEQUENCE, tlv(OCTET_STRING, context_engine_id) + tlv(OCTET_STRING, context_name) + pdu)


def encode_v3_header(msg_id: int, max_size: int, flags: int, security_model: int = 3) -> bytes:
    """msgVersion and msgGlobalData, the part of an SNMPv3 message before the security parameters."""
    return encode_int(3) + tlv(SEQUENCE, encode_int(msg_id) + encode_int(max_size) + tlv(OCTET_STRING, bytes((flags,)))
                               + encode_int(security_model))


def encode_usm(engine_id: bytes, boots: int, time: int, user: bytes, auth_len: int, priv: bytes) -> tuple[bytes, int]:
    """UsmSecurityParameters wrapped in its OCTET STRING, with `auth_len` zero bytes for the digest.

    Returns the bytes and the digest's offset within them, so the caller can place the HMAC
    after computing it over the whole message.
    """
    head = tlv(OCTET_STRING, engine_id) + encode_int(boots) + encode_int(time) + tlv(OCTET_STRING, user)
    auth = tlv(OCTET_STRING, bytes(auth_len))
    inner = head + auth + tlv(OCTET_STRING, priv)
    seq = tlv(SEQUENCE, inner)
    outer = tlv(OCTET_STRING, seq)
    offset = (len(outer) - len(seq)) + (len(seq) - len(inner)) + len(head) + (len(auth) - auth_len)
    return outer, offset


# ---------------------------------------------------------------- decoding

def _header(data: bytes, pos: int, limit: int, tag: int) -> tuple[int, int]:
    """Check the tag at `pos`; return (content start, content end) bounded by `limit`."""
    if pos + 2 > limit:
        raise BerError("truncated element")
    if data[pos] != tag:
        raise BerError(f"expected tag 0x{tag:02x}, got 0x{data[pos]:02x}")
    return _length(data, pos + 1, limit)


def _length(data: bytes, pos: int, limit: int) -> tuple[int, int]:
    n = data[pos]
    pos += 1
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4:
            raise BerError("indefinite or over-long length")
        if pos + k > limit:
            raise BerError("truncated length")
        n = int.from_bytes(data[pos:pos + k], "big")
        pos += k
    end = pos + n
    if end > limit:
        raise BerError("length beyond the enclosing element")
    return pos, end


def _int(data: bytes, pos: int, limit: int, tag: int = INTEGER) -> tuple[int, int]:
    """An INTEGER (signed, at most 9 bytes) at `pos` → (value, end)."""
    s, e = _header(data, pos, limit, tag)
    if not 0 < e - s <= 9:
        raise BerError("integer of bad size")
    return int.from_bytes(data[s:e], "big", signed=True), e


def _octets(data: bytes, pos: int, limit: int) -> tuple[bytes, int]:
    s, e = _header(data, pos, limit, OCTET_STRING)
    return data[s:e], e


def _oid(data: bytes, s: int, e: int) -> tuple[int, ...]:
    raw = data[s:e]
    if not raw:
        raise BerError("empty OID")
    if raw.isascii():   # every sub-identifier fits in one byte: the common case
        first = raw[0]
        head = (0, first) if first < 40 else (1, first - 40) if first < 80 else (2, first - 80)
        if len(raw) > MAX_OID_ARCS - 1:
            raise BerError("OID too long")
        return head + tuple(raw[1:])
    arcs: list[int] = []
    arc = 0
    started = False
    for byte in raw:
        if not started and byte == 0x80:
            raise BerError("non-minimal OID sub-identifier")
        arc = (arc << 7) | (byte & 0x7F)
        started = True
        if not byte & 0x80:
            arcs.append(arc)
            if arc > MAX_ARC and len(arcs) > 1:
                raise BerError("OID sub-identifier over 32 bits")
            arc, started = 0, False
        elif arc > MAX_ARC * 128:
            raise BerError("OID sub-identifier over 32 bits")
    if started:
        raise BerError("truncated OID sub-identifier")
    if len(arcs) > MAX_OID_ARCS - 1:
        raise BerError("OID too long")
    first = arcs[0]
    head = (0, first) if first < 40 else (1, first - 40) if first < 80 else (2, first - 80)
    return head + tuple(arcs[1:])


def _varbinds(data: bytes, pos: int, end: int) -> list[VarBind]:
    """The hot loop (hundreds of variables per response): short-form lengths and one-byte OID arcs
    are decoded inline; anything else goes through the general helpers, with the same checks."""
    out: list[VarBind] = []
    append = out.append
    while pos < end:
        if pos + 2 > end or data[pos] != SEQUENCE:
            raise BerError("variable binding is not a SEQUENCE")
        n = data[pos + 1]
        if n < 0x80:
            s, vb_end = pos + 2, pos + 2 + n
            if vb_end > end:
                raise BerError("length beyond the enclosing element")
        else:
            s, vb_end = _length(data, pos + 1, end)
        if s + 2 > vb_end or data[s] != OID:
            raise BerError("variable binding without a name")
        n = data[s + 1]
        if n < 0x80:
            s, e = s + 2, s + 2 + n
            if e > vb_end:
                raise BerError("length beyond the enclosing element")
        else:
            s, e = _length(data, s + 1, vb_end)
        raw = data[s:e]
        # 1.3.… with one byte per arc (nearly every name an agent sends) needs no arc loop
        name = (1, 3, *raw[1:]) if raw[:1] == b"\x2b" and raw.isascii() and n < MAX_OID_ARCS else _oid(data, s, e)
        if e + 2 > vb_end:
            raise BerError("variable binding without a value")
        tag = data[e]
        n = data[e + 1]
        if n < 0x80:
            s, e = e + 2, e + 2 + n
            if e > vb_end:
                raise BerError("length beyond the enclosing element")
        else:
            s, e = _length(data, e + 1, vb_end)
        if e != vb_end:
            raise BerError("trailing bytes in a variable binding")
        size = e - s
        if tag in _UNSIGNED:
            if not 0 < size <= _UNSIGNED[tag] or (size == _UNSIGNED[tag] and data[s]):
                raise BerError("unsigned value out of range")
            value: Any = int.from_bytes(data[s:e], "big")
        elif tag == INTEGER:
            if not 0 < size <= 5:
                raise BerError("INTEGER value out of range")
            value = int.from_bytes(data[s:e], "big", signed=True)
        elif tag in _BYTES:
            value = data[s:e]
        elif tag == OID:
            value = _oid(data, s, e)
        elif tag in _EMPTY:
            if size:
                raise BerError("non-empty NULL or exception value")
            value = None
        elif tag == IP_ADDRESS:
            if size != 4:
                raise BerError("IpAddress is not 4 bytes")
            value = data[s:e]
        else:
            raise BerError(f"unsupported value type 0x{tag:02x}")
        append((name, tag, value))
        pos = vb_end
    return out


def decode_pdu(data: bytes, pos: int, limit: int, request_id: int | None = None) -> tuple[Pdu, int]:
    """The PDU at `pos` → (Pdu, end). With `request_id`, raise `Mismatch` before decoding the
    variable bindings of a response to another request (cheap rejection of stale or spoofed answers)."""
    if pos + 2 > limit:
        raise BerError("truncated PDU")
    tag = data[pos]
    if tag not in PDU_TAGS:
        raise BerError(f"unknown PDU type 0x{tag:02x}")
    s, end = _length(data, pos + 1, limit)
    rid, p = _int(data, s, end)
    if request_id is not None and rid != request_id and tag != REPORT:
        raise Mismatch("request-id")
    a, p = _int(data, p, end)
    b, p = _int(data, p, end)
    vs, ve = _header(data, p, end, SEQUENCE)
    if ve != end:
        raise BerError("trailing bytes in the PDU")
    return Pdu(tag, rid, a, b, _varbinds(data, vs, ve)), end


def decode_v2c(data: bytes, request_id: int | None = None) -> tuple[int, bytes, Pdu]:
    """A whole community-based datagram → (version, community, Pdu)."""
    s, e = _header(data, 0, len(data), SEQUENCE)
    if e != len(data):
        raise BerError("trailing bytes after the message")
    version, p = _int(data, s, e)
    if version not in (0, 1):
        raise BerError(f"not an SNMPv1/v2c message (version {version})")
    community, p = _octets(data, p, e)
    pdu, p = decode_pdu(data, p, e, request_id)
    if p != e:
        raise BerError("trailing bytes after the PDU")
    return version, community, pdu


def decode_v3(data: bytes) -> V3Message:
    """A whole SNMPv3 datagram with USM security parameters (the PDU itself stays undecoded)."""
    s, e = _header(data, 0, len(data), SEQUENCE)
    if e != len(data):
        raise BerError("trailing bytes after the message")
    version, p = _int(data, s, e)
    if version != 3:
        raise BerError(f"not an SNMPv3 message (version {version})")
    gs, ge = _header(data, p, e, SEQUENCE)
    msg_id, q = _int(data, gs, ge)
    max_size, q = _int(data, q, ge)
    flags, q = _octets(data, q, ge)
    model, q = _int(data, q, ge)
    if q != ge or len(flags) != 1:
        raise BerError("malformed msgGlobalData")
    ss, se = _header(data, ge, e, OCTET_STRING)
    us, ue = _header(data, ss, se, SEQUENCE)
    if ue != se:
        raise BerError("trailing bytes in the security parameters")
    engine_id, q = _octets(data, us, ue)
    boots, q = _int(data, q, ue)
    time, q = _int(data, q, ue)
    user, q = _octets(data, q, ue)
    a_s, a_e = _header(data, q, ue, OCTET_STRING)
    priv, q = _octets(data, a_e, ue)
    if q != ue or len(engine_id) > 32 or len(user) > 32:
        raise BerError("malformed USM security parameters")
    if se + 2 > e:
        raise BerError("message without data")
    plaintext = data[se] == SEQUENCE
    if plaintext:
        _, de = _header(data, se, e, SEQUENCE)
        body = data[se:de]
    else:
        ds, de = _header(data, se, e, OCTET_STRING)
        body = data[ds:de]
    if de != e:
        raise BerError("trailing bytes after the scoped PDU")
    usm = UsmParams(engine_id, boots, time, user, data[a_s:a_e], priv)
    return V3Message(msg_id, max_size, flags[0], model, usm, (a_s, a_e), plaintext, body)


def decode_scoped_pdu(data: bytes, request_id: int | None = None) -> tuple[bytes, bytes, Pdu]:
    """A ScopedPDU → (contextEngineID, contextName, Pdu). Bytes after it are allowed: decrypted
    DES/3DES data carries block padding."""
    s, e = _header(data, 0, len(data), SEQUENCE)
    engine_id, p = _octets(data, s, e)
    name, p = _octets(data, p, e)
    pdu, p = decode_pdu(data, p, e, request_id)
    if p != e:
        raise BerError("trailing bytes in the scoped PDU")
    return engine_id, name, pdu

"""A small read-only X.509 reader: the certificate facts dxagent reports, straight from the DER bytes.

Why not `cryptography`: its Rust extension carries a second copy of OpenSSL and costs the daemon
about 9 MiB of RSS (bench/bench_daemon.py), for a tls check that runs once an hour and only needs
to read names, dates, SANs, the key size and two extensions. Parsing is strict about DER framing
(lengths must fit, no indefinite lengths) and lenient about contents (an unknown string type, curve
or algorithm is shown rather than rejected), because a technician needs the facts most when a
server presents something odd. Signature checks are OpenSSL's job during the handshake; nothing
here verifies anything. `tests/checks/test_x509.py` compares every field with cryptography.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import ipaddress
from typing import Any

__all__ = ["Cert", "Name", "load_any", "load_der", "validity"]

_SEQ, _SET, _INT, _BOOL, _OID, _OCTETS, _BITS = 0x30, 0x31, 0x02, 0x01, 0x06, 0x04, 0x03
_UTCTIME, _GENTIME = 0x17, 0x18
_STRINGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x1A: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be",
            0x1C: "utf-32-be", 0x12: "ascii"}

# RFC 4514 short names, exactly the set cryptography's rfc4514_string() uses; others show as dotted OIDs.
_SHORT = {"2.5.4.3": "CN", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.6": "C",
          "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID"}
_CN = "2.5.4.3"
# Signature algorithm names as cryptography (and `openssl x509 -text`, mostly) prints them.
SIGNATURES = {
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption", "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.14": "sha224WithRSAEncryption", "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption", "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.113549.1.1.10": "rsassaPss", "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10045.4.3.1": "ecdsa-with-SHA224", "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384", "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.2.840.10040.4.3": "dsa-with-sha1", "2.16.840.1.101.3.4.3.1": "dsa-with-sha224",
    "2.16.840.1.101.3.4.3.2": "dsa-with-sha256", "1.3.101.112": "ed25519", "1.3.101.113": "ed448",
}
CURVES = {"1.2.840.10045.3.1.1": ("secp192r1", 192), "1.3.132.0.33": ("secp224r1", 224),
          "1.3.132.0.10": ("secp256k1", 256), "1.2.840.10045.3.1.7": ("secp256r1", 256),
          "1.3.132.0.34": ("secp384r1", 384), "1.3.132.0.35": ("secp521r1", 521),
          "1.3.36.3.3.2.8.1.1.7": ("brainpoolP256r1", 256), "1.3.36.3.3.2.8.1.1.11": ("brainpoolP384r1", 384),
          "1.3.36.3.3.2.8.1.1.13": ("brainpoolP512r1", 512)}
_RSA, _RSA_PSS, _EC, _DSA = "1.2.840.113549.1.1.1", "1.2.840.113549.1.1.10", "1.2.840.10045.2.1", "1.2.840.10040.4.1"
_ED = {"1.3.101.112": ("Ed25519", 256), "1.3.101.113": ("Ed448", 456)}
_SAN, _BASIC_CONSTRAINTS = "2.5.29.17", "2.5.29.19"


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, value start, value end) of the element at `pos`; ValueError unless it fits before `end`."""
    if pos + 2 > end:
        raise ValueError("truncated DER element")
    tag, n = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("high-numbered DER tags do not occur in X.509")
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if not 1 <= k <= 4 or pos + k > end:
            raise ValueError("bad DER length")
        n, pos = int.from_bytes(data[pos:pos + k], "big"), pos + k
    if pos + n > end:
        raise ValueError("DER element longer than its container")
    return tag, pos, pos + n


def _items(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    while start < end:
        tag, s, e = _tlv(data, start, end)
        out.append((tag, s, e))
        start = e
    return out


def _expect(item: tuple[int, int, int], tag: int) -> tuple[int, int, int]:
    if item[0] != tag:
        raise ValueError(f"expected DER tag {tag:#x}, found {item[0]:#x}")
    return item


@functools.lru_cache(maxsize=256)  # a few dozen OIDs recur in every certificate; a bounded memo of a pure function
def _oid(raw: bytes) -> str:
    parts, value = [], 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    if not parts:
        raise ValueError("empty OID")
    first = min(parts[0] // 40, 2)
    return ".".join(map(str, [first, parts[0] - 40 * first, *parts[1:]]))


def _time(tag: int, raw: bytes) -> float:
    text = raw.decode("ascii").rstrip("Z")
    if tag == _UTCTIME:  # RFC 5280: YY >= 50 is 19YY
        text = ("19" if int(text[:2]) >= 50 else "20") + text
    elif tag != _GENTIME:
        raise ValueError("validity is neither UTCTime nor GeneralizedTime")
    text = text.split(".")[0]
    year, month, day = int(text[0:4]), int(text[4:6]), int(text[6:8])
    dt.date(year, month, day)  # ValueError for an impossible date, as datetime() raised
    hour, minute, second = int(text[8:10]), int(text[10:12]), int(text[12:14] or 0)
    if not (hour < 24 and minute < 60 and second < 60):
        raise ValueError("time out of range")
    return float(_days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second)


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm): timegm without the tuple."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@dataclasses.dataclass(frozen=True)
class Name:
    """A distinguished name as RDNs in DER order; each attribute (dotted OID, value: str or raw bytes)."""

    rdns: tuple[tuple[tuple[str, str | bytes], ...], ...]

    def rfc4514_string(self) -> str:
        """Most specific first, UTF-8 kept as is: the same string cryptography's Name.rfc4514_string() gives."""
        return ",".join("+".join(f"{_SHORT.get(oid, oid)}={_escape(value)}" for oid, value in rdn)
                        for rdn in reversed(self.rdns))

    def common_name(self) -> str:
        return next((str(v) for rdn in self.rdns for oid, v in rdn if oid == _CN), "")


def _escape(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return "#" + value.hex()
    if not value:
        return ""
    for ch in '\\"+,;<>':
        value = value.replace(ch, "\\" + ch)
    value = value.replace("\0", "\\00")
    if value[0] in "# ":
        value = "\\" + value
    return value[:-1] + "\\ " if value[-1] == " " else value


def _name(data: bytes, start: int, end: int) -> Name:
    rdns = []
    for rdn in _items(data, start, end):
        attrs = []
        for _, s, e in _items(data, *_expect(rdn, _SET)[1:]):
            oid_item, value_item = _items(data, s, e)[:2]
            oid = _oid(data[oid_item[1]:oid_item[2]])
            raw = data[value_item[1]:value_item[2]]
            codec = _STRINGS.get(value_item[0])
            attrs.append((oid, raw.decode(codec, "replace") if codec else raw))
        rdns.append(tuple(attrs))
    return Name(tuple(rdns))


@dataclasses.dataclass(frozen=True)
class Cert:
    """The facts of one certificate; `der` is kept for the fingerprint and to pass the certificate on."""

    der: bytes
    serial_number: int
    signature_oid: str
    issuer: Name
    subject: Name
    not_before: float  # Unix seconds
    not_after: float
    key_type: str
    key_bits: int | None
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    san_present: bool = False
    san_malformed: bool = False
    ca: bool = False

    @property
    def not_valid_before_utc(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.not_before, dt.UTC)

    @property
    def not_valid_after_utc(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.not_after, dt.UTC)

    @property
    def signature_algorithm(self) -> str:
        return SIGNATURES.get(self.signature_oid, self.signature_oid)

    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()


def _key(data: bytes, start: int, end: int) -> tuple[str, int | None]:
    alg, bits = _items(data, start, end)[:2]
    alg_items = _items(data, *_expect(alg, _SEQ)[1:])
    oid = _oid(data[alg_items[0][1]:alg_items[0][2]])
    params = alg_items[1] if len(alg_items) > 1 else None
    key = data[bits[1] + 1:bits[2]]  # BIT STRING: skip the unused-bits byte
    if oid in (_RSA, _RSA_PSS):
        modulus = _expect(_items(key, *_expect(_tlv(key, 0, len(key)), _SEQ)[1:])[0], _INT)
        return "RSA", int.from_bytes(key[modulus[1]:modulus[2]], "big").bit_length()
    if oid == _EC and params is not None and params[0] == _OID:
        curve = _oid(data[params[1]:params[2]])
        name, size = CURVES.get(curve, (curve, None))
        return f"EC {name}", size
    if oid == _DSA and params is not None and params[0] == _SEQ:
        p = _expect(_items(data, params[1], params[2])[0], _INT)
        return "DSA", int.from_bytes(data[p[1]:p[2]], "big").bit_length()
    return _ED.get(oid, ("unknown", None))


def _extensions(data: bytes, start: int, end: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _, s, e in _items(data, *_expect(_tlv(data, start, end), _SEQ)[1:]):
        parts = _items(data, s, e)
        oid = _oid(data[parts[0][1]:parts[0][2]])
        value = _expect(parts[-1], _OCTETS)
        out[oid] = data[value[1]:value[2]]
    return out


def _sans(raw: bytes) -> tuple[list[str], list[str], list[str]]:
    dns: list[str] = []
    ips: list[str] = []
    emails: list[str] = []
    for tag, s, e in _items(raw, *_expect(_tlv(raw, 0, len(raw)), _SEQ)[1:]):
        if tag == 0x82:
            dns.append(raw[s:e].decode("ascii"))
        elif tag == 0x87:
            ips.append(str(ipaddress.ip_address(raw[s:e])))
        elif tag == 0x81:
            emails.append(raw[s:e].decode("ascii"))
    return dns, ips, emails


def _is_ca(raw: bytes) -> bool:
    items = _items(raw, *_expect(_tlv(raw, 0, len(raw)), _SEQ)[1:])
    return bool(items and items[0][0] == _BOOL and raw[items[0][1]:items[0][2]] != b"\x00")


def load_der(der: bytes) -> Cert:
    """Parse one DER certificate; ValueError (with what was wrong) for anything that is not one."""
    der = bytes(der)
    try:
        cert = _items(der, *_expect(_tlv(der, 0, len(der)), _SEQ)[1:])
        tbs = _items(der, *_expect(cert[0], _SEQ)[1:])
        if tbs[0][0] == 0xA0:  # explicit version
            tbs = tbs[1:]
        serial = _expect(tbs[0], _INT)
        sig = _items(der, *_expect(cert[1], _SEQ)[1:])[0]
        validity = _items(der, *_expect(tbs[3], _SEQ)[1:])
        key_type, key_bits = _key(der, *_expect(tbs[5], _SEQ)[1:])
        exts = next((_extensions(der, s, e) for tag, s, e in tbs[6:] if tag == 0xA3), {})
        fields: dict[str, Any] = {}
        if _SAN in exts:
            try:
                dns, ips, emails = _sans(exts[_SAN])
                fields.update(dns_names=tuple(dns), ip_addresses=tuple(ips), emails=tuple(emails), san_present=True)
            except (ValueError, IndexError):  # a malformed SAN: the other facts are still useful
                fields.update(san_present=True, san_malformed=True)
        if _BASIC_CONSTRAINTS in exts:
            try:
                fields["ca"] = _is_ca(exts[_BASIC_CONSTRAINTS])
            except (ValueError, IndexError):
                fields["ca"] = False
        return Cert(
            der=der, serial_number=int.from_bytes(der[serial[1]:serial[2]], "big", signed=True),
            signature_oid=_oid(der[sig[1]:sig[2]]), issuer=_name(der, *_expect(tbs[2], _SEQ)[1:]),
            subject=_name(der, *_expect(tbs[4], _SEQ)[1:]),
            not_before=_time(validity[0][0], der[validity[0][1]:validity[0][2]]),
            not_after=_time(validity[1][0], der[validity[1][1]:validity[1][2]]),
            key_type=key_type, key_bits=key_bits, **fields)
    except IndexError:
        raise ValueError("truncated certificate structure") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"undecodable text in certificate: {exc.reason}") from None


def validity(der: bytes) -> tuple[float, float]:
    """(not_before, not_after) of a DER certificate, walking only to its validity.

    For the `http` kind, which reports the leaf's expiry on every https probe and needs nothing
    else: a fraction of `load_der`, and of `getpeercert()`'s dict plus strptime.
    """
    try:
        _, start, end = _expect(_tlv(der, 0, len(der)), _SEQ)
        _, pos, end = _expect(_tlv(der, start, end), _SEQ)  # tbsCertificate
        tag, _, after = _tlv(der, pos, end)
        if tag == 0xA0:  # explicit version
            pos = after
        for _ in range(3):  # serial, signature algorithm, issuer
            pos = _tlv(der, pos, end)[2]
        _, pos, end = _expect(_tlv(der, pos, end), _SEQ)
        before = _tlv(der, pos, end)
        after_ = _tlv(der, before[2], end)
        return _time(before[0], der[before[1]:before[2]]), _time(after_[0], der[after_[1]:after_[2]])
    except (IndexError, UnicodeDecodeError):
        raise ValueError("truncated certificate structure") from None


def load_any(cert: Any) -> Cert:
    """A Cert from a Cert, DER bytes, an `_ssl.Certificate` or a cryptography `x509.Certificate`."""
    if isinstance(cert, Cert):
        return cert
    if isinstance(cert, (bytes, bytearray, memoryview)):
        return load_der(bytes(cert))
    public_bytes = getattr(cert, "public_bytes", None)
    if public_bytes is None:
        raise TypeError(f"not a certificate: {type(cert).__name__}")
    if type(cert).__module__ == "_ssl":
        import _ssl

        return load_der(public_bytes(_ssl.ENCODING_DER))
    from cryptography.hazmat.primitives.serialization import Encoding  # the caller already loaded cryptography

    return load_der(public_bytes(Encoding.DER))

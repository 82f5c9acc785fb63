"""SNMPv3 User-based Security Model for our client: keys, HMAC, privacy, engine discovery state.

RFC 3414 (USM, MD5/SHA-1, DES), RFC 3826 (AES-128), RFC 7860 (HMAC-SHA-2), and the two key
extension drafts for longer privacy keys: Blumenthal (draft-blumenthal-aes-usm-04, what Net-SNMP
calls AES-192/AES-256) and Reeder (draft-reeder-snmpv3-usm-3desede-00: 3DES, and Cisco's AES
variants, our `AES192C`/`AES256C`).

Why here and not pysnmp: see `_snmpber`. Only hashlib/hmac are needed for authentication;
`cryptography` is imported only when a message is encrypted or decrypted (authPriv).

Key localization hashes a megabyte per password, so localized keys are cached per (password,
engine ID, protocol) for the life of the process; so are the agents' engine IDs and boots/time
per (host, port, user), which saves each probe a discovery round trip. The client forgets an
engine on an unknownEngineID or notInTimeWindow report. Secrets live only in these caches and in
the keys passed in; nothing here formats a secret into an error message.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import hmac
import secrets
import time
from typing import Any, NamedTuple

from dxagent.checks.snmp import ber as ber

__all__ = ["AUTH", "PRIV", "Engine", "Usm", "Reply", "password_key", "localize", "priv_key", "encrypt", "decrypt",
           "report_reason", "cached_engine", "remember_engine", "forget_engine"]

# protocol → (hashlib name, digest bytes sent); RFC 3414 truncates to 12, RFC 7860 to half the hash or so.
AUTH: dict[str, tuple[str, int]] = {
    "MD5": ("md5", 12), "SHA": ("sha1", 12), "SHA224": ("sha224", 16),
    "SHA256": ("sha256", 24), "SHA384": ("sha384", 32), "SHA512": ("sha512", 48),
}
# protocol → (cipher, localized key bytes needed, key extension when the hash is too short)
PRIV: dict[str, tuple[str, int, str]] = {
    "DES": ("des", 16, ""), "3DES": ("3des", 32, "reeder"), "AES": ("aes", 16, ""),
    "AES192": ("aes", 24, "blumenthal"), "AES256": ("aes", 32, "blumenthal"),
    "AES192C": ("aes", 24, "reeder"), "AES256C": ("aes", 32, "reeder"),
}
MAX_SIZE = 65507            # msgMaxSize we announce: the largest UDP payload over IPv4
_USM = (1, 3, 6, 1, 6, 3, 15, 1, 1)
# Report OIDs (without the trailing .0) → (SnmpError kind, or "time"/"engine" for resync; detail)
_REPORTS: dict[tuple[int, ...], tuple[str, str]] = {
    (*_USM, 1): ("auth", "security level not supported for this user"),
    (*_USM, 2): ("time", "not in time window (engine boots/time out of sync)"),
    (*_USM, 3): ("auth", "unknown user name"),
    (*_USM, 4): ("engine", "unknown engine ID"),
    (*_USM, 5): ("auth", "wrong authentication key or protocol (digest mismatch)"),
    (*_USM, 6): ("auth", "wrong privacy key or protocol (decryption error)"),
    (1, 3, 6, 1, 6, 3, 11, 2, 1, 1): ("protocol", "agent does not support the user-based security model"),
    (1, 3, 6, 1, 6, 3, 11, 2, 1, 2): ("protocol", "agent found the message invalid"),
    (1, 3, 6, 1, 6, 3, 11, 2, 1, 3): ("protocol", "agent has no handler for the request"),
    (1, 3, 6, 1, 6, 3, 12, 1, 4): ("permission", "context unavailable"),
    (1, 3, 6, 1, 6, 3, 12, 1, 5): ("permission", "unknown context"),
}


# ---------------------------------------------------------------- keys

@functools.lru_cache(maxsize=64)
def password_key(password: bytes, hash_name: str) -> bytes:
    """Ku: the hash of the password repeated to 1 MiB (RFC 3414 A.2), computed once per process."""
    if not password:
        raise ValueError("empty SNMPv3 passphrase")
    block = password * (1048576 // len(password) + 1)
    return hashlib.new(hash_name, block[:1048576]).digest()


def localize(ku: bytes, engine_id: bytes, hash_name: str) -> bytes:
    """Kul = H(Ku || engineID || Ku) (RFC 3414 A.2)."""
    return hashlib.new(hash_name, ku + engine_id + ku).digest()


@functools.lru_cache(maxsize=256)
def auth_key(password: bytes, engine_id: bytes, protocol: str) -> bytes:
    name = AUTH[protocol][0]
    return localize(password_key(password, name), engine_id, name)


@functools.lru_cache(maxsize=256)
def priv_key(password: bytes, engine_id: bytes, auth_protocol: str, priv_protocol: str) -> bytes:
    """The privacy key localized with the auth protocol's hash, extended to the cipher's size."""
    name = AUTH[auth_protocol][0]
    _, size, extension = PRIV[priv_protocol]
    key = localize(password_key(password, name), engine_id, name)
    while len(key) < size:
        if extension == "blumenthal":       # Kul || H(Kul) || H(Kul || H(Kul)) …
            key += hashlib.new(name, key).digest()
        elif extension == "reeder":         # Kul || localize(Ku(Kul)) …
            key += localize(password_key(key, name), engine_id, name)
        else:
            raise ValueError(f"{priv_protocol} needs a longer key than {auth_protocol} gives")
    return key[:size]


def sign(protocol: str, key: bytes, message: bytes) -> bytes:
    name, size = AUTH[protocol]
    return hmac.digest(key, message, name)[:size]


# ---------------------------------------------------------------- privacy

_salt = secrets.randbits(64)


def _next_salt() -> int:
    global _salt
    _salt = (_salt + 1) & 0xFFFFFFFFFFFFFFFF
    return _salt


def _cipher(kind: str, key: bytes, iv: bytes) -> Any:
    """A cryptography Cipher; 3DES and CFB live under "decrepit" in newer releases, so look there first."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if kind == "aes":
        try:
            from cryptography.hazmat.decrepit.ciphers.modes import CFB
        except ImportError:  # cryptography < 47
            CFB = modes.CFB
        return Cipher(algorithms.AES(key), CFB(iv))
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:  # cryptography < 43
        TripleDES = algorithms.TripleDES  # type: ignore[attr-defined,misc]
    # single DES is 3DES with the same key three times (EDE collapses to one encryption)
    return Cipher(TripleDES(key * 3 if kind == "des" else key), modes.CBC(iv))


def encrypt(protocol: str, key: bytes, boots: int, engine_time: int, data: bytes) -> tuple[bytes, bytes]:
    """ScopedPDU bytes → (ciphertext, msgPrivacyParameters)."""
    kind = PRIV[protocol][0]
    if kind == "aes":
        salt = _next_salt().to_bytes(8, "big")
        iv = boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + salt
        enc = _cipher(kind, key, iv).encryptor()
        return enc.update(data) + enc.finalize(), salt
    size = 8 if kind == "des" else 24
    salt = boots.to_bytes(4, "big") + (_next_salt() & 0xFFFFFFFF).to_bytes(4, "big")
    iv = bytes(a ^ b for a, b in zip(key[size:size + 8], salt, strict=True))
    enc = _cipher(kind, key[:size], iv).encryptor()
    return enc.update(data + bytes(-len(data) % 8)) + enc.finalize(), salt


def decrypt(protocol: str, key: bytes, boots: int, engine_time: int, salt: bytes, data: bytes) -> bytes:
    """Ciphertext → plaintext ScopedPDU (plus DES padding); ValueError on impossible parameters."""
    kind = PRIV[protocol][0]
    if len(salt) != 8:
        raise ValueError("privacy parameters are not 8 bytes")
    if kind == "aes":
        iv = boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + salt
        dec = _cipher(kind, key, iv).decryptor()
    else:
        if len(data) % 8:
            raise ValueError("ciphertext is not a whole number of blocks")
        size = 8 if kind == "des" else 24
        iv = bytes(a ^ b for a, b in zip(key[size:size + 8], salt, strict=True))
        dec = _cipher(kind, key[:size], iv).decryptor()
    return dec.update(data) + dec.finalize()


# ---------------------------------------------------------------- engines (discovery results)

@dataclasses.dataclass
class Engine:
    """An agent's snmpEngineID and its boots/time as last seen (at our monotonic clock `at`)."""

    engine_id: bytes
    boots: int
    time: int
    at: float

    def estimate(self) -> tuple[int, int]:
        """Boots and time now, as RFC 3414 §2.3 has the non-authoritative side keep them."""
        return self.boots, min(self.time + int(time.monotonic() - self.at), 0x7FFFFFFF)

    def update(self, boots: int, engine_time: int) -> None:
        """Move forward on an authenticated message (never backward: replays must not pull us back)."""
        if (boots, engine_time) > self.estimate():
            self.boots, self.time, self.at = boots, engine_time, time.monotonic()


_ENGINES: collections.OrderedDict[tuple[str, int, str], Engine] = collections.OrderedDict()
_MAX_ENGINES = 4096


def cached_engine(key: tuple[str, int, str]) -> Engine | None:
    return _ENGINES.get(key)


def remember_engine(key: tuple[str, int, str], engine: Engine) -> None:
    _ENGINES[key] = engine
    _ENGINES.move_to_end(key)
    while len(_ENGINES) > _MAX_ENGINES:
        _ENGINES.popitem(last=False)


def forget_engine(key: tuple[str, int, str]) -> None:
    _ENGINES.pop(key, None)


def report_reason(pdu: ber.Pdu) -> tuple[str, str]:
    """A REPORT PDU → (kind, English detail): which of user, keys, level, time or engine failed."""
    for oid, _, _ in pdu.varbinds[:1]:
        for prefix, reason in _REPORTS.items():
            if oid[:len(prefix)] == prefix:
                return reason
        return "protocol", f"agent reported {'.'.join(map(str, oid))}"
    return "protocol", "agent sent an empty report"


# ---------------------------------------------------------------- messages

class Reply(NamedTuple):
    pdu: ber.Pdu
    usm: ber.UsmParams
    authenticated: bool


class Usm:
    """One user's view of USM: builds requests and checks replies for one session.

    Holds the passphrases as given (they stay inside this object, whose repr says nothing).
    """

    def __init__(self, user: str, level: str, auth_protocol: str, auth_password: str, priv_protocol: str,
                 priv_password: str, context: str = "") -> None:
        self.user, self.context = user.encode(), context.encode()
        self.auth = level in ("authNoPriv", "authPriv")
        self.priv = level == "authPriv"
        self.auth_protocol, self.priv_protocol = auth_protocol, priv_protocol
        self._auth_pw, self._priv_pw = auth_password.encode(), priv_password.encode()
        self.flags = 0x04 | (0x01 if self.auth else 0) | (0x02 if self.priv else 0)

    def __repr__(self) -> str:
        return f"Usm(user={self.user!r}, auth={self.auth}, priv={self.priv})"

    def _keys(self, engine_id: bytes) -> tuple[bytes, bytes]:
        akey = auth_key(self._auth_pw, engine_id, self.auth_protocol) if self.auth else b""
        pkey = priv_key(self._priv_pw, engine_id, self.auth_protocol, self.priv_protocol) if self.priv else b""
        return akey, pkey

    @staticmethod
    def discovery(msg_id: int, pdu: bytes) -> bytes:
        """An unauthenticated request with an empty engine ID: the agent answers with a report
        carrying its engine ID, boots and time (RFC 3414 §4)."""
        header = ber.encode_v3_header(msg_id, MAX_SIZE, 0x04)
        sec, _ = ber.encode_usm(b"", 0, 0, b"", 0, b"")
        return ber.tlv(ber.SEQUENCE, header + sec + ber.encode_scoped_pdu(b"", b"", pdu))

    def wrap(self, msg_id: int, engine: Engine, pdu: bytes) -> bytes:
        """A request PDU → the whole datagram, encrypted and signed as the level asks."""
        akey, pkey = self._keys(engine.engine_id)
        boots, etime = engine.estimate()
        data = ber.encode_scoped_pdu(engine.engine_id, self.context, pdu)
        salt = b""
        if self.priv:
            cipher, salt = encrypt(self.priv_protocol, pkey, boots, etime, data)
            data = ber.tlv(ber.OCTET_STRING, cipher)
        digest_len = AUTH[self.auth_protocol][1] if self.auth else 0
        header = ber.encode_v3_header(msg_id, MAX_SIZE, self.flags)
        sec, offset = ber.encode_usm(engine.engine_id, boots, etime, self.user, digest_len, salt)
        body = header + sec + data
        message = ber.tlv(ber.SEQUENCE, body)
        if not self.auth:
            return message
        pos = len(message) - len(body) + len(header) + offset
        return message[:pos] + sign(self.auth_protocol, akey, message) + message[pos + digest_len:]

    def unwrap(self, data: bytes, msg_ids: set[int], request_id: int) -> Reply:
        """A datagram → Reply, or `Mismatch`/`BerError` for anything that is not an answer to us:
        other msgIDs, bad digests, another user or engine, unauthenticated non-reports."""
        m = ber.decode_v3(data)
        if m.msg_id not in msg_ids:
            raise ber.Mismatch("msgID")
        if m.security_model != 3:
            raise ber.BerError("not a USM message")
        authenticated = bool(m.flags & 0x01)
        if authenticated:
            if not self.auth or m.usm.user != self.user:
                raise ber.Mismatch("user")
            akey, pkey = self._keys(m.usm.engine_id)
            start, end = m.auth_span
            zeroed = data[:start] + bytes(end - start) + data[end:]
            if not hmac.compare_digest(sign(self.auth_protocol, akey, zeroed), m.usm.auth):
                raise ber.Mismatch("digest")
        elif m.flags & 0x02:
            raise ber.BerError("privacy without authentication")
        if m.plaintext:
            scoped = m.data
        elif m.flags & 0x02 and self.priv:
            try:
                scoped = decrypt(self.priv_protocol, pkey, m.usm.boots, m.usm.time, m.usm.priv, m.data)
            except ValueError as exc:
                raise ber.BerError("undecryptable scoped PDU") from exc
        else:
            raise ber.BerError("encrypted data without privacy flag")
        _, _, pdu = ber.decode_scoped_pdu(scoped, request_id)
        if not authenticated and self.auth and pdu.tag != ber.REPORT:
            raise ber.Mismatch("unauthenticated response")   # a level below ours: not the agent
        return Reply(pdu, m.usm, authenticated)

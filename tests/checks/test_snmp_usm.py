"""SNMPv3 USM (`checks/snmp/usm.py`) against RFC 3414's vectors and pysnmp's independent crypto.

Why: our keys, digests and ciphers must be byte-for-byte what other implementations compute, and
a real agent only tells us "works" or "timeout". pysnmp (the test extra) serves as the oracle for
key localization and extension, HMAC, every privacy protocol, and whole authPriv messages both ways.
"""

from __future__ import annotations

import time

import pytest

from dxagent.checks.snmp import ber as ber
from dxagent.checks.snmp import usm as usm

pytest.importorskip("pysnmp", reason="pysnmp is the test oracle (the test extra)")
from pyasn1.codec.ber import decoder, encoder
from pyasn1.type import univ
from pysnmp.entity import config as _pysnmp_config  # noqa: F401  (imports pysnmp's modules in an order without cycles)
from pysnmp.proto.mpmod.rfc3412 import ScopedPDU, SNMPv3Message
from pysnmp.proto.secmod.eso.priv import aes192, aes256, des3
from pysnmp.proto.secmod.rfc3414.auth import hmacmd5, hmacsha
from pysnmp.proto.secmod.rfc3414.priv import des
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters
from pysnmp.proto.secmod.rfc3826.priv import aes
from pysnmp.proto.secmod.rfc7860.auth import hmacsha2

THEIR_AUTH = {"MD5": hmacmd5.HmacMd5(), "SHA": hmacsha.HmacSha(),
              "SHA224": hmacsha2.HmacSha2(hmacsha2.HmacSha2.SHA224_SERVICE_ID),
              "SHA256": hmacsha2.HmacSha2(hmacsha2.HmacSha2.SHA256_SERVICE_ID),
              "SHA384": hmacsha2.HmacSha2(hmacsha2.HmacSha2.SAH384_SERVICE_ID),
              "SHA512": hmacsha2.HmacSha2(hmacsha2.HmacSha2.SHA512_SERVICE_ID)}
AUTH_OID = {"MD5": hmacmd5.HmacMd5.SERVICE_ID, "SHA": hmacsha.HmacSha.SERVICE_ID,
            "SHA224": hmacsha2.HmacSha2.SHA224_SERVICE_ID, "SHA256": hmacsha2.HmacSha2.SHA256_SERVICE_ID,
            "SHA384": hmacsha2.HmacSha2.SAH384_SERVICE_ID, "SHA512": hmacsha2.HmacSha2.SHA512_SERVICE_ID}
THEIR_PRIV = {"DES": des.Des(), "3DES": des3.Des3(), "AES": aes.Aes(), "AES192": aes192.AesBlumenthal192(),
              "AES256": aes256.AesBlumenthal256(), "AES192C": aes192.Aes192(), "AES256C": aes256.Aes256()}
ENGINE = bytes.fromhex("80001f8880a1b2c3d4e5f60718")
PAIRS = [(a, p) for a in usm.AUTH for p in usm.PRIV]


def test_rfc3414_appendix_a3_vectors() -> None:
    engine = bytes(11) + b"\x02"
    ku = usm.password_key(b"maplesyrup", "md5")
    assert ku.hex() == "9faf3283884e92834ebc9847d8edd963"
    assert usm.localize(ku, engine, "md5").hex() == "526f5eed9fcce26f8964c2930787d82b"
    ku = usm.password_key(b"maplesyrup", "sha1")
    assert ku.hex() == "9fb5cc0381497b3793528939ff788d5d79145211"
    assert usm.localize(ku, engine, "sha1").hex() == "6695febc9288e36282235fc7151f128497b38f3f"


@pytest.mark.parametrize("auth", list(usm.AUTH))
def test_auth_keys_and_digests_match_pysnmp(auth: str) -> None:
    theirs = THEIR_AUTH[auth]
    key = usm.auth_key(b"auth-pass-phrase", ENGINE, auth)
    assert key == bytes(theirs.localize_key(theirs.hash_passphrase(b"auth-pass-phrase"), univ.OctetString(ENGINE)))
    message = b"\x30\x10" + bytes(usm.AUTH[auth][1]) + b"some message body"
    signed = theirs.authenticate_outgoing_message(univ.OctetString(key), message)
    digest = usm.sign(auth, key, message)
    assert signed == message.replace(bytes(len(digest)), digest, 1)
    theirs.authenticate_incoming_message(univ.OctetString(key), univ.OctetString(digest), signed)  # raises if wrong


@pytest.mark.parametrize("auth, priv", PAIRS)
def test_priv_keys_match_pysnmp_including_key_extension(auth: str, priv: str) -> None:
    theirs = THEIR_PRIV[priv]
    ku = theirs.hash_passphrase(AUTH_OID[auth], b"priv-pass-phrase")
    expected = bytes(theirs.localize_key(AUTH_OID[auth], ku, univ.OctetString(ENGINE)))
    if priv == "DES":   # pysnmp keeps the whole localized key; DES uses its first 16 bytes
        expected = expected[:16]
    assert usm.priv_key(b"priv-pass-phrase", ENGINE, auth, priv) == expected


@pytest.mark.parametrize("priv", list(usm.PRIV))
def test_ciphers_interoperate_with_pysnmp(priv: str) -> None:
    theirs = THEIR_PRIV[priv]
    key = usm.priv_key(b"priv-pass-phrase", ENGINE, "SHA512", priv)
    for size in (0, 1, 7, 8, 9, 100, 1500):
        data = bytes(range(256)) * 6
        data = data[:size]
        cipher, salt = usm.encrypt(priv, key, 17, 123456, data)
        plain = theirs.decrypt_data(univ.OctetString(key), (17, 123456, univ.OctetString(salt)), univ.OctetString(cipher))
        assert bytes(plain)[:size] == data and len(salt) == 8
        their_cipher, their_salt = theirs.encrypt_data(univ.OctetString(key), (17, 123456, None), data)
        assert usm.decrypt(priv, key, 17, 123456, bytes(their_salt), bytes(their_cipher))[:size] == data
    with pytest.raises(ValueError):
        usm.decrypt(priv, key, 17, 123456, b"short", b"x" * 16)


def _request_pdu(rid: int = 4711) -> bytes:
    return ber.encode_pdu(ber.GET, rid, 0, 0, [((1, 3, 6, 1, 2, 1, 1, 5, 0), ber.NULL, None)])


@pytest.mark.parametrize("auth, priv", [("MD5", "DES"), ("SHA", "AES"), ("SHA256", "AES192"), ("SHA512", "AES256C"),
                                        ("SHA224", "3DES"), ("SHA384", "AES192C")])
def test_our_authpriv_message_opens_with_pysnmp(auth: str, priv: str) -> None:
    sec = usm.Usm("dxtest", "authPriv", auth, "auth-pass-phrase", priv, "priv-pass-phrase", context="ctx")
    engine = usm.Engine(ENGINE, 5, 1000, time.monotonic())
    wire = sec.wrap(2024, engine, _request_pdu())
    msg, rest = decoder.decode(wire, asn1Spec=SNMPv3Message())
    assert rest == b"" and int(msg["msgGlobalData"]["msgID"]) == 2024
    assert bytes(msg["msgGlobalData"]["msgFlags"]) == b"\x07"
    params, _ = decoder.decode(bytes(msg["msgSecurityParameters"]), asn1Spec=UsmSecurityParameters())
    assert bytes(params["msgUserName"]) == b"dxtest" and bytes(params["msgAuthoritativeEngineId"]) == ENGINE
    boots, etime = int(params["msgAuthoritativeEngineBoots"]), int(params["msgAuthoritativeEngineTime"])
    assert boots == 5 and 1000 <= etime <= 1001
    akey = usm.auth_key(b"auth-pass-phrase", ENGINE, auth)
    THEIR_AUTH[auth].authenticate_incoming_message(univ.OctetString(akey), params["msgAuthenticationParameters"], wire)
    pkey = usm.priv_key(b"priv-pass-phrase", ENGINE, auth, priv)
    plain = THEIR_PRIV[priv].decrypt_data(univ.OctetString(pkey), (boots, etime, params["msgPrivacyParameters"]),
                                          msg["msgData"]["encryptedPDU"])
    scoped, _ = decoder.decode(bytes(plain), asn1Spec=ScopedPDU())
    assert bytes(scoped["contextEngineId"]) == ENGINE and bytes(scoped["contextName"]) == b"ctx"
    assert int(scoped["data"]["get-request"]["request-id"]) == 4711


def _their_response(auth: str, priv: str, msg_id: int, rid: int, user: bytes = b"dxtest",
                    flags: int = 0x03) -> bytes:
    """A GetResponse built with pyasn1 and sealed with pysnmp's own crypto, as an agent would send it."""
    from pysnmp.proto import api

    v2 = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    pdu = v2.GetResponsePDU()
    v2.apiPDU.set_defaults(pdu)
    v2.apiPDU.set_request_id(pdu, rid)
    v2.apiPDU.set_varbinds(pdu, [((1, 3, 6, 1, 2, 1, 1, 5, 0), v2.OctetString(b"router-1"))])
    scoped = ScopedPDU()
    scoped["contextEngineId"], scoped["contextName"] = ENGINE, b""
    scoped["data"]["response"] = pdu
    pkey = usm.priv_key(b"priv-pass-phrase", ENGINE, auth, priv)
    cipher, salt = THEIR_PRIV[priv].encrypt_data(univ.OctetString(pkey), (9, 5000, None), encoder.encode(scoped))
    params = UsmSecurityParameters()
    params["msgAuthoritativeEngineId"], params["msgAuthoritativeEngineBoots"] = ENGINE, 9
    params["msgAuthoritativeEngineTime"], params["msgUserName"] = 5000, user
    params["msgAuthenticationParameters"] = bytes(usm.AUTH[auth][1]) if flags & 1 else b""
    params["msgPrivacyParameters"] = salt if flags & 2 else b""
    msg = SNMPv3Message()
    msg["msgVersion"] = 3
    header = msg["msgGlobalData"]
    header["msgID"], header["msgMaxSize"], header["msgFlags"], header["msgSecurityModel"] = msg_id, 65507, bytes((flags,)), 3
    msg["msgSecurityParameters"] = encoder.encode(params)
    if flags & 2:
        msg["msgData"]["encryptedPDU"] = cipher
    else:
        msg["msgData"]["plaintext"] = scoped
    wire = encoder.encode(msg)
    if flags & 1:
        akey = usm.auth_key(b"auth-pass-phrase", ENGINE, auth)
        wire = THEIR_AUTH[auth].authenticate_outgoing_message(univ.OctetString(akey), wire)
    return wire


@pytest.mark.parametrize("auth, priv", [("MD5", "DES"), ("SHA", "AES"), ("SHA512", "AES256"), ("SHA256", "3DES"),
                                        ("SHA", "AES192C")])
def test_pysnmp_sealed_response_opens_with_ours(auth: str, priv: str) -> None:
    sec = usm.Usm("dxtest", "authPriv", auth, "auth-pass-phrase", priv, "priv-pass-phrase")
    wire = _their_response(auth, priv, 77, 4711)
    reply = sec.unwrap(wire, {76, 77}, 4711)
    assert reply.authenticated and (reply.usm.boots, reply.usm.time) == (9, 5000)
    assert reply.pdu.varbinds == [((1, 3, 6, 1, 2, 1, 1, 5, 0), ber.OCTET_STRING, b"router-1")]
    with pytest.raises(ber.Mismatch):
        sec.unwrap(wire, {78}, 4711)                                   # another msgID
    with pytest.raises(ber.Mismatch):
        sec.unwrap(wire, {77}, 4712)                                   # another request-id
    flipped = bytearray(wire)
    flipped[-3] ^= 0x01
    with pytest.raises(ber.Mismatch):
        sec.unwrap(bytes(flipped), {77}, 4711)                         # tampered: digest no longer matches
    with pytest.raises(ber.Mismatch):
        sec.unwrap(_their_response(auth, priv, 77, 4711, user=b"other"), {77}, 4711)
    with pytest.raises(ber.Mismatch):                                  # a downgrade is not our agent's answer
        sec.unwrap(_their_response(auth, priv, 77, 4711, flags=0x00), {77}, 4711)
    wrong = usm.Usm("dxtest", "authPriv", auth, "wrong-auth-phrase", priv, "priv-pass-phrase")
    with pytest.raises(ber.Mismatch):
        wrong.unwrap(wire, {77}, 4711)


def test_unauthenticated_reports_are_read_and_classified() -> None:
    report = ber.encode_pdu(ber.REPORT, 0, 0, 0, [((1, 3, 6, 1, 6, 3, 15, 1, 1, 3, 0), ber.COUNTER32, 4)])
    wire = usm.Usm.discovery(55, report).replace(b"\x04\x01\x04", b"\x04\x01\x00", 1)
    sec = usm.Usm("dxtest", "authPriv", "SHA", "auth-pass-phrase", "AES", "priv-pass-phrase")
    reply = sec.unwrap(wire, {55}, 4711)
    assert not reply.authenticated and usm.report_reason(reply.pdu) == ("auth", "unknown user name")
    for last, expected in [(1, "auth"), (2, "time"), (4, "engine"), (5, "auth"), (6, "auth")]:
        pdu = ber.Pdu(ber.REPORT, 0, 0, 0, [((1, 3, 6, 1, 6, 3, 15, 1, 1, last, 0), ber.COUNTER32, 1)])
        assert usm.report_reason(pdu)[0] == expected
    assert usm.report_reason(ber.Pdu(ber.REPORT, 0, 0, 0, []))[0] == "protocol"


def test_caches_and_engine_clock() -> None:
    usm.password_key.cache_clear()
    usm.auth_key(b"cache-me-please", ENGINE, "SHA256")
    usm.auth_key(b"cache-me-please", ENGINE + b"x", "SHA256")   # another engine: Ku is reused
    assert usm.password_key.cache_info().hits >= 1
    engine = usm.Engine(ENGINE, 3, 100, time.monotonic() - 10)
    assert engine.estimate() == (3, 110)
    engine.update(3, 50)                     # older: ignored (a replay must not pull the clock back)
    assert engine.estimate() == (3, 110)
    engine.update(4, 1)
    assert engine.estimate() == (4, 1)
    key = ("127.0.0.1", 161, "u")
    usm.remember_engine(key, engine)
    assert usm.cached_engine(key) is engine
    usm.forget_engine(key)
    assert usm.cached_engine(key) is None


def test_no_secret_in_repr() -> None:
    sec = usm.Usm("dxtest", "authPriv", "SHA", "auth-secret-1", "AES", "priv-secret-2")
    assert "secret" not in repr(sec) and "dxtest" in repr(sec)

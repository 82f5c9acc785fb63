"""The `tls` kind's handshake: Python's ssl over memory BIOs, keeping the presented chain when it does not verify.

One handshake with verification on, hostname check off (`_certinfo.classify` names host
mismatches itself). When the chain verifies, the result is the presented chain, version and
cipher. When it does not, OpenSSL aborts the handshake, but the certificates have been received:
`get_unverified_chain()` still returns what the server presented and `get_verified_chain()` the
part OpenSSL could build, so the facts and dates are reported all the same, and the negotiated
version is read from the ServerHello that was already in hand. This replaced pyOpenSSL (and with
it cryptography's 9 MiB in the daemon, bench/bench_daemon.py).

Difference from a verify callback that records every error: OpenSSL gives only the first error.
Dates are checked here for every certificate of the built chain, so "expired" and "not yet
valid" are still named wherever they occur alongside another problem.
"""

from __future__ import annotations

import _ssl
import contextlib
import dataclasses
import os
import re
import ssl
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path

from dxagent.checks.tls.x509 import Cert, load_der

__all__ = ["Handshake", "context", "handshake", "server_hello", "place_error", "ssl_error_text", "system_trust",
           "trust_stamp"]

# OpenSSL X509_V_ERR_* codes placed on the chain (include/openssl/x509_vfy.h).
_NOT_YET_VALID, _EXPIRED, _SELF_SIGNED_LEAF, _SELF_SIGNED_IN_CHAIN = 9, 10, 18, 19
_AT_CHAIN_END = {2, 19, 20, 21}  # the issuer of the last certificate OpenSSL could place is missing
_VERSIONS = {0x0300: "SSLv3", 0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
_HELLO_BYTES = 16384  # the ServerHello is in the first record(s); keep no more than this of the server's bytes
_CONTEXTS: dict[tuple[str | None, float, tuple[float, float]], ssl.SSLContext] = {}
_HASHED = re.compile(r"^[0-9a-f]{8}\.\d+$")


@dataclasses.dataclass
class Handshake:
    """What one handshake showed: presented chain, OpenSSL verify errors, version and cipher."""

    chain: list[Cert]  # leaf first, as presented
    errors: list[tuple[int, int, Cert | None]]  # (depth, OpenSSL X509_V_ERR code, certificate if known)
    version: str
    cipher: str
    cipher_bits: int | None


def system_trust() -> dict[str, str]:
    """`capath=` for the system trust store when it can be read lazily; {} means load_default_certs().

    load_default_certs() parses the whole bundle (about 140 roots, 0.8 MiB per context) although a
    verification needs one or two of them. Debian's /etc/ssl/certs also holds the roots under their
    subject hashes (update-ca-certificates keeps both), where OpenSSL looks up only the roots a chain
    names, on demand. Without such a folder, or with SSL_CERT_FILE naming another bundle than the
    system's, the bundle is loaded as before.
    """
    paths = ssl.get_default_verify_paths()
    capath = paths.capath
    bundle = os.environ.get(paths.openssl_cafile_env)
    if not capath or (bundle and os.path.realpath(bundle) != os.path.realpath(paths.openssl_cafile)):
        return {}
    try:
        with os.scandir(capath) as entries:
            if any(_HASHED.match(e.name) for e in entries):
                return {"capath": capath}
    except OSError:
        pass
    return {}


def trust_stamp() -> tuple[float, float]:
    """Modification times of the system bundle and hashed folder: a cached context is rebuilt when they change."""
    paths = ssl.get_default_verify_paths()
    return tuple(os.stat(p).st_mtime if p and os.path.exists(p) else 0.0  # type: ignore[return-value]
                 for p in (paths.cafile, paths.capath))


def context(ca_file: Path | None) -> ssl.SSLContext:
    """A verifying client context that still talks to old servers (TLS 1.0, any cipher, legacy renegotiation).

    Cached per ca_file and the mtimes of it and the system store, so every tls check with the same
    trust shares one; the system roots are read lazily where possible (`system_trust`).
    """
    key = (str(ca_file) if ca_file else None, ca_file.stat().st_mtime if ca_file else 0.0, trust_stamp())
    ctx = _CONTEXTS.get(key)
    if ctx is not None:
        return ctx
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    with warnings.catch_warnings():  # deliberately: the point is to see (and warn about) TLS 1.0 servers
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("ALL:!aNULL:!eNULL:@SECLEVEL=0")
    ctx.options |= getattr(ssl, "OP_LEGACY_SERVER_CONNECT", 0x4)  # named in Python 3.12+
    trust = system_trust()
    if trust:
        ctx.load_verify_locations(**trust)
    else:
        ctx.load_default_certs()
    if ca_file is not None:
        ctx.load_verify_locations(str(ca_file))
    if len(_CONTEXTS) >= 16:  # stale entries (an updated ca_file or system store) go first
        _CONTEXTS.pop(next(iter(_CONTEXTS)))
    _CONTEXTS[key] = ctx
    return ctx


def server_hello(data: bytes) -> tuple[str, int] | None:
    """(TLS version, cipher suite number) a ServerHello selects (supported_versions for 1.3), from the server's first bytes."""
    hs = bytearray()
    pos = 0
    while pos + 5 <= len(data):
        if data[pos] != 22:  # not a handshake record (an alert, say): no ServerHello to read
            break
        length = int.from_bytes(data[pos + 3:pos + 5], "big")
        hs += data[pos + 5:pos + 5 + length]
        pos += 5 + length
        if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
            break
    if len(hs) < 4 or hs[0] != 2:
        return None
    body = bytes(hs[4:4 + int.from_bytes(hs[1:4], "big")])
    if len(body) < 38 or len(body) < 38 + body[34]:
        return None
    version = int.from_bytes(body[0:2], "big")
    p = 35 + body[34]  # version, random, session id
    suite = int.from_bytes(body[p:p + 2], "big")
    p += 3  # cipher suite, compression method
    if p + 2 <= len(body):
        end = min(len(body), p + 2 + int.from_bytes(body[p:p + 2], "big"))
        p += 2
        while p + 4 <= end:
            ext, size = int.from_bytes(body[p:p + 2], "big"), int.from_bytes(body[p + 2:p + 4], "big")
            if ext == 43 and size == 2 and p + 6 <= end:  # supported_versions
                version = int.from_bytes(body[p + 4:p + 6], "big")
                break
            p += 4 + size
    return (_VERSIONS[version], suite) if version in _VERSIONS else None


def _cipher(ctx: ssl.SSLContext, suite: int) -> tuple[str, int | None]:
    """OpenSSL's name and strength of a cipher suite number (TLS 1.2 names it only once the handshake ends)."""
    for c in ctx.get_ciphers():
        if c["id"] & 0xFFFF == suite:
            return str(c["name"]), c.get("strength_bits")
    return f"0x{suite:04X}", None


def place_error(code: int, built: list[Cert], presented: list[Cert], now: float) -> list[tuple[int, int, Cert | None]]:
    """OpenSSL's one verify error, placed on the chain, plus the date problems of every certificate of it.

    `built` is the chain OpenSSL assembled before it stopped (presented certificates and trust
    anchors from the store); the first error's depth follows from how far it got.
    """
    path = built or presented[:1]
    errors: list[tuple[int, int, Cert | None]] = []
    for depth, cert in enumerate(path):
        if cert.not_after < now:
            errors.append((depth, _EXPIRED, cert))
        elif cert.not_before > now:
            errors.append((depth, _NOT_YET_VALID, cert))
    if code in (_EXPIRED, _NOT_YET_VALID):
        if not any(c == code for _, c, _ in errors):
            errors.append((0, code, path[0] if len(path) == 1 else None))
    elif code == _SELF_SIGNED_LEAF:
        errors.append((0, code, path[0] if path else None))
    elif code in _AT_CHAIN_END and path:
        errors.append((len(path) - 1, code, path[-1]))
    else:  # a purpose, constraint or signature problem: OpenSSL does not say where
        errors.append((0, code, path[0] if len(path) == 1 else None))
    return errors


def ssl_error_text(exc: BaseException) -> str:
    """OpenSSL's reason without the "[SSL: …]" and "(_ssl.c:…)" decorations."""
    text = str(exc.args[1]) if isinstance(exc, ssl.SSLError) and len(exc.args) > 1 else str(exc)
    text = re.sub(r"\s*\(_ssl\.c:\d+\)$", "", re.sub(r"^\[[^\]]*\]\s*", "", text))
    return text or type(exc).__name__


def _chain(obj: ssl.SSLObject, name: str, parsed: dict[bytes, Cert] | None = None) -> list[Cert]:
    """The chain as Certs; `parsed` (DER → Cert, this handshake's only) spares parsing a certificate twice."""
    method = getattr(obj, name, None) or getattr(obj._sslobj, name)  # type: ignore[attr-defined]  # public in 3.13
    out = []
    for c in method() or []:
        der = c.public_bytes(_ssl.ENCODING_DER)
        cert = parsed.get(der) if parsed is not None else None
        if cert is None:
            cert = load_der(der)
            if parsed is not None:
                parsed[der] = cert
        out.append(cert)
    return out


async def handshake(recv: Callable[[], Awaitable[bytes]], send: Callable[[bytes], Awaitable[None]], sni: str | None,
                    ctx: ssl.SSLContext) -> Handshake:
    """Run a TLS client handshake over `recv`/`send` (socket or streams); ssl.SSLError (not verification) and OSError propagate."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    hello = bytearray()
    failed: ssl.SSLCertVerificationError | None = None

    async def flush() -> None:
        data = outgoing.read()
        if data:
            await send(data)

    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            await flush()
            data = await recv()
            if not data:
                raise ConnectionResetError("server closed the connection during the TLS handshake") from None
            if len(hello) < _HELLO_BYTES:
                hello += data[:_HELLO_BYTES - len(hello)]
            incoming.write(data)
        except ssl.SSLCertVerificationError as exc:
            failed = exc
            break
    parsed: dict[bytes, Cert] = {}
    chain = _chain(obj, "get_unverified_chain", parsed)
    name, _, bits = obj.cipher() or ("", "", None)
    if failed is None:
        version, errors = obj.version() or "", []
        with contextlib.suppress(ssl.SSLError):  # a polite close_notify; the server's answer is not awaited
            obj.unwrap()
    else:
        version, suite = server_hello(bytes(hello)) or ("", 0)
        if not name and suite:
            name, bits = _cipher(ctx, suite)
        errors = place_error(failed.verify_code, _chain(obj, "get_verified_chain", parsed), chain, time.time())
    with contextlib.suppress(OSError):
        await flush()  # our Finished and close_notify, or the alert that says why we stopped
    return Handshake(chain, errors, version, name, bits)

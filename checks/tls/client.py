"""The `tls` kind's handshakes: pyOpenSSL for the presented chain and every verify error, OpenSSL's name check.

Python 3.11's `ssl` gives a client only the leaf, and nothing at all when verification fails;
pyOpenSSL's public `Connection.get_peer_cert_chain` gives the whole presented chain, and a verify
callback that records each error and lets the handshake finish gives every problem with its depth
(docs/decisions/0002-tls-presented-chain.md). The host name is checked by OpenSSL through
`ssl.SSLContext.check_hostname`, in a second, short handshake that trusts only the presented leaf,
so the name verdict does not depend on the chain. Both run over memory BIOs on asyncio sockets or
streams, so STARTTLS and the timeout work the same as for plain TLS.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import ssl
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL

__all__ = ["Handshake", "HandshakeError", "UnreadableCertificate", "context", "openssl_context", "handshake", "check_name", "known_name",
           "remember_name", "ssl_error_text", "system_trust", "trust_stamp"]

_CONTEXTS: dict[tuple[str | None, float, tuple[float, float]], ssl.SSLContext] = {}
_OPENSSL_CONTEXTS: dict[tuple[str | None, float, tuple[float, float]], SSL.Context] = {}
_HASHED = re.compile(r"^[0-9a-f]{8}\.\d+$")
# OpenSSL's name verdicts per (leaf fingerprint, name): a pure function of the two, so a leaf seen again
# (every run of a check, for months) needs no second handshake. Bounded; the oldest go first.
_NAME_VERDICTS: dict[tuple[bytes, str], tuple[int, str] | None] = {}
_NAME_VERDICTS_MAX = 256
_LEGACY_CIPHERS = "ALL:!aNULL:!eNULL:@SECLEVEL=0"
_OP_LEGACY_SERVER_CONNECT = getattr(ssl, "OP_LEGACY_SERVER_CONNECT", 0x4)  # SSL_OP_LEGACY_SERVER_CONNECT, named in 3.12+

_SHA256 = SHA256()
Recv = Callable[[], Awaitable[bytes]]
Send = Callable[[bytes], Awaitable[None]]


class HandshakeError(Exception):
    """The TLS handshake failed (not verification: no common version or cipher, not TLS at all); OpenSSL's reason."""


class UnreadableCertificate(HandshakeError):
    """The handshake completed but a presented certificate cannot be parsed by cryptography."""


@dataclasses.dataclass
class Handshake:
    """What one handshake showed: presented chain, OpenSSL verify errors, version and cipher."""

    chain: list[x509.Certificate]  # leaf first, as presented
    errors: list[tuple[int, int, x509.Certificate | None]]  # (depth, OpenSSL X509_V_ERR code, certificate)
    version: str
    cipher: str
    cipher_bits: int | None


def system_trust() -> dict[str, str]:
    """`capath=` for the system trust store when it can be read lazily; {} means load the default bundle.

    Loading the bundle parses about 140 roots (0.8 MiB per context) although a verification needs
    one or two. Debian's /etc/ssl/certs also holds the roots under their subject hashes
    (update-ca-certificates keeps both), where OpenSSL looks up only the roots a chain names, on
    demand. Without such a folder, or with SSL_CERT_FILE naming another bundle, the bundle is loaded.
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


def _legacy(ctx: ssl.SSLContext) -> ssl.SSLContext:
    """Let a verifying client still talk to old servers (TLS 1.0, any cipher, legacy renegotiation)."""
    with warnings.catch_warnings():  # deliberately: the point is to see (and warn about) TLS 1.0 servers
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers(_LEGACY_CIPHERS)
    ctx.options |= _OP_LEGACY_SERVER_CONNECT
    return ctx


def _key(ca_file: Path | None) -> tuple[str | None, float, tuple[float, float]]:
    return (str(ca_file) if ca_file else None, ca_file.stat().st_mtime if ca_file else 0.0, trust_stamp())


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    if len(cache) >= 16:  # stale entries (an updated ca_file or system store) go first
        cache.pop(next(iter(cache)))
    cache[key] = value
    return value


def context(ca_file: Path | None) -> ssl.SSLContext:
    """A verifying `ssl` client context (system store plus `ca_file`) that still talks to old servers.

    Cached per ca_file and the mtimes of it and the system store, so every check with the same
    trust shares one; the system roots are read lazily where possible (`system_trust`).
    """
    key = _key(ca_file)
    ctx = _CONTEXTS.get(key)
    if ctx is not None:
        return ctx
    ctx = _legacy(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    trust = system_trust()
    if trust:
        ctx.load_verify_locations(**trust)
    else:
        ctx.load_default_certs()
    if ca_file is not None:
        ctx.load_verify_locations(str(ca_file))
    return _remember(_CONTEXTS, key, ctx)


def _record(conn: SSL.Connection, cert: Any, code: int, depth: int, ok: int) -> bool:
    """pyOpenSSL verify callback: note every error with its certificate, and let the handshake go on."""
    if not ok:
        try:
            parsed = cert.to_cryptography()
        except ValueError:  # OpenSSL took it, cryptography's stricter parser does not: the error still counts
            parsed = None
        conn.get_app_data().append((depth, code, parsed))
    return True


def openssl_context(ca_file: Path | None) -> SSL.Context:
    """The pyOpenSSL client context of the tls kind: same trust and legacy reach as `context`.

    The system store is named by the paths of Python's own OpenSSL (`ssl.get_default_verify_paths`),
    since the OpenSSL inside cryptography's wheel has other built-in defaults. ValueError when
    `ca_file` cannot be used.
    """
    key = _key(ca_file)
    ctx = _OPENSSL_CONTEXTS.get(key)
    if ctx is not None:
        return ctx
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_VERSION)
    ctx.set_cipher_list(_LEGACY_CIPHERS.encode())
    ctx.set_options(_OP_LEGACY_SERVER_CONNECT)
    ctx.set_verify(SSL.VERIFY_PEER, _record)
    trust = system_trust()
    paths = ssl.get_default_verify_paths()
    try:
        if trust:
            ctx.load_verify_locations(None, trust["capath"])
        elif paths.cafile or paths.capath:
            ctx.load_verify_locations(paths.cafile, paths.capath)
    except SSL.Error:
        pass  # an unreadable system store: verification names the issuer as not trusted
    if ca_file is not None:
        try:
            ctx.load_verify_locations(str(ca_file))
        except SSL.Error as exc:
            raise ValueError(openssl_error_text(exc) or "no CA certificate found") from None
    return _remember(_OPENSSL_CONTEXTS, key, ctx)


def openssl_error_text(exc: BaseException) -> str:
    """OpenSSL's reasons from a pyOpenSSL error (a list of (library, function, reason) tuples)."""
    if isinstance(exc, SSL.SysCallError):
        return "connection closed during the TLS handshake"
    if exc.args and isinstance(exc.args[0], list):
        return "; ".join(str(e[-1]) for e in exc.args[0] if e) or type(exc).__name__
    return str(exc) or type(exc).__name__


def ssl_error_text(exc: BaseException) -> str:
    """OpenSSL's reason without the "[SSL: …]" and "(_ssl.c:…)" decorations."""
    text = str(exc.args[1]) if isinstance(exc, ssl.SSLError) and len(exc.args) > 1 else str(exc)
    text = re.sub(r"\s*\(_ssl\.c:\d+\)$", "", re.sub(r"^\[[^\]]*\]\s*", "", text))
    return text or type(exc).__name__


async def handshake(recv: Recv, send: Send, sni: str | None, ctx: SSL.Context) -> Handshake:
    """Run a TLS client handshake over `recv`/`send`; HandshakeError and OSError propagate, verify errors do not."""
    errors: list[tuple[int, int, x509.Certificate | None]] = []
    conn = SSL.Connection(ctx, None)
    conn.set_app_data(errors)
    conn.set_connect_state()
    if sni:
        conn.set_tlsext_host_name(sni.encode("idna"))

    async def flush() -> None:
        out = b""
        with contextlib.suppress(SSL.WantReadError):
            while True:
                out += conn.bio_read(65536)
        if out:
            await send(out)

    while True:
        try:
            conn.do_handshake()
            break
        except SSL.WantReadError:
            await flush()
            data = await recv()
            if not data:
                raise ConnectionResetError("server closed the connection during the TLS handshake") from None
            conn.bio_write(data)
        except SSL.Error as exc:
            with contextlib.suppress(OSError):
                await flush()  # the alert that tells the server why we stopped
            raise HandshakeError(openssl_error_text(exc)) from None
    try:
        chain = conn.get_peer_cert_chain(as_cryptography=True) or []
    except ValueError as exc:
        raise UnreadableCertificate(f"the server presented a certificate that cannot be parsed: {exc}") from None
    with contextlib.suppress(SSL.Error):  # a polite close_notify; the server's answer is not awaited
        conn.shutdown()
    with contextlib.suppress(OSError):
        await flush()
    return Handshake(list(chain), errors, conn.get_protocol_version_name(), conn.get_cipher_name() or "",
                     conn.get_cipher_bits())


def known_name(leaf: x509.Certificate, name: str) -> tuple[bool, tuple[int, str] | None]:
    """(known, verdict) of an earlier `check_name` of this leaf and name."""
    key = (leaf.fingerprint(_SHA256), name.lower())
    if key in _NAME_VERDICTS:
        return True, _NAME_VERDICTS[key]
    return False, None


def remember_name(leaf: x509.Certificate, name: str, verdict: tuple[int, str] | None) -> None:
    """Keep a decided verdict of `check_name` for this leaf and name."""
    if len(_NAME_VERDICTS) >= _NAME_VERDICTS_MAX:
        _NAME_VERDICTS.pop(next(iter(_NAME_VERDICTS)))
    _NAME_VERDICTS[(leaf.fingerprint(_SHA256), name.lower())] = verdict


def _name_context(leaf: x509.Certificate) -> ssl.SSLContext:
    """An `ssl` context whose only trust anchor is `leaf`: OpenSSL then judges the host name alone."""
    ctx = _legacy(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    ctx.load_verify_locations(cadata=leaf.public_bytes(Encoding.DER))
    return ctx


async def check_name(recv: Recv, send: Send, name: str, leaf: x509.Certificate) -> tuple[int, str] | None:
    """OpenSSL's host-name check (`check_hostname`) of `name` against the server's leaf, over a new connection.

    Returns (X509_V_ERR code, OpenSSL's message) when the name does not match, None when it does.
    ValueError when the check could not decide (the leaf is outside its dates, or the server
    presented another certificate this time); ssl.SSLError and OSError propagate.
    """
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = _name_context(leaf).wrap_bio(incoming, outgoing, server_hostname=name)
    verdict: tuple[int, str] | None = None
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            out = outgoing.read()
            if out:
                await send(out)
            data = await recv()
            if not data:
                raise ConnectionResetError("server closed the connection during the TLS handshake") from None
            incoming.write(data)
        except ssl.SSLCertVerificationError as exc:
            if exc.verify_code not in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
                raise ValueError(exc.verify_message or str(exc)) from None
            verdict = (exc.verify_code, exc.verify_message)
            break
    if verdict is None:
        with contextlib.suppress(ssl.SSLError):
            obj.unwrap()
    with contextlib.suppress(OSError):
        out = outgoing.read()
        if out:
            await send(out)
    return verdict

"""A throw-away test PKI (root CA → intermediate → leaf) and a real threaded HTTPS server on loopback.

Why: the http, tls and certfile kinds must be tested against real certificates and real TLS
handshakes (valid, expired, self-signed, wrong host, unknown CA, missing intermediate), not mocks.
Everything is generated with `cryptography` in a temporary folder; EC P-256 keys keep it fast.

Import it as `from tests.pki import TestPKI, serve_https` (tests/ and tests/checks/ are packages).

API
---
`pki = TestPKI(tmp_path, name="dxagent test")`
    Root CA (`pki.root_pem`) and intermediate CA (`pki.intermediate_pem`), both valid for years.
    `name` goes into the CAs' CN and O (UTF-8 is fine, e.g. "Ban Cơ yếu Chính phủ").
`leaf = pki.leaf(hosts=("localhost", "127.0.0.1"), *, days_left=90, starts_in_days=-1,
                 self_signed=False, cn=None, key_type="ec", filename="leaf")`
    Returns a `Leaf` with PEM paths:
      `leaf.cert`   the leaf alone;              `leaf.key`   its private key (unencrypted PEM);
      `leaf.chain`  leaf + intermediate (what a correct server sends);
      `leaf.ca`     the root to trust (for a self-signed leaf: the leaf itself);
    and `leaf.certificate` (x509.Certificate), `leaf.not_before` / `leaf.not_after` (aware UTC).
    Variants:
      valid                 `pki.leaf()`
      expiring in N days    `pki.leaf(days_left=N)`
      expired               `pki.leaf(days_left=-3)`          (not_after 3 days ago)
      not yet valid         `pki.leaf(starts_in_days=2)`      (not_before in 2 days)
      self-signed           `pki.leaf(self_signed=True)`
      wrong hostname        `pki.leaf(hosts=("wrong.example",))` then connect to 127.0.0.1/localhost
      unknown CA            a leaf from a second `TestPKI(other_dir)` whose root the client lacks
      missing intermediate  serve `leaf.cert` instead of `leaf.chain` (`serve_https(leaf, send_chain=False)`)
      issued by the root    `pki.leaf(by_root=True)` (no intermediate: `leaf.chain` is the leaf alone)
      AIA caIssuers URLs    `pki.leaf(ca_issuers=("http://ca.example/int.crt",))`
    Hosts that parse as IP addresses become IP SANs, the others DNS SANs.

`with serve_https(leaf, handler=None, *, send_chain=True, context_hook=None) as srv:`
    A real HTTPS server (http.server, one thread per connection) on 127.0.0.1, random port.
    `srv.port`, `srv.host`, `srv.url` ("https://127.0.0.1:PORT/"), `srv.close()`.
    `handler` is a `BaseHTTPRequestHandler` subclass (default: 200 with a small HTML page).
    `context_hook(ctx)` may tweak the server's `ssl.SSLContext` (e.g. `ctx.maximum_version`).
    The TLS handshake runs in the connection's thread, so a client that stalls it cannot block
    the accept loop; handshake failures (the client rejected our certificate) are swallowed.
    `serve_https(None)` serves plain HTTP with the same handler.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

__all__ = ["TestPKI", "Leaf", "serve_https", "HTTPSServer", "OkHandler", "free_port"]

_DAY = dt.timedelta(days=1)
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _key(key_type: str = "ec") -> PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"key_type must be 'ec' or 'rsa', not {key_type!r}")


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _san(hosts: Iterable[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for h in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    return x509.SubjectAlternativeName(names)


def _build(
    subject: x509.Name, issuer: x509.Name, key: PrivateKey, signer: PrivateKey,
    not_before: dt.datetime, not_after: dt.datetime, *, ca: bool, path_len: int | None = None,
    issuer_key_for_aki: PrivateKey | None = None, hosts: Iterable[str] = (), ca_issuers: Iterable[str] = (),
) -> x509.Certificate:
    """One certificate with the extensions strict verifiers (RFC 5280 profile) insist on."""
    b = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_len), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer_key_for_aki is not None:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key_for_aki.public_key()), critical=False
        )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False), critical=True)
    else:
        b = b.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False,
                          key_encipherment=isinstance(key, rsa.RSAPrivateKey), data_encipherment=False,
                          key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False), critical=True)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        hosts = list(hosts)
        if hosts:
            b = b.add_extension(_san(hosts), critical=False)
    urls = list(ca_issuers)
    if urls:
        b = b.add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u))
            for u in urls]), critical=False)
    return b.sign(signer, hashes.SHA256())


@dataclasses.dataclass(frozen=True)
class Leaf:
    """A leaf certificate and the PEM files a server and a client need (see module docstring)."""

    cert: Path
    key: Path
    chain: Path
    ca: Path
    certificate: x509.Certificate
    not_before: dt.datetime
    not_after: dt.datetime


class TestPKI:
    """Root CA → intermediate CA, written as PEM files into `directory`; issues leaves on demand."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, directory: str | Path, name: str = "dxagent test", *, key_type: str = "ec") -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        now = _now()
        self.root_key = _key(key_type)
        root_name = _name(f"{name} Root CA", name)
        self.root = _build(root_name, root_name, self.root_key, self.root_key, now - 365 * _DAY,
                           now + 3650 * _DAY, ca=True, path_len=1)
        self.intermediate_key = _key(key_type)
        self.intermediate_name = _name(f"{name} Intermediate CA", name)
        self.intermediate = _build(self.intermediate_name, root_name, self.intermediate_key, self.root_key,
                                   now - 365 * _DAY, now + 1825 * _DAY, ca=True, path_len=0,
                                   issuer_key_for_aki=self.root_key)
        self.root_pem = self.dir / "root.pem"
        self.root_pem.write_bytes(_pem_cert(self.root))
        self.intermediate_pem = self.dir / "intermediate.pem"
        self.intermediate_pem.write_bytes(_pem_cert(self.intermediate))

    def leaf(
        self,
        hosts: Iterable[str] = ("localhost", "127.0.0.1"),
        *,
        days_left: float = 90,
        starts_in_days: float = -1,
        self_signed: bool = False,
        cn: str | None = None,
        key_type: str = "ec",
        filename: str = "leaf",
        by_root: bool = False,
        ca_issuers: Iterable[str] = (),
    ) -> Leaf:
        """Issue a leaf for `hosts` (see the module docstring for the variants); files `<filename>*.pem`."""
        hosts = list(hosts)
        now = _now()
        not_before = now + dt.timedelta(days=starts_in_days)
        not_after = now + dt.timedelta(days=days_left)
        if not_after <= not_before:  # expired: keep a sane validity period that ended in the past
            not_before = not_after - 30 * _DAY
        key = _key(key_type)
        subject = _name(cn or (hosts[0] if hosts else "dxagent test leaf"))
        if self_signed:
            cert = _build(subject, subject, key, key, not_before, not_after, ca=False, hosts=hosts)
        else:
            issuer, signer = ((self.root.subject, self.root_key) if by_root
                              else (self.intermediate_name, self.intermediate_key))
            cert = _build(subject, issuer, key, signer, not_before, not_after, ca=False, issuer_key_for_aki=signer,
                          hosts=hosts, ca_issuers=ca_issuers)
        cert_path = self.dir / f"{filename}.pem"
        key_path = self.dir / f"{filename}.key.pem"
        chain_path = self.dir / f"{filename}.chain.pem"
        cert_path.write_bytes(_pem_cert(cert))
        key_path.write_bytes(_pem_key(key))
        chain_path.write_bytes(_pem_cert(cert) + (b"" if self_signed or by_root else _pem_cert(self.intermediate)))
        return Leaf(cert=cert_path, key=key_path, chain=chain_path, ca=cert_path if self_signed else self.root_pem,
                    certificate=cert, not_before=not_before, not_after=not_after)


class OkHandler(BaseHTTPRequestHandler):
    """Answers every GET/HEAD/POST with 200 and a small HTML page titled "dxagent test"."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid the 40 ms delayed-ACK stall
    BODY = b"<!doctype html><html><head><title>dxagent test</title></head><body>ok</body></html>"

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(self.BODY)

    do_GET = do_HEAD = do_POST = _reply

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging on stderr."""


class HTTPSServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that does the TLS handshake in the connection thread (or none: plain HTTP)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], ctx: ssl.SSLContext | None, timeout: float) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.ssl_context = ctx
        self.conn_timeout = timeout
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}/"

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(self.conn_timeout)
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                request.close()
                return
        with contextlib.suppress(ssl.SSLError, OSError):
            super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up early are expected in these tests; stay quiet."""

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HTTPSServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_https(
    leaf: Leaf | None,
    handler: type[BaseHTTPRequestHandler] | None = None,
    *,
    send_chain: bool = True,
    context_hook: Callable[[ssl.SSLContext], None] | None = None,
    conn_timeout: float = 15.0,
) -> HTTPSServer:
    """Start a threaded HTTPS (or, with `leaf=None`, HTTP) server on 127.0.0.1; use it as a context manager."""
    ctx: ssl.SSLContext | None = None
    if leaf is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(leaf.chain if send_chain else leaf.cert), str(leaf.key))
        if context_hook is not None:
            context_hook(ctx)
    return HTTPSServer(handler or OkHandler, ctx, conn_timeout)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for servers that need a port up front)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

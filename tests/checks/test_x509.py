"""The DER reader (checks/tls/x509.py) against cryptography, field by field.

cryptography is the reference here (tests may load it; the daemon should not): every certificate
of the system trust store, the test PKI's certificates and hand-built odd ones (UTF-8 and escaped
names, IPv6 and e-mail SANs, RSA/DSA/Ed25519/Ed448/EC keys, GeneralizedTime dates, no extensions)
must give the same facts. Broken input must raise ValueError, never anything else.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import re
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat._oid import _OID_NAMES
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from dxagent.checks.tls import x509 as _x509
from tests.pki import TestPKI


def reference(cert: x509.Certificate) -> dict[str, Any]:
    """What the code before _x509 reported, computed with cryptography."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key_facts: tuple[str, int | None] = ("RSA", key.key_size)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_facts = (f"EC {key.curve.name}", key.key_size)
    elif isinstance(key, dsa.DSAPublicKey):
        key_facts = ("DSA", key.key_size)
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key_facts = ("Ed25519", 256)
    elif isinstance(key, ed448.Ed448PublicKey):
        key_facts = ("Ed448", 456)
    else:
        key_facts = ("unknown", None)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = (tuple(san.get_values_for_type(x509.DNSName)),
                tuple(str(a) for a in san.get_values_for_type(x509.IPAddress)),
                tuple(san.get_values_for_type(x509.RFC822Name)))
    except x509.ExtensionNotFound:
        sans = ((), (), ())
    try:
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        ca = False
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    oid = cert.signature_algorithm_oid
    return {
        "subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
        "cn": str(cns[0].value) if cns else "", "serial": cert.serial_number,
        "not_before": cert.not_valid_before_utc.timestamp(), "not_after": cert.not_valid_after_utc.timestamp(),
        "key": key_facts, "sans": sans, "ca": ca, "self_issued": cert.subject == cert.issuer,
        "signature": _OID_NAMES.get(oid) or oid.dotted_string, "sha256": cert.fingerprint(hashes.SHA256()).hex(),
    }


def ours(c: _x509.Cert) -> dict[str, Any]:
    return {
        "subject": c.subject.rfc4514_string(), "issuer": c.issuer.rfc4514_string(), "cn": c.subject.common_name(),
        "serial": c.serial_number, "not_before": c.not_before, "not_after": c.not_after,
        "key": (c.key_type, c.key_bits), "sans": (c.dns_names, c.ip_addresses, c.emails), "ca": c.ca,
        "self_issued": c.subject == c.issuer, "signature": c.signature_algorithm, "sha256": c.sha256(),
    }


def system_store() -> list[x509.Certificate]:
    path = ssl.get_default_verify_paths().cafile
    if not path or not Path(path).exists():
        pytest.skip("no system CA bundle (ca-certificates) to compare with")
    pem = Path(path).read_bytes()
    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.S)
    return [x509.load_pem_x509_certificate(b) for b in blocks]


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")  # a root with serial 0
def test_every_certificate_of_the_system_store_matches_cryptography() -> None:
    certs = system_store()
    assert len(certs) > 50
    for cert in certs:
        assert ours(_x509.load_der(cert.public_bytes(Encoding.DER))) == reference(cert), cert.subject


def test_test_pki_certificates_match(tmp_path: Path) -> None:
    pki = TestPKI(tmp_path, name="Ban Cơ yếu Chính phủ")
    rsa_pki = TestPKI(tmp_path / "rsa", key_type="rsa")
    certs = [pki.root, pki.intermediate, pki.leaf(hosts=("portal.example.vn", "*.example.vn", "10.0.0.5")).certificate,
             pki.leaf(self_signed=True, filename="ss").certificate, pki.leaf(days_left=-3, filename="x").certificate,
             pki.leaf(key_type="rsa", filename="r").certificate, rsa_pki.root]
    for cert in certs:
        assert ours(_x509.load_any(cert)) == reference(cert)
    leaf = _x509.load_any(certs[2])
    assert leaf.subject.rfc4514_string() == "CN=portal.example.vn,C=VN"
    assert leaf.issuer.rfc4514_string() == "CN=Ban Cơ yếu Chính phủ Intermediate CA,O=Ban Cơ yếu Chính phủ,C=VN"
    assert leaf.not_valid_after_utc == certs[2].not_valid_after_utc


def _odd(subject: x509.Name, key: Any, *, sans: list[x509.GeneralName] | None = None, ca: bool | None = None,
         not_after: dt.datetime | None = None, serial: int = 0x1F2E3D, sign_with: Any = None,
         algorithm: Any = hashes.SHA256()) -> x509.Certificate:
    now = dt.datetime(2024, 5, 1, 8, 30, 15, tzinfo=dt.UTC)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
         .serial_number(serial).not_valid_before(now).not_valid_after(not_after or now + dt.timedelta(days=400)))
    if sans is not None:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    signer = sign_with or key
    return b.sign(signer, None if isinstance(signer, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) else algorithm)


def test_odd_certificates_match() -> None:
    ec_key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'Sở "TT&TT", Hà Nội; <test>+x'),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, " leading and trailing "),
        x509.NameAttribute(NameOID.EMAIL_ADDRESS, "it@example.vn"),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, "0101234567"),
        x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "vn"),
        x509.NameAttribute(NameOID.COMMON_NAME, "#hash\\back"),
        x509.NameAttribute(NameOID.BUSINESS_CATEGORY, "Đơn vị"),
    ])
    multi = x509.Name([x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "a"),
                                                       x509.NameAttribute(NameOID.USER_ID, "b")])])
    sans: list[x509.GeneralName] = [
        x509.DNSName("xn--h-uga.example"), x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
        x509.RFC822Name("a@example.vn"), x509.UniformResourceIdentifier("https://example.vn/"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("b.example"),
    ]
    certs = [
        _odd(name, ec_key, sans=sans, ca=True, algorithm=hashes.SHA384()),
        _odd(multi, ec_key, ca=False, not_after=dt.datetime(2061, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),  # GeneralizedTime
        _odd(x509.Name([]), ec_key, serial=1),
        _odd(name, ed25519.Ed25519PrivateKey.generate()),
        _odd(name, ed448.Ed448PrivateKey.generate()),
        _odd(name, dsa.generate_private_key(2048)),
        _odd(name, rsa.generate_private_key(65537, 3072), algorithm=hashes.SHA512()),
        _odd(name, ec.generate_private_key(ec.SECP521R1()), algorithm=hashes.SHA224()),
        _odd(name, ec.generate_private_key(ec.SECP256K1()), serial=(1 << 158) + 12345),
    ]
    for cert in certs:
        assert ours(_x509.load_any(cert)) == reference(cert), cert.subject
    assert _x509.load_any(certs[0]).subject.common_name() == "#hash\\back"
    assert _x509.load_any(certs[2]).subject.rfc4514_string() == ""


def test_broken_input_raises_value_error_only() -> None:
    der = _odd(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]), ec.generate_private_key(ec.SECP256R1()),
               sans=[x509.DNSName("x.example")], ca=False).public_bytes(Encoding.DER)
    for cut in range(len(der)):
        with pytest.raises(ValueError):
            _x509.load_der(der[:cut])
    for garbage in (b"", b"\x30\x80\x00\x00", b"\x30\x85\xff\xff\xff\xff\xff", b"\x1f\x01\x00", b"hello world",
                    b"\x30\x03\x02\x01\x01"):
        with pytest.raises(ValueError):
            _x509.load_der(garbage)
    for pos in range(0, len(der), 7):  # flipped bytes: a clean error or a certificate, never a crash
        broken = der[:pos] + bytes([der[pos] ^ 0xFF]) + der[pos + 1:]
        with contextlib.suppress(ValueError):
            _x509.load_der(broken)
    with pytest.raises(TypeError):
        _x509.load_any(42)


def test_the_reader_does_not_import_cryptography() -> None:
    import subprocess
    import sys

    code = ("import sys, ssl; from dxagent.checks.tls import x509 as _x509; "
            f"c = _x509.load_der(ssl.PEM_cert_to_DER_cert(open({ssl.get_default_verify_paths().cafile!r}).read()"
            ".split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\\n')); "
            "assert c.subject.rfc4514_string(); print(sorted(m for m in sys.modules if m.startswith('cryptography')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"

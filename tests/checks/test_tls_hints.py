"""The tls kind's verdicts and hints against real servers (issue #19), and OpenSSL's host-name check (issue #15).

A leaf issued straight by a private root and served alone looks, from the client, exactly like a
leaf whose intermediate was not sent: the hint must cover both, name the issuer and `ca_file`, and
lead with the likelier one. Every hint names the host and port actually used.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from dxagent.checks import tls
from dxagent.checks.tls import hints
from dxagent.model import Reason, Result, Status
from dxagent.probe import ProbeContext
from tests.checks.tls_servers import once_then_hang, server_context
from tests.pki import TestPKI, serve_https

ORG = "Sở Thông tin và Truyền thông"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(tmp_path_factory.mktemp("pki-hints"), name=ORG)


async def probe(port: int, ca: Path | None = None, **extra: Any) -> Result:
    fields: dict[str, Any] = {"id": "t", "host": "127.0.0.1", "port": port, "server_name": "localhost", **extra}
    if ca is not None:
        fields["ca_file"] = ca
    return await tls.probe(tls.Config.model_validate(fields), ProbeContext("t", "tls", timeout=5))


def issues(r: Result) -> list[str]:
    return [i["issue"] for i in r.details["verify_issues"]]


async def test_leaf_issued_by_an_untrusted_private_root_served_alone(pki: TestPKI) -> None:
    """Issue #19: no ca_file, the server sends only its leaf, the issuer is a root: lead with `ca_file`."""
    leaf = pki.leaf(by_root=True, filename="by-root")
    root = f"CN={ORG} Root CA,O={ORG},C=VN"
    with serve_https(leaf) as srv:
        r = await probe(srv.port)
        fixed = await probe(srv.port, pki.root_pem)
    assert (r.status, r.reason) == (Status.CRIT, Reason.TLS)
    assert issues(r) == ["incomplete_chain"] and r.details["chain_length"] == 1
    assert r.details["issuer"] == root
    for text in (r.hint.en, r.hint.vi):
        assert "`ca_file`" in text and root in text and f"127.0.0.1:{srv.port}" in text
    assert r.hint.en.startswith("Likely an untrusted root (the issuer's name says root): if " + root)
    assert r.hint.en.index("`ca_file`") < r.hint.en.index("full chain")  # the likelier fix first
    assert "untrusted root" in r.summary.en and "CA gốc" in r.summary.vi
    # following the hint (trusting that root) fixes it
    assert fixed.status == Status.OK, fixed.summary


async def test_missing_intermediate_leads_with_sending_it(pki: TestPKI) -> None:
    leaf = pki.leaf(filename="no-inter")
    inter = f"CN={ORG} Intermediate CA,O={ORG},C=VN"
    with serve_https(leaf, send_chain=False) as srv:
        r = await probe(srv.port, pki.root_pem)
    assert (r.status, r.reason) == (Status.CRIT, Reason.TLS)
    assert issues(r) == ["incomplete_chain"]
    assert r.hint.en.startswith("Likely a missing intermediate")
    for text in (r.hint.en, r.hint.vi):
        assert inter in text and "`ca_file`" in text and f"127.0.0.1:{srv.port}" in text
    assert r.hint.en.index("full chain") < r.hint.en.index("`ca_file`")


async def test_missing_intermediate_with_an_aia_url_names_where_it_is(pki: TestPKI) -> None:
    url = "http://pki.example.vn/intermediate.crt"
    with serve_https(pki.leaf(filename="aia", ca_issuers=(url,)), send_chain=False) as srv:
        r = await probe(srv.port, pki.root_pem)
    assert issues(r) == ["incomplete_chain"] and r.details["ca_issuers"] == [url]
    assert url in r.hint.en and url in r.hint.vi


async def test_self_signed_leaf_names_the_server_and_ca_file(pki: TestPKI) -> None:
    with serve_https(pki.leaf(self_signed=True, filename="ss-hint")) as srv:
        r = await probe(srv.port, pki.root_pem)
    assert (r.status, r.reason, issues(r)[:1]) == (Status.CRIT, Reason.TLS, ["self_signed"])
    for text in (r.hint.en, r.hint.vi):
        assert "`ca_file`" in text and f"127.0.0.1:{srv.port}" in text and "CN=localhost" not in text


async def test_root_sent_but_not_trusted_stays_unknown_issuer(pki: TestPKI, tmp_path: Path) -> None:
    """The case already told apart: the chain ends in a root that was sent but is not trusted here."""
    other = TestPKI(tmp_path / "other", name="Cục Chứng thực số")
    leaf = other.leaf(filename="full")
    bundle = tmp_path / "full.pem"
    bundle.write_bytes(leaf.chain.read_bytes() + other.root_pem.read_bytes())
    with serve_https(leaf, context_hook=lambda ctx: ctx.load_cert_chain(bundle, leaf.key)) as srv:
        r = await probe(srv.port, pki.root_pem)
    assert r.details["chain_length"] == 3
    assert issues(r) == ["unknown_issuer"]
    assert "Cục Chứng thực số Root CA" in r.hint.en and "`ca_file`" in r.hint.en


def _cert(issuer_cn: str, urls: tuple[str, ...] = (), org: str | None = None) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "portal.example.vn")]))
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]
                                + ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else [])))
         .public_key(key.public_key()).serial_number(1)
         .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=90)))
    if urls:
        b = b.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u)) for u in urls]), critical=False)
    return b.sign(key, hashes.SHA256())


@pytest.mark.parametrize(("issuer", "urls", "lead"), [
    ("R11", (), "The issuer may be a root or an intermediate"),  # nothing to go by
    ("Sectigo RSA Domain Validation Secure Server CA", (), "Likely a missing intermediate"),  # a public CA
    ("Cong ty ABC CA", ("http://pki.congtyabc.vn/ca.crt",), "Likely a missing intermediate"),  # AIA on the internet
    ("Cong ty ABC CA", ("ldap:///CN=ABC,DC=corp",), "The issuer may be a root or an intermediate"),
    ("Cong ty ABC CA", ("http://ca.corp/ca.crt",), "The issuer may be a root or an intermediate"),
    ("Cong ty ABC CA", (), "The issuer may be a root or an intermediate"),
    ("ABC Root CA 2024", ("http://pki.congtyabc.vn/root.crt",), "Likely an untrusted root"),
])
def test_the_lead_follows_what_the_leaf_tells(issuer: str, urls: tuple[str, ...], lead: str) -> None:
    cert = _cert(issuer, urls)
    hint = hints.hint("incomplete_chain", target="portal.example.vn:8443", server_name="portal.example.vn", chain=[cert])
    assert hint is not None and hint.en.startswith(lead), hint.en
    assert f"CN={issuer}" in hint.en and f"CN={issuer}" in hint.vi
    assert "`ca_file`" in hint.en and "portal.example.vn:8443" in hint.en and "portal.example.vn:8443" in hint.vi


def test_a_public_ca_named_by_its_organisation_leads_with_the_intermediate() -> None:
    hint = hints.hint("incomplete_chain", target="a.vn:443", server_name="a.vn", chain=[_cert("R11", org="Let's Encrypt")])
    assert hint is not None and hint.en.startswith("Likely a missing intermediate (the issuer is a public CA)")


# ----------------------------------------------------------------------------- OpenSSL's host-name check


@pytest.mark.parametrize(("server_name", "matches"), [
    ("portal.example.vn", True),
    ("PORTAL.example.vn", True),
    ("smtp.mail.example.vn", True),
    ("a.b.mail.example.vn", False),  # a wildcard covers one label
    ("mail.example.vn", False),
    ("10.0.0.5", True),  # IP SAN
    ("10.0.0.6", False),
    ("example.vn", False),
])
async def test_host_names_are_checked_by_openssl(pki: TestPKI, server_name: str, matches: bool) -> None:
    leaf = pki.leaf(hosts=("portal.example.vn", "*.mail.example.vn", "10.0.0.5"), filename="names")
    with serve_https(leaf) as srv:
        r = await probe(srv.port, pki.root_pem, server_name=server_name)
    assert r.details["name_check"] == ("match" if matches else "mismatch")
    assert issues(r) == ([] if matches else ["hostname_mismatch"])
    if not matches:
        assert f"not {server_name}" in r.hint.en and f"127.0.0.1:{srv.port}" in r.hint.en and "`server_name`" in r.hint.en


async def test_name_is_checked_whatever_the_chain(pki: TestPKI) -> None:
    """The name check trusts only the leaf, so a wrong name is named beside a missing intermediate."""
    with serve_https(pki.leaf(hosts=("wrong.example",), filename="both"), send_chain=False) as srv:
        r = await probe(srv.port, pki.root_pem)
    assert issues(r) == ["incomplete_chain", "hostname_mismatch"]


async def test_expired_leaf_leaves_the_name_undecided(pki: TestPKI) -> None:
    with serve_https(pki.leaf(days_left=-2, filename="old-name")) as srv:
        r = await probe(srv.port, pki.root_pem)
    assert issues(r) == ["expired"] and r.details["name_check"].startswith("undecided")
    assert "localhost" in r.hint.en and f"127.0.0.1:{srv.port}" in r.hint.en


async def test_expiry_and_version_hints_carry_the_values(pki: TestPKI) -> None:
    with serve_https(pki.leaf(days_left=10, filename="soon")) as srv:
        r = await probe(srv.port, pki.root_pem)
    assert (r.status, r.reason) == (Status.WARN, Reason.THRESHOLD)
    assert f"127.0.0.1:{srv.port}" in r.hint.en and "10 days" in r.hint.en and "10 ngày" in r.hint.vi
    assert time.strftime("%Y-%m-%d", time.gmtime(time.time() + 10 * 86400)) in r.hint.en


async def test_the_name_verdict_is_remembered_per_leaf(pki: TestPKI) -> None:
    """OpenSSL's verdict depends on the leaf and the name only: a leaf seen again needs no second handshake."""
    from dxagent.checks.tls import client

    leaf = pki.leaf(hosts=("wrong.example",), filename="remember")
    assert client.known_name(leaf.certificate, "localhost") == (False, None)
    with serve_https(leaf) as srv:
        first = await probe(srv.port, pki.root_pem)
        known, verdict = client.known_name(leaf.certificate, "LOCALHOST")
        second = await probe(srv.port, pki.root_pem)
    assert known and verdict is not None and verdict[0] == 62
    assert issues(first) == issues(second) == ["hostname_mismatch"]


async def test_a_server_that_hangs_on_the_name_check_costs_its_timeout_only(pki: TestPKI) -> None:
    """Hostile: the second connection (OpenSSL's name check) is accepted and never answered."""
    with once_then_hang(server_context(pki.leaf(filename="once"))) as port:
        t0 = time.monotonic()
        r = await tls.probe(tls.Config(id="t", host="127.0.0.1", port=port, server_name="localhost",
                                       ca_file=pki.root_pem), ProbeContext("t", "tls", timeout=1.0))
        elapsed = time.monotonic() - t0
    assert 0.8 < elapsed < 1.3
    assert r.status == Status.OK and r.details["name_check"] == "timeout" and r.details["chain_length"] == 2
    assert [s.value for s in r.samples if s.name == "tls_verified"] == [0]  # the name was not confirmed
    assert "not verified" in r.summary.en


async def test_verify_off_still_reports_a_wrong_name_but_judges_dates(pki: TestPKI) -> None:
    with serve_https(pki.leaf(hosts=("wrong.example",), filename="off-name")) as srv:
        r = await probe(srv.port, pki.root_pem, verify=False)
    assert r.status == Status.OK and issues(r) == ["hostname_mismatch"]
    assert [s.value for s in r.samples if s.name == "tls_verified"] == [0]

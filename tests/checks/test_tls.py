"""Tests of the tls kind: pure judging and certificate facts, then real handshakes on loopback.

Servers are real (tests/pki.py HTTPS server, aiosmtpd, small IMAP/POP3 servers) with certificates
generated per session; blackbox_exporter is run against the same servers as a cross-check.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from dxagent.checks import tls
from dxagent.checks.tls import certinfo as ci
from dxagent.config import ConfigError, load_text
from dxagent.model import Reason, Result, Status
from dxagent.probe import ProbeContext
from dxagent.runner import Runner
from tests.checks.tls_servers import (
    blackbox_exporter,
    hanging_server,
    mail_starttls_server,
    scrape,
    server_context,
    smtp_server,
)
from tests.pki import TestPKI, serve_https

GOV = "Ban Cơ yếu Chính phủ"
TH = tls.Config(id="t", host="a.example").thresholds  # the kind's defaults: warn 30, crit 7 days


# ----------------------------------------------------------------------------- pure judging


@pytest.mark.parametrize(("days", "expected"), [
    (90, Status.OK), (30.0, Status.OK), (29.99, Status.WARN), (20, Status.WARN), (7.0, Status.WARN),
    (6.99, Status.CRIT), (5, Status.CRIT), (0.5, Status.CRIT), (0, Status.CRIT), (-3, Status.CRIT),
])
def test_judge_days_boundaries(days: float, expected: Status) -> None:
    assert ci.judge_days(days, TH) == expected
    status, reason, _ = tls.judge(TH, days, days, [])
    assert status == expected
    if expected == Status.OK:
        assert reason is None
    elif days <= 0:
        assert reason == Reason.TLS
    else:
        assert reason == Reason.THRESHOLD


def test_judge_uses_the_earliest_in_the_chain() -> None:
    assert tls.judge(TH, 200, 5, [])[:2] == (Status.CRIT, Reason.THRESHOLD)
    assert tls.judge(TH, 200, -1, [])[:2] == (Status.CRIT, Reason.TLS)


def test_judge_invalid_chain_is_crit_unless_verify_is_off() -> None:
    assert tls.judge(TH, 90, 90, ["unknown_issuer", "hostname_mismatch"]) == (Status.CRIT, Reason.TLS, "unknown_issuer")
    assert tls.judge(TH, 90, 90, ["self_signed"], verify=False) == (Status.OK, None, "ok")
    assert tls.judge(TH, -2, -2, ["expired"], verify=False) == (Status.CRIT, Reason.TLS, "expired")


def test_judge_old_tls_version_warns() -> None:
    assert tls.judge(TH, 90, 90, [], version="TLSv1") == (Status.WARN, Reason.TLS, "version")
    assert tls.judge(TH, 90, 90, [], version="TLSv1.2") == (Status.OK, None, "ok")
    assert tls.judge(TH, 90, 90, [], version="TLSv1.2", min_version="TLSv1.3")[0] == Status.WARN
    # an expiry problem outranks the version warning
    assert tls.judge(TH, 3, 3, [], version="TLSv1")[:2] == (Status.CRIT, Reason.THRESHOLD)


# ----------------------------------------------------------------------------- certificate facts


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(tmp_path_factory.mktemp("pki"), name=GOV)


def test_facts_render_utf8_names_and_key_facts(pki: TestPKI) -> None:
    leaf = pki.leaf(hosts=("portal.example.vn", "*.example.vn", "127.0.0.1"), key_type="rsa", filename="facts")
    f = ci.facts(leaf.certificate, time.time())
    assert f["issuer"] == f"CN={GOV} Intermediate CA,O={GOV},C=VN"
    assert f["issuer_cn"] == f"{GOV} Intermediate CA"
    assert f["subject_cn"] == "portal.example.vn"
    assert f["sans"] == ["DNS:portal.example.vn", "DNS:*.example.vn", "IP:127.0.0.1"]
    assert (f["key_type"], f["key_bits"]) == ("RSA", 2048)
    assert f["signature_algorithm"] == "ecdsa-with-SHA256"  # signed by the EC intermediate
    assert f["serial"] == format(leaf.certificate.serial_number, "X")
    assert f["not_after_timestamp"] == leaf.not_after.timestamp()
    assert 89.9 < f["days_left"] <= 90
    assert f["ca"] is False and f["self_issued"] is False


def test_days_left_is_negative_after_expiry() -> None:
    assert ci.days_left(1000.0, 1000.0 + 3 * ci.DAY) == -3


def test_fold_ignores_case_and_vietnamese_diacritics() -> None:
    assert ci.fold(GOV) == ci.fold("BAN CO YEU CHINH PHU") == "ban co yeu chinh phu"
    assert ci.fold("Đà Nẵng") == "da nang"


def test_classify_names_each_openssl_error(pki: TestPKI) -> None:
    leaf = pki.leaf(filename="cls").certificate
    inter = pki.intermediate
    keys = lambda errors, chain, host=None: [i.key for i in ci.classify(errors, chain, host)]  # noqa: E731
    assert keys([(0, 10, leaf)], [leaf, inter]) == ["expired"]
    assert keys([(0, 9, leaf)], [leaf, inter]) == ["not_yet_valid"]
    assert keys([(0, 18, leaf)], [leaf]) == ["self_signed"]
    assert keys([(0, 20, leaf), (0, 21, leaf)], [leaf]) == ["incomplete_chain"]
    assert keys([(1, 20, inter)], [leaf, inter]) == ["unknown_issuer"]
    assert keys([(2, 19, pki.root)], [leaf, inter, pki.root]) == ["unknown_issuer"]
    assert keys([(0, 26, leaf)], [leaf, inter]) == ["other"]
    assert keys([], [leaf, inter], "wrong.example") == []  # the name is OpenSSL's verdict (62), not ours
    assert keys([(0, 62, leaf)], [leaf, inter], "wrong.example") == ["hostname_mismatch"]
    assert keys([(0, 62, leaf), (0, 20, leaf), (0, 10, leaf)], [leaf], "wrong.example") == [
        "expired", "incomplete_chain", "hostname_mismatch"]
    mismatch = ci.classify([(0, 62, leaf)], [leaf, inter], "wrong.example")[0].detail
    assert mismatch.en == "wrong.example not in DNS:localhost, IP:127.0.0.1"
    detail = ci.classify([(0, 20, leaf)], [leaf], None)[0].detail
    assert GOV in detail.en and GOV in detail.vi and detail.en != detail.vi


# ----------------------------------------------------------------------------- config


def test_config_errors_name_the_field() -> None:
    text = "checks:\n  - id: t\n    kind: tls\n    host: a.example\n    thresholds: {warn: 5, crit: 10}\n"
    with pytest.raises(ConfigError) as err:
        load_text(text, "x.yml")
    assert "x.yml:5: checks[0].thresholds: crit must not be above warn" in str(err.value)
    with pytest.raises(ConfigError, match="crit must not be above warn"):  # warn 5 with the default crit 7
        load_text("checks:\n  - {id: t, kind: tls, host: a, thresholds: {warn: 5}}\n")
    th = load_text("checks:\n  - {id: t, kind: tls, host: a, thresholds: {warn: 21}}\n").checks[0].thresholds
    assert (th.warn, th.crit) == (21, 7)  # a limit left out keeps its default
    with pytest.raises(ConfigError, match=r"checks\[0\].ca_file: .*cannot read /nonexistent/ca.pem"):
        load_text("checks:\n  - {id: t, kind: tls, host: a, ca_file: /nonexistent/ca.pem}\n")
    with pytest.raises(ConfigError, match=r"checks\[0\].server_name: .*not a valid host name"):
        load_text("checks:\n  - {id: t, kind: tls, host: 10.0.0.1, server_name: 'a..b'}\n")
    with pytest.raises(ConfigError, match=r"checks\[0\].starttls"):
        load_text("checks:\n  - {id: t, kind: tls, host: a, starttls: ftp}\n")


def test_example_validates() -> None:
    cfg = load_text("checks:\n" + "\n".join("  " + line for line in tls.EXAMPLE.splitlines()))
    assert cfg.checks[0].host == "dichvucong.gov.vn"


def test_default_config_has_the_national_portals() -> None:
    from dxagent.config import load_default

    ids = {c.id: c for c in load_default().checks}
    for cid, host in (("tls-dichvucong", "dichvucong.gov.vn"), ("tls-vneid", "vneid.gov.vn")):
        assert ids[cid].kind == "tls" and ids[cid].host == host and ids[cid].timeout == 5 and ids[cid].interval == 3600


# ----------------------------------------------------------------------------- real handshakes


async def probe(port: int, ca: Path | None, *, timeout: float = 5, **extra: Any) -> Result:
    fields: dict[str, Any] = {"id": "t", "host": "127.0.0.1", "port": port, "server_name": "localhost", **extra}
    if ca is not None:
        fields["ca_file"] = ca
    cfg = tls.Config.model_validate(fields)
    return await tls.probe(cfg, ProbeContext("t", "tls", timeout=timeout))


def sample(r: Result, name: str, **labels: str) -> float:
    want = tuple(sorted(labels.items()))
    values = [s.value for s in r.samples if s.name == name and (not labels or s.labels == want)]
    assert len(values) == 1, (name, r.samples)
    return values[0]


CASES = {  # name: (leaf kwargs, serve kwargs, status, reason, issue)
    "valid": ({}, {}, Status.OK, None, None),
    "expiring_5d": ({"days_left": 5}, {}, Status.CRIT, Reason.THRESHOLD, None),
    "expiring_20d": ({"days_left": 20}, {}, Status.WARN, Reason.THRESHOLD, None),
    "expired": ({"days_left": -3}, {}, Status.CRIT, Reason.TLS, "expired"),
    "not_yet_valid": ({"starts_in_days": 2}, {}, Status.CRIT, Reason.TLS, "not_yet_valid"),
    "self_signed": ({"self_signed": True}, {}, Status.CRIT, Reason.TLS, "self_signed"),
    "wrong_host": ({"hosts": ("wrong.example",)}, {}, Status.CRIT, Reason.TLS, "hostname_mismatch"),
    "incomplete_chain": ({}, {"send_chain": False}, Status.CRIT, Reason.TLS, "incomplete_chain"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_real_servers(pki: TestPKI, case: str) -> None:
    leaf_kw, serve_kw, status, reason, issue = CASES[case]
    leaf = pki.leaf(filename=case, **leaf_kw)
    with serve_https(leaf, **serve_kw) as srv:
        r = await probe(srv.port, pki.root_pem)
    assert (r.status, r.reason) == (status, reason), r.summary
    issues = [i["issue"] for i in r.details["verify_issues"]]
    assert issues[:1] == ([issue] if issue else [])
    assert sample(r, "tls_verified") == (0 if issue else 1)
    assert sample(r, "tls_handshake_success") == 1
    # facts are reported whether or not the chain verifies
    assert r.details["serial"] == format(leaf.certificate.serial_number, "X")
    assert sample(r, "tls_cert_not_after_timestamp_seconds", position="0") == leaf.not_after.timestamp()
    assert sample(r, "tls_cert_not_before_timestamp_seconds", position="0") == leaf.not_before.timestamp()
    expected_days = (leaf.not_after.timestamp() - time.time()) / 86400
    assert abs(r.details["days_left"] - expected_days) < 0.01
    assert r.details["chain_length"] == (1 if serve_kw or leaf_kw.get("self_signed") else 2)
    assert r.details["tls_version"] in ("TLSv1.2", "TLSv1.3") and r.details["cipher"]
    assert r.summary.en != r.summary.vi
    assert (r.hint is None) == (status == Status.OK)


async def test_expired_cert_reports_negative_days_and_date(pki: TestPKI) -> None:
    leaf = pki.leaf(days_left=-3, filename="expired2")
    with serve_https(leaf) as srv:
        r = await probe(srv.port, pki.root_pem)
    assert -3.01 < r.details["days_left"] < -2.99
    assert sample(r, "tls_cert_not_after_timestamp_seconds", position="0") == leaf.not_after.timestamp()
    assert f"expired 3.0 days ago on {leaf.not_after:%Y-%m-%d}" in r.summary.en
    assert "đã hết hạn" in r.summary.vi


async def test_unknown_issuer_and_utf8_issuer(pki: TestPKI, tmp_path: Path) -> None:
    other = TestPKI(tmp_path / "other", name="Cục Chứng thực số")
    with serve_https(other.leaf()) as srv:
        r = await probe(srv.port, pki.root_pem)
    assert (r.status, r.reason) == (Status.CRIT, Reason.TLS)
    assert r.details["verify_issues"][0]["issue"] == "unknown_issuer"
    assert r.details["issuer"] == "CN=Cục Chứng thực số Intermediate CA,O=Cục Chứng thực số,C=VN"
    assert "Cục Chứng thực số" in r.summary.vi and "rootca.gov.vn" in r.hint.en


async def test_verify_off_judges_only_dates(pki: TestPKI) -> None:
    with serve_https(pki.leaf(self_signed=True, filename="ss2")) as srv:
        r = await probe(srv.port, None, verify=False)
    assert r.status == Status.OK and sample(r, "tls_verified") == 0
    assert "not verified" in r.summary.en


async def test_chain_samples_cover_the_intermediate(pki: TestPKI) -> None:
    leaf = pki.leaf(days_left=400, filename="long")
    with serve_https(leaf) as srv:
        r = await probe(srv.port, pki.root_pem)
    assert sample(r, "tls_cert_not_after_timestamp_seconds", position="1") == \
        pki.intermediate.not_valid_after_utc.timestamp()
    earliest = sample(r, "tls_chain_earliest_not_after_timestamp_seconds")
    assert earliest == min(leaf.not_after.timestamp(), pki.intermediate.not_valid_after_utc.timestamp())
    assert earliest <= sample(r, "tls_cert_not_after_timestamp_seconds", position="0")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1 is deprecated:DeprecationWarning")
async def test_tls10_only_server_warns(pki: TestPKI) -> None:
    def tls10(ctx: ssl.SSLContext) -> None:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1

    leaf = pki.leaf(key_type="rsa", filename="tls10")
    try:
        with serve_https(leaf, context_hook=tls10) as srv:
            r = await probe(srv.port, pki.root_pem)
    except (ssl.SSLError, ValueError) as exc:
        pytest.skip(f"local OpenSSL refuses a TLS 1.0 server: {exc}")
    if r.reason == Reason.TLS and "handshake failed" in r.summary.en:
        pytest.skip(f"local OpenSSL cannot negotiate TLS 1.0: {r.summary.en}")
    assert (r.status, r.reason) == (Status.WARN, Reason.TLS)
    assert r.details["tls_version"] == "TLSv1" and "only TLSv1 negotiated (minimum TLSv1.2)" in r.summary.en


async def test_hanging_server_ends_at_timeout_in_tls_phase() -> None:
    with hanging_server() as port:
        t0 = time.monotonic()
        r = await probe(port, None, timeout=1.0)
        elapsed = time.monotonic() - t0
    assert (r.status, r.reason, r.details["phase"]) == (Status.CRIT, Reason.TIMEOUT, "tls")
    assert 0.9 < elapsed < 3
    assert sample(r, "tls_handshake_success") == 0


async def test_hanging_server_through_the_runner() -> None:
    with hanging_server() as port:
        cfg = tls.Config(id="hang", host="127.0.0.1", port=port, timeout=1, interval=60)
        (r,) = await Runner().run(cfg)
    assert (r.status, r.reason, r.details.get("phase")) == (Status.CRIT, Reason.TIMEOUT, "tls")
    assert r.duration < 1.5


async def test_plain_tcp_service_is_a_handshake_failure(tcp_listener: tuple[str, int]) -> None:
    r = await probe(tcp_listener[1], None)
    assert (r.status, r.reason, r.details["phase"]) == (Status.CRIT, Reason.TLS, "tls")
    assert "handshake" in r.summary.en


async def test_refused_port_is_connect() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = await probe(port, None)
    assert (r.status, r.reason, r.details["phase"]) == (Status.CRIT, Reason.CONNECT, "connect")
    assert "connection refused" in r.summary.en


async def test_dns_failure_is_reported_as_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The public DNS is the one thing mocked: the resolver here is not on loopback."""

    async def fail(*_a: Any, **_k: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fail)
    cfg = tls.Config(id="d", host="dichvucong.gov.vn")
    r = await tls.probe(cfg, ProbeContext("d", "tls", timeout=2))
    assert (r.status, r.reason, r.details["phase"]) == (Status.CRIT, Reason.DNS, "dns")
    assert r.target == "dichvucong.gov.vn:443"


async def test_failed_verification_still_reports_version_and_every_date_problem(pki: TestPKI, tmp_path: Path) -> None:
    """OpenSSL stops at the first verify error; the version comes from the ServerHello, dates from the chain."""
    other = TestPKI(tmp_path / "other", name="Cục Chứng thực số")

    def tls12(ctx: ssl.SSLContext) -> None:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2

    with serve_https(other.leaf(days_left=-2, filename="old"), context_hook=tls12) as srv:
        r = await probe(srv.port, pki.root_pem)
    assert (r.status, r.reason) == (Status.CRIT, Reason.TLS)
    assert r.details["tls_version"] == "TLSv1.2" and r.details["cipher"] and r.details["cipher_bits"]
    assert [(i["issue"], i["depth"]) for i in r.details["verify_issues"]] == [("expired", 0), ("unknown_issuer", 1)]
    assert sample(r, "tls_handshake_success") == 1 and sample(r, "tls_verified") == 0


async def test_unusable_ca_file_is_a_config_result(pki: TestPKI, tmp_path: Path) -> None:
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    with serve_https(pki.leaf(filename="badca")) as srv:
        r = await probe(srv.port, bad)
    assert (r.status, r.reason, r.details["phase"]) == (Status.CRIT, Reason.CONFIG, "config")
    assert "ca_file" in r.summary.en and "[SSL" not in r.summary.en and "_ssl.c" not in r.summary.en


def test_tls_kind_uses_public_apis_only() -> None:
    """Issue #15: certificates through cryptography.x509, no private ssl attributes, no own host-name matcher."""
    import dxagent.checks.tls as pkg

    folder = Path(pkg.__file__).parent
    source = "\n".join(p.read_text() for p in sorted(folder.glob("*.py"))) + (folder.parent / "certfile.py").read_text()
    for banned in ("import _ssl", "_sslobj", "get_unverified_chain", "hostname_matches", "_dns_match",
                   "cryptography.hazmat._", "OpenSSL._"):
        assert banned not in source, banned
    assert "from cryptography import x509" in source
    assert not (folder / "x509.py").exists()


async def test_system_roots_are_read_lazily_from_the_hashed_folder(pki: TestPKI, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A root found by subject hash in the system folder is trusted, and no other root is parsed (memory)."""
    import shutil
    import subprocess

    from dxagent.checks.tls import client as _tlsclient

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to name a root by its subject hash")
    folder = tmp_path / "certs"
    folder.mkdir()
    digest = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(pki.root_pem)], capture_output=True,
                            text=True, check=True).stdout.strip()
    shutil.copy(pki.root_pem, folder / f"{digest}.0")
    monkeypatch.setenv("SSL_CERT_DIR", str(folder))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    assert _tlsclient.system_trust() == {"capath": str(folder)}
    with serve_https(pki.leaf(filename="lazy")) as srv:
        r = await probe(srv.port, None)
    assert r.status == Status.OK and sample(r, "tls_verified") == 1, r.summary
    ctx = _tlsclient.context(None)  # the `ssl` context the http kind uses: same lazy store

    def handshake() -> None:
        with socket.create_connection(("127.0.0.1", srv.port)) as raw, ctx.wrap_socket(raw, server_hostname="localhost"):
            pass

    with serve_https(pki.leaf(filename="lazy2")) as srv:
        await asyncio.to_thread(handshake)
    assert ctx.cert_store_stats()["x509_ca"] == 1  # the one root the chain needed, not the whole store
    monkeypatch.setenv("SSL_CERT_FILE", ssl.get_default_verify_paths().openssl_cafile)  # the system's own bundle
    assert _tlsclient.system_trust() == {"capath": str(folder)}
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.root_pem))  # another bundle is honoured as before
    assert _tlsclient.system_trust() == {}


# ----------------------------------------------------------------------------- STARTTLS


async def test_smtp_starttls_with_aiosmtpd(pki: TestPKI) -> None:
    leaf = pki.leaf(filename="smtp")
    with smtp_server(server_context(leaf)) as port:
        r = await probe(port, pki.root_pem, starttls="smtp")
    assert r.status == Status.OK, r.summary
    assert r.details["banner"].startswith("220 ") and r.details["serial"] == format(leaf.certificate.serial_number, "X")
    assert r.details["name_check"] == "match"  # OpenSSL's name check ran over a second STARTTLS dialogue


@pytest.mark.parametrize("proto", ["imap", "pop3"])
async def test_imap_pop3_starttls(pki: TestPKI, proto: str) -> None:
    leaf = pki.leaf(days_left=20, filename=proto)
    async with mail_starttls_server(proto, server_context(leaf)) as port:
        r = await probe(port, pki.root_pem, starttls=proto)
    assert (r.status, r.reason) == (Status.WARN, Reason.THRESHOLD), r.summary
    assert sample(r, "tls_verified") == 1


@pytest.mark.parametrize("proto", ["imap", "pop3"])
async def test_starttls_refused(pki: TestPKI, proto: str) -> None:
    async with mail_starttls_server(proto, server_context(pki.leaf(filename="refuse")), refuse=True) as port:
        r = await probe(port, pki.root_pem, starttls=proto)
    assert (r.status, r.reason, r.details["phase"]) == (Status.CRIT, Reason.CONTENT, "starttls")
    assert "refused" in r.summary.en


async def test_starttls_on_a_non_mail_port(tcp_listener: tuple[str, int], pki: TestPKI) -> None:
    r = await probe(tcp_listener[1], pki.root_pem, starttls="imap")  # greets "220 …", not "* OK"
    assert (r.status, r.reason, r.details["phase"]) == (Status.CRIT, Reason.CONTENT, "starttls")


# ----------------------------------------------------------------------------- blackbox_exporter


BLACKBOX = """\
modules:
  tls_any:
    prober: tcp
    timeout: 5s
    tcp:
      tls: true
      tls_config: {{insecure_skip_verify: true}}
  tls_verify:
    prober: tcp
    timeout: 5s
    tcp:
      tls: true
      tls_config: {{ca_file: "{ca}", server_name: localhost}}
"""


async def test_cross_check_with_blackbox_exporter(pki: TestPKI, tmp_path: Path) -> None:
    """Expiry and success agree with blackbox_exporter; where it verifies nothing it has no expiry, we do."""
    servers = {
        "valid": (pki.leaf(filename="bb-valid"), {}),
        "expired": (pki.leaf(days_left=-3, filename="bb-expired"), {}),
        "self_signed": (pki.leaf(self_signed=True, filename="bb-self"), {}),
        "incomplete_chain": (pki.leaf(filename="bb-noint"), {"send_chain": False}),
        "wrong_host": (pki.leaf(hosts=("wrong.example",), filename="bb-wrong"), {}),
    }
    with blackbox_exporter(BLACKBOX.format(ca=pki.root_pem), tmp_path) as base:
        for name, (leaf, kw) in servers.items():
            with serve_https(leaf, **kw) as srv:
                ours = await probe(srv.port, pki.root_pem)
                target = urllib.parse.quote(f"127.0.0.1:{srv.port}")
                bb_any = await asyncio.to_thread(scrape, f"{base}/probe?module=tls_any&target={target}")
                bb_ver = await asyncio.to_thread(scrape, f"{base}/probe?module=tls_verify&target={target}")
            earliest = min(s.value for s in ours.samples if s.name == "tls_cert_not_after_timestamp_seconds")
            assert bb_any["probe_success"] == 1, name
            assert bb_any["probe_ssl_earliest_cert_expiry"] == earliest, name
            assert bb_ver["probe_success"] == sample(ours, "tls_verified"), name
            if bb_ver["probe_success"]:
                assert bb_ver["probe_ssl_earliest_cert_expiry"] <= earliest, name  # may include the root
            else:
                assert "probe_ssl_earliest_cert_expiry" not in bb_ver, name  # the gap we close
                assert sample(ours, "tls_cert_not_after_timestamp_seconds", position="0") == leaf.not_after.timestamp()


def _odd(name: Any, key: Any, *, sans: list[Any] | None = None, ca: bool | None = None, algorithm: Any = None) -> Any:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519

    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(7)
         .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30)))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    edwards = isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey))
    return b.sign(key, None if edwards else (algorithm or hashes.SHA256()))


def test_facts_of_odd_certificates_come_from_cryptography() -> None:
    """Keys, names, SANs and algorithms the old DER reader was compared on, now read by cryptography.x509."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'Sở "TT&TT", Hà Nội'),
                      x509.NameAttribute(NameOID.COMMON_NAME, "#hash\\back")])
    now = time.time()
    sans = [x509.DNSName("b.example"), x509.IPAddress(ipaddress.ip_address("2001:db8::1")), x509.RFC822Name("a@example.vn")]
    f = ci.facts(_odd(name, ec.generate_private_key(ec.SECP384R1()), sans=sans, ca=True, algorithm=hashes.SHA384()), now)
    assert f["sans"] == ["DNS:b.example", "IP:2001:db8::1", "email:a@example.vn"]
    assert (f["key_type"], f["key_bits"], f["signature_algorithm"], f["ca"]) == ("EC secp384r1", 384, "ecdsa-with-SHA384", True)
    assert f["subject_cn"] == "#hash\\back" and "Hà Nội" in f["subject"] and f["self_issued"]
    for key, facts in ((ed25519.Ed25519PrivateKey.generate(), ("Ed25519", 256, "ed25519")),
                       (ed448.Ed448PrivateKey.generate(), ("Ed448", 456, "ed448")),
                       (dsa.generate_private_key(2048), ("DSA", 2048, "dsa-with-sha256")),
                       (rsa.generate_private_key(65537, 3072), ("RSA", 3072, "sha256WithRSAEncryption"))):
        f = ci.facts(_odd(name, key), now)
        assert (f["key_type"], f["key_bits"], f["signature_algorithm"]) == facts
    f = ci.facts(_odd(x509.Name([]), ec.generate_private_key(ec.SECP256R1())), now)
    assert (f["subject"], f["subject_cn"], f["sans"], f["ca"], f["ca_issuers"]) == ("", "", [], False, [])


@pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive")  # one root has a negative serial
def test_facts_of_every_root_in_the_system_store() -> None:
    """Whatever a public CA put in its certificate, the facts come out (no exception, known key types)."""
    from cryptography import x509

    bundle = ssl.get_default_verify_paths().cafile
    if not bundle:
        pytest.skip("no system CA bundle")
    certs = x509.load_pem_x509_certificates(Path(bundle).read_bytes())
    assert len(certs) > 50
    for cert in certs:
        f = ci.facts(cert, time.time())
        assert f["key_type"] != "unknown" and f["key_bits"] and f["subject"] and f["ca"], f["subject"]

"""Tests of the certfile kind: pure judging and parsing, then real files (PEM, DER, PKCS#12) on disk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    load_pem_private_key,
    pkcs7,
    pkcs12,
)

from dxagent.checks import certfile
from dxagent.config import ConfigError, load_text
from dxagent.config.types import Secret
from dxagent.model import Reason, Result, Status
from dxagent.probe import ProbeContext
from tests.pki import Leaf, TestPKI

GOV = "Ban Cơ yếu Chính phủ"
TH = certfile.Config(id="c", paths=["/a"]).thresholds  # the kind's defaults: warn 30, crit 7 days
PW = b"Mk-7Qz!chungthu"


@pytest.mark.parametrize(("days", "expected"), [
    (30.0, Status.OK), (29.9, Status.WARN), (7.0, Status.WARN), (6.9, Status.CRIT), (0, Status.CRIT), (-10, Status.CRIT),
])
def test_judge_boundaries(days: float, expected: Status) -> None:
    status, reason = certfile.judge(TH, days)
    assert status == expected
    assert reason == (None if expected == Status.OK else Reason.THRESHOLD)


def test_judge_not_yet_valid_is_crit() -> None:
    assert certfile.judge(TH, 300, not_yet_valid=True) == (Status.CRIT, Reason.CONTENT)


@pytest.fixture(scope="module")
def gov(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(tmp_path_factory.mktemp("gov"), name=GOV)


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(tmp_path_factory.mktemp("other"), name="Viettel-CA")


def p12(leaf: Leaf, pki: TestPKI, password: bytes | None) -> bytes:
    key = load_pem_private_key(leaf.key.read_bytes(), None)
    enc = BestAvailableEncryption(password) if password else NoEncryption()
    return pkcs12.serialize_key_and_certificates(b"signer", key, leaf.certificate, [pki.intermediate], enc)


def test_parse_formats(gov: TestPKI) -> None:
    leaf = gov.leaf(cn="Nguyễn Văn A", filename="parse")
    assert certfile.parse(leaf.chain.read_bytes(), None)[0] == "pem"
    assert len(certfile.parse(leaf.chain.read_bytes(), None)[1]) == 2
    assert certfile.parse(leaf.key.read_bytes() + leaf.cert.read_bytes(), None)[1] == [leaf.certificate]
    fmt, certs = certfile.parse(leaf.certificate.public_bytes(Encoding.DER), None)
    assert (fmt, certs) == ("der", [leaf.certificate])
    fmt, certs = certfile.parse(pkcs7.serialize_certificates([leaf.certificate, gov.intermediate], Encoding.DER), None)
    assert fmt == "pkcs7" and len(certs) == 2
    fmt, certs = certfile.parse(p12(leaf, gov, b"s3cret"), b"s3cret")
    assert fmt == "pkcs12" and certs[0] == leaf.certificate and len(certs) == 2


def test_parse_errors_carry_reason_and_no_password(gov: TestPKI) -> None:
    leaf = gov.leaf(filename="parse-err")
    data = p12(leaf, gov, b"s3cret")
    with pytest.raises(certfile.FileError) as err:
        certfile.parse(data, b"wrong-pass")
    assert (err.value.reason, err.value.status) == (Reason.AUTH, Status.UNKNOWN)
    assert "wrong-pass" not in str(err.value) and "wrong-pass" not in err.value.text.vi
    with pytest.raises(certfile.FileError, match="needs a password"):
        certfile.parse(data, None)
    with pytest.raises(certfile.FileError) as err:
        certfile.parse(b"\x00garbage not a certificate", None)
    assert (err.value.reason, err.value.status) == (Reason.CONTENT, Status.CRIT)
    with pytest.raises(certfile.FileError, match="without a certificate"):
        certfile.parse(leaf.key.read_bytes(), None)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"checks\[0\]\.paths"):
        load_text("checks:\n  - {id: c, kind: certfile, paths: []}\n")
    with pytest.raises(ConfigError, match=r"x.yml:3: checks\[0\].password: environment variable DXAGENT_NO_SUCH_VAR"):
        load_text("checks:\n  - id: c\n    password: {env: DXAGENT_NO_SUCH_VAR}\n    kind: certfile\n    paths: [/a]\n", "x.yml")
    with pytest.raises(ConfigError, match="crit must not be above warn"):
        load_text("checks:\n  - {id: c, kind: certfile, paths: [/a], thresholds: {warn: 1, crit: 2}}\n")


def test_example_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DXAGENT_P12_PASSWORD", "x")
    cfg = load_text("checks:\n" + "\n".join("  " + line for line in certfile.EXAMPLE.splitlines()))
    assert cfg.checks[0].issuer_contains == GOV


async def run(tmp: Path, *paths: str, password: str | None = None, **extra: object) -> list[Result]:
    cfg = certfile.Config.model_validate({
        "id": "c", "paths": [str(tmp / p) if not p.startswith("/") else p for p in paths],
        **({"password": Secret(password, "test")} if password else {}), **extra})
    return await certfile.probe(cfg, ProbeContext("c", "certfile", timeout=5))


def by_target(results: list[Result]) -> dict[str, Result]:
    return {r.target: r for r in results}


def sample(r: Result, name: str) -> float:
    (value,) = [s.value for s in r.samples if s.name == name]
    return value


async def test_signing_certificate_folder(gov: TestPKI, other: TestPKI, tmp_path: Path) -> None:
    """A /srv/chungthu-style folder: good, expiring, expired, foreign, broken and locked files side by side."""
    folder = tmp_path / "chungthu"
    folder.mkdir()
    ok = gov.leaf(cn="Nguyễn Văn A", days_left=400, filename="a")
    soon = gov.leaf(cn="Trần Thị B", days_left=20, filename="b")
    gone = gov.leaf(cn="Lê Văn C", days_left=-10, filename="c")
    foreign = other.leaf(cn="Phạm D", days_left=3, filename="d")
    (folder / "a.p12").write_bytes(p12(ok, gov, PW))
    (folder / "b.pfx").write_bytes(p12(soon, gov, PW))
    (folder / "c.p12").write_bytes(p12(gone, gov, PW))
    (folder / "d.p12").write_bytes(p12(foreign, other, PW))
    (folder / "broken.p12").write_bytes(b"\x30\x82\x01\x00 truncated")
    (folder / "otherpass.p12").write_bytes(p12(ok, gov, b"different"))
    results = await run(tmp_path, "chungthu/*.p12", "chungthu/*.pfx", password=PW.decode(), issuer_contains="BAN CO YEU CHINH PHU",
                        skip_ca=True)
    r = by_target(results)
    a, b, c = (r[str(folder / n)] for n in ("a.p12", "b.pfx", "c.p12"))
    assert a.status == Status.OK and a.details["subject_cn"] == "Nguyễn Văn A" and "Nguyễn Văn A" in a.summary.vi
    assert a.details["issuer"] == f"CN={GOV} Intermediate CA,O={GOV},C=VN" and a.details["format"] == "pkcs12"
    assert 399.9 < a.details["days_left"] <= 400
    assert sample(a, "certfile_not_after_timestamp_seconds") == ok.not_after.timestamp()
    assert sample(a, "certfile_not_before_timestamp_seconds") == ok.not_before.timestamp()
    assert (b.status, b.reason) == (Status.WARN, Reason.THRESHOLD)
    assert (c.status, c.reason) == (Status.CRIT, Reason.THRESHOLD) and "expired 10.0 days ago" in c.summary.en
    assert c.details["days_left"] == pytest.approx(-10, abs=0.01)
    assert str(folder / "d.p12") not in r  # another issuer: filtered out, though it expires in 3 days
    assert (r[str(folder / "broken.p12")].status, r[str(folder / "broken.p12")].reason) == (Status.CRIT, Reason.CONTENT)
    wrong = r[str(folder / "otherpass.p12")]
    assert (wrong.status, wrong.reason) == (Status.UNKNOWN, Reason.AUTH)
    assert sample(wrong, "certfile_read_success") == 0
    assert len(results) == 5
    # hints name the file, the issuer and the limit crossed (issue #19)
    assert str(folder / "b.pfx") in b.hint.en and str(folder / "b.pfx") in b.hint.vi
    assert f"{GOV} Intermediate CA" in b.hint.en and "limit 30" in b.hint.en and "ngưỡng 30" in b.hint.vi
    assert str(folder / "c.p12") in c.hint.en and "expired on" in c.hint.en
    assert str(folder / "otherpass.p12") in wrong.hint.en and "`password: {env: NAME}`" in wrong.hint.en
    assert str(folder / "broken.p12") in r[str(folder / "broken.p12")].hint.en
    for res in results:
        assert PW.decode() not in repr(res.to_dict()) and PW.decode() not in repr(res)  # the password never leaks


async def test_pem_bundle_one_result_per_certificate(gov: TestPKI, tmp_path: Path) -> None:
    leaf = gov.leaf(filename="bundle")
    good = leaf.chain.read_bytes()
    bad_block = b"-----BEGIN CERTIFICATE-----\nMIIBroken==\n-----END CERTIFICATE-----\n"
    (tmp_path / "fullchain.pem").write_bytes(good + bad_block)
    results = await run(tmp_path, "fullchain.pem")
    r = by_target(results)
    base = str(tmp_path / "fullchain.pem")
    assert set(r) == {base, f"{base}#1", f"{base}#2"}
    assert r[base].details["subject_cn"] == "localhost"
    assert r[f"{base}#1"].details["ca"] is True
    assert (r[f"{base}#2"].status, r[f"{base}#2"].reason) == (Status.CRIT, Reason.CONTENT)


async def test_der_file_and_missing_and_unmatched(gov: TestPKI, tmp_path: Path) -> None:
    leaf = gov.leaf(days_left=5, filename="der")
    (tmp_path / "server.cer").write_bytes(leaf.certificate.public_bytes(Encoding.DER))
    results = await run(tmp_path, "server.cer", "missing.pem", "nothing/*.p12")
    r = by_target(results)
    assert (r[str(tmp_path / "server.cer")].status, r[str(tmp_path / "server.cer")].details["format"]) == (Status.CRIT, "der")
    assert (r[str(tmp_path / "missing.pem")].status, r[str(tmp_path / "missing.pem")].reason) == (Status.CRIT, Reason.CONFIG)
    unmatched = r[str(tmp_path / "nothing/*.p12")]
    assert (unmatched.status, unmatched.reason) == (Status.WARN, Reason.CONFIG)
    assert "no file matches" in unmatched.summary.en and "không có tệp nào khớp" in unmatched.summary.vi
    assert str(tmp_path / "nothing") in unmatched.hint.en and "*.p12" in unmatched.hint.vi
    assert str(tmp_path / "missing.pem") in r[str(tmp_path / "missing.pem")].hint.en


async def test_not_yet_valid_file(gov: TestPKI, tmp_path: Path) -> None:
    leaf = gov.leaf(starts_in_days=3, filename="future")
    results = await run(tmp_path, str(leaf.cert))
    assert (results[0].status, results[0].reason) == (Status.CRIT, Reason.CONTENT)
    assert "not valid before" in results[0].summary.en
    assert str(leaf.cert) in results[0].hint.en and "`clock`" in results[0].hint.en


PERMISSION_SCRIPT = """
import asyncio, json, sys
from dxagent.checks import certfile
from dxagent.probe import ProbeContext
cfg = certfile.Config(id="c", paths=[sys.argv[1]])
print(json.dumps([r.to_dict() for r in asyncio.run(certfile.probe(cfg, ProbeContext("c", "certfile")))]))
"""


def test_unreadable_file(gov: TestPKI) -> None:
    """Root reads anything, so as root the probe runs as `nobody` (setpriv) against a mode-000 file."""
    folder = Path(tempfile.mkdtemp(prefix="dxagent-certfile-"))
    try:
        folder.chmod(0o755)
        path = folder / "locked.pem"
        path.write_bytes(gov.leaf(filename="locked").cert.read_bytes())
        path.chmod(0)
        cmd = [sys.executable, "-c", PERMISSION_SCRIPT, str(path)]
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                pytest.skip("running as root without setpriv: cannot drop privileges to test a permission error")
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
        (r,) = json.loads(out)
        assert (r["status"], r["reason"], r["target"]) == ("UNKNOWN", "permission", str(path))
        assert r["hint"]
    finally:
        shutil.rmtree(folder)


async def test_fifo_is_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.pem")
    (r,) = await run(tmp_path, "pipe.pem")
    assert (r.status, r.reason) == (Status.UNKNOWN, Reason.CONTENT) and "regular" in r.summary.en


async def test_filter_that_matches_nothing_warns(other: TestPKI, tmp_path: Path) -> None:
    results = await run(tmp_path, str(other.leaf(filename="nomatch").chain), issuer_contains=GOV)
    assert len(results) == 1 and (results[0].status, results[0].reason) == (Status.WARN, Reason.CONTENT)
    assert "2 certificates found, none issued by" in results[0].summary.en


async def test_max_files_and_recursive_glob(gov: TestPKI, tmp_path: Path) -> None:
    pem = gov.leaf(filename="many").cert.read_bytes()
    for i in range(4):
        sub = tmp_path / "tree" / f"d{i}"
        sub.mkdir(parents=True)
        (sub / "c.pem").write_bytes(pem)
    results = await run(tmp_path, "tree/**/*.pem", max_files=3)
    certs = [r for r in results if "max_files" not in r.summary.en]
    assert len(certs) == 3 and all(r.status == Status.OK for r in certs)
    (skipped,) = [r for r in results if "max_files" in r.summary.en]
    assert skipped.status == Status.WARN


async def test_large_and_directory_paths(tmp_path: Path) -> None:
    (tmp_path / "big.pem").write_bytes(b"x" * (certfile.MAX_BYTES + 10))
    (tmp_path / "dir.pem").mkdir()
    r = by_target(await run(tmp_path, "big.pem", "dir.pem"))
    assert r[str(tmp_path / "big.pem")].status == Status.CRIT and "1 MiB" in r[str(tmp_path / "big.pem")].summary.en
    assert r[str(tmp_path / "dir.pem")].status == Status.UNKNOWN


"""`http` kind: config validation, the pure judge, helpers, and end-to-end runs against loopback servers.

Hostile servers (stalls, trickles, floods) are in test_http_hostile.py.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from dxagent import aio
from dxagent.checks.http import EXAMPLE, METRICS, Config, judge
from dxagent.checks.http.judge import Failure, Measurement, parse_status_spec, redact_url, status_matches
from dxagent.checks.http.trace import BodyReader, html_title
from dxagent.config import ConfigError, load_text
from dxagent.model import Reason, Result, Status
from dxagent.runner import Runner
from tests.checks import http_servers as hs
from tests.pki import HTTPSServer, TestPKI, serve_https

VI_MARKS = set("ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹáàãéèíìóòõúùýĐ")


def check(**fields: Any) -> Config:
    return Config.model_validate({"id": "t", "kind": "http", "timeout": "3s", **fields})


def run(**fields: Any) -> Result:
    (result,) = aio.run(Runner().run_all([check(**fields)]))
    return result


def samples(r: Result) -> dict[str, float]:
    return {s.name + "".join(f"{{{v}}}" for _, v in s.labels): s.value for s in r.samples}


# --- config -------------------------------------------------------------------------------------

def test_example_validates() -> None:
    text = "checks:\n" + "\n".join("  " + line for line in EXAMPLE.splitlines())
    cfg = load_text(text, "example.yml")
    assert [c.id for c in cfg.checks] == ["portal-dichvucong", "tthc-tinh"]
    assert cfg.checks[0].thresholds.warn == 3.0 and cfg.checks[0].require_tls


@pytest.mark.parametrize(("snippet", "field", "message"), [
    ("url: ftp://x/", "checks[0].url", "must start with http:// or https://"),
    ("url: https://user:pw@x/", "checks[0].url", "must not contain user:password@"),
    ("url: 'https://[::1/'", "checks[0].url", "invalid URL"),
    ("url: http://x/\n    expect: {body_regex: ['ok', '(unclosed']}", "checks[0].expect.body_regex[1]",
     "invalid regular expression"),
    ("url: http://x/\n    expect: {headers: {Server: '[z-a]'}}", "checks[0].expect.headers.Server",
     "invalid regular expression"),
    ("url: http://x/\n    expect: {status: ['2xx', '299-200']}", "checks[0].expect.status[1]", "reversed"),
    ("url: http://x/\n    expect: {status: [700]}", "checks[0].expect.status[0]", "outside 100-599"),
    ("url: http://x/\n    expect: {status: ['ok']}", "checks[0].expect.status[0]", "invalid status"),
    ("url: http://x/\n    ca_file: /nonexistent/ca.pem", "checks[0].ca_file", "file not found"),
    ("url: http://x/\n    max_body_bytes: 1GiB", "checks[0].max_body_bytes", "less than or equal"),
    ("url: http://x/\n    method: HEAD\n    expect: {body_contains: [a]}", "checks[0]", "body expectations need a body"),
    ("url: http://x/\n    thresholds: {warn: 5s, crit: 1s}", "checks[0].thresholds", "warn must not be above crit"),
    ("url: http://x/\n    require_tls: true\n    follow_redirects: false", "checks[0]", "require_tls"),
    ("url: http://x/\n    bearer_token: abc\n    basic_auth: {username: u, password: p}", "checks[0]", "not both"),
    ("url: http://x/\n    headers: {'Bad Name': x}", "checks[0].headers", "invalid header name"),
    ("url: http://x/\n    headers: {Content-Length: '3'}", "checks[0].headers", "set by the HTTP client"),
    ("url: http://x/\n    headers: {X-Ten: 'giá trị'}", "checks[0].headers", "must be printable ASCII"),
    ("url: http://x/\n    bearer_token: 'tôken'", "checks[0]", "bearer_token must be printable ASCII"),
    ("url: http://x/\n    proxy: http://u:p@proxy:3128", "checks[0].proxy", "must not contain user:password@"),
    ("url: http://x/\n    max_redirect: 3", "checks[0].max_redirect", "unknown field"),
])
def test_bad_config_names_field_and_line(snippet: str, field: str, message: str) -> None:
    text = f"checks:\n  - id: p\n    kind: http\n    interval: 1m\n    {snippet}\n"
    with pytest.raises(ConfigError) as err:
        load_text(text, "bad.yml")
    problems = [p for p in err.value.problems if p.field == field]
    assert problems, f"no problem for {field}: {err.value}"
    assert message in problems[0].message and problems[0].line is not None


def test_ca_file_that_is_not_pem(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(Exception, match="not a readable PEM CA bundle"):
        check(url="https://x/", ca_file=str(bad))


def test_secret_from_env_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DX_HTTP_PW", hs.PASSWORD)
    cfg = check(url="http://x/", basic_auth={"username": "u", "password": {"env": "DX_HTTP_PW"}})
    assert cfg.basic_auth.password.reveal() == hs.PASSWORD
    assert hs.PASSWORD not in repr(cfg) and hs.PASSWORD not in cfg.model_dump_json()


# --- pure parts -----------------------------------------------------------------------------------

def test_status_specs() -> None:
    assert [parse_status_spec(v) for v in (200, "2xx", "200 - 299", "301")] == ["200", "2xx", "200-299", "301"]
    specs = ("2xx", "301-302", "418")
    assert [c for c in (199, 200, 299, 300, 301, 302, 303, 418, 500) if status_matches(specs, c)] == \
        [200, 299, 301, 302, 418]


def measured(**kw: Any) -> Measurement:
    base = {"host": "portal.example", "total": 0.2, "status_code": 200, "http_version": "HTTP/1.1", "tls": True,
            "body_text": "<title>Cổng</title> hoạt động", "body_bytes": 30, "body_read": True,
            "headers": {"server": "nginx", "content-type": "text/html"}}
    return Measurement(**{**base, **kw})


@pytest.mark.parametrize(("fields", "m", "status", "reason", "problem"), [
    ({}, {}, Status.OK, None, None),
    ({}, {"status_code": 503}, Status.CRIT, Reason.STATUS, "status"),
    ({}, {"status_code": 401}, Status.CRIT, Reason.AUTH, "status"),
    ({}, {"status_code": 403}, Status.CRIT, Reason.AUTH, "status"),
    ({"expect": {"status": [401]}}, {"status_code": 401}, Status.OK, None, None),
    ({"expect": {"status": ["3xx"]}, "follow_redirects": False}, {"status_code": 301, "location": "/x"}, Status.OK, None, None),
    ({"follow_redirects": False}, {"status_code": 301, "location": "/x"}, Status.CRIT, Reason.STATUS, "status"),
    ({"expect": {"body_contains": ["hoạt động"]}}, {}, Status.OK, None, None),
    ({"expect": {"body_contains": ["bảo trì"]}}, {}, Status.CRIT, Reason.CONTENT, "body_contains"),
    ({"expect": {"body_regex": ["^<title>"]}}, {}, Status.OK, None, None),
    ({"expect": {"body_regex": ["Lỗi"]}}, {}, Status.CRIT, Reason.CONTENT, "body_regex"),
    ({"expect": {"body_not_regex": ["(?i)error|lỗi"]}}, {"body_text": "Lỗi hệ thống"}, Status.CRIT, Reason.CONTENT,
     "body_not_regex"),
    ({"expect": {"headers": {"Server": "^nginx$"}}}, {}, Status.OK, None, None),
    ({"expect": {"headers": {"X-Frame-Options": "DENY"}}}, {}, Status.CRIT, Reason.CONTENT, "header"),
    ({"thresholds": {"warn": 0.1, "crit": 1}}, {"total": 0.1}, Status.OK, None, None),
    ({"thresholds": {"warn": 0.1, "crit": 1}}, {"total": 0.5}, Status.WARN, Reason.THRESHOLD, "slow"),
    ({"thresholds": {"warn": "100ms", "crit": "1s"}}, {"total": 1.5}, Status.CRIT, Reason.THRESHOLD, "slow"),
    ({}, {"body_limit_hit": True}, Status.WARN, Reason.CONTENT, "body_limit"),
    ({"require_tls": True}, {"tls": False}, Status.CRIT, Reason.TLS, "not_https"),
    ({"expect": {"status": [503]}, "thresholds": {"crit": 0.1}}, {"status_code": 503, "total": 2}, Status.CRIT,
     Reason.THRESHOLD, "slow"),
])
def test_judge(fields: dict[str, Any], m: dict[str, Any], status: Status, reason: Reason | None,
               problem: str | None) -> None:
    v = judge(check(url="https://portal.example/", **fields), measured(**m))
    assert (v.status, v.reason, v.problem) == (status, reason, problem)
    assert v.summary.en and v.summary.vi
    if status != Status.OK:
        assert v.hint is not None and VI_MARKS & set(v.hint.vi) and v.hint.en != v.hint.vi


@pytest.mark.parametrize(("failure", "reason", "words_en", "words_vi"), [
    (Failure(Reason.DNS, "dns", "dns", "Name or service not known"), Reason.DNS, "cannot resolve", "phân giải"),
    (Failure(Reason.TIMEOUT, "tls", "timeout", ""), Reason.TIMEOUT, "timeout in phase tls", "bắt tay TLS"),
    (Failure(Reason.TIMEOUT, "transfer", "timeout", ""), Reason.TIMEOUT, "phase transfer", "tải nội dung"),
    (Failure(Reason.TLS, "tls", "expired", "certificate has expired"), Reason.TLS, "expired", "lỗi TLS"),
    (Failure(Reason.CONNECT, "connect", "refused", "connection refused"), Reason.CONNECT, "refused", "từ chối"),
    (Failure(Reason.STATUS, "ttfb", "redirect_loop", "redirect loop"), Reason.STATUS, "redirect loop", "chuyển hướng"),
    (Failure(Reason.CONTENT, "ttfb", "protocol", "header too big"), Reason.CONTENT, "invalid HTTP", "không hợp lệ"),
])
def test_judge_failures(failure: Failure, reason: Reason, words_en: str, words_vi: str) -> None:
    v = judge(check(url="https://portal.example/"), Measurement(host="portal.example", total=1.2, failure=failure))
    assert v.status == Status.CRIT and v.reason == reason
    assert words_en in v.summary.en and words_vi in v.summary.vi
    assert v.hint is not None and VI_MARKS & set(v.hint.vi)


@pytest.mark.parametrize(("fields", "m", "words"), [
    ({}, {"failure": Failure(Reason.CONNECT, "connect", "refused", "connection refused")}, ["portal.example:8443"]),
    ({}, {"failure": Failure(Reason.DNS, "dns", "dns", "Name or service not known")}, ["portal.example"]),
    ({}, {"failure": Failure(Reason.TIMEOUT, "ttfb", "timeout", "")}, ["portal.example:8443"]),
    ({}, {"failure": Failure(Reason.TLS, "tls", "expired", "certificate has expired")}, ["portal.example:8443"]),
    ({"max_redirects": 4}, {"failure": Failure(Reason.STATUS, "ttfb", "redirect_limit", "more than 4 redirects")},
     ["https://portal.example:8443/dvc", "4"]),
    ({}, {"status_code": 500}, ["portal.example:8443", "500"]),
    ({"expect": {"status": [200]}}, {"status_code": 404}, ["https://portal.example:8443/dvc", "200"]),
    ({"thresholds": {"warn": "250ms", "crit": 5}}, {"total": 0.5}, ["portal.example", "0.25 s", "warn"]),
])
def test_hints_name_the_checks_own_values(fields: dict[str, Any], m: dict[str, Any], words: list[str]) -> None:
    """Issue #19: a hint names the check's host, port, URL (without credentials) and the limit crossed."""
    v = judge(check(url="https://portal.example:8443/dvc", **fields), measured(**m))
    assert v.hint is not None
    for word in words:
        assert word in v.hint.en, (word, v.hint.en)
        assert word.replace(" s", " giây") in v.hint.vi or word in v.hint.vi, (word, v.hint.vi)


def test_body_reader_bounds_plain_and_gzip() -> None:
    plain = BodyReader(1000)
    assert plain.feed(b"a" * 600) and not plain.feed(b"b" * 600)
    assert len(plain.decoded) == 1000 and plain.limit_hit
    exact = BodyReader(10)
    assert exact.feed(b"0123456789") and not exact.limit_hit  # exactly the limit is not over it
    bomb = BodyReader(4096, "gzip")
    payload = gzip.compress(b"\0" * 10_000_000)
    assert not bomb.feed(payload) and len(bomb.decoded) == 4096 and bomb.limit_hit
    ok = BodyReader(4096, "deflate")
    assert ok.feed(zlib.compress("Cổng dịch vụ công".encode())) and ok.text("text/html") == "Cổng dịch vụ công"
    mislabelled = BodyReader(100, "gzip")
    assert mislabelled.feed(b"plain text") and bytes(mislabelled.decoded) == b"plain text"


def test_title_and_redaction() -> None:
    assert html_title("<html><TITLE lang=vi>\n Cổng &amp; DVC\x1b[31m </title>") == "Cổng & DVC [31m"
    assert html_title("<p>no title</p>") is None
    assert html_title("<title>" + "x" * 500 + "</title>") == "x" * 200
    assert redact_url("https://u:p@host:8443/a?b=c") == "https://host:8443/a?b=c"
    assert redact_url("http://host/") == "http://host/"


# --- end to end on loopback -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(tmp_path_factory.mktemp("pki"))


def test_plain_page_phases_samples_and_details(web: HTTPSServer) -> None:
    r = run(url=f"http://localhost:{web.port}/", expect={"headers": {"Server": "^test-portal"}})
    assert r.status == Status.OK, r.summary
    s = samples(r)
    assert s["http_success"] == 1 and s["http_status_code"] == 200 and s["http_ssl"] == 0
    assert s["http_version"] == 1.1 and s["http_redirects"] == 0 and s["http_body_bytes"] == len(hs.PAGE)
    assert s["http_content_length_bytes"] == len(hs.PAGE) and s["http_body_limit_reached"] == 0
    phases = {p: s[f"http_duration_seconds{{{p}}}"] for p in ("dns", "connect", "tls", "request", "ttfb", "transfer")}
    assert phases["tls"] == 0 and all(phases[p] > 0 for p in ("dns", "connect", "request", "ttfb"))
    assert sum(phases.values()) <= s["http_duration_seconds{total}"]
    assert set(n.split("{")[0] for n in s) <= set(METRICS)
    d = r.details
    assert d["title"] == "Cổng Dịch vụ công & thử" and d["remote_address"] == "127.0.0.1"
    assert d["headers"] == {"server": "test-portal/1.0", "content-type": "text/html; charset=utf-8"}
    assert "trong" in r.summary.vi and "200 HTTP/1.1" in r.summary.en


@pytest.mark.parametrize(("path", "fields", "status", "reason"), [
    ("status/404", {}, Status.CRIT, Reason.STATUS),
    ("status/404", {"expect": {"status": ["4xx"]}}, Status.OK, None),
    ("status/503", {"expect": {"status": ["200-299", 503]}}, Status.OK, None),
    ("status/500", {}, Status.CRIT, Reason.STATUS),
    ("", {"expect": {"body_contains": ["Trạng thái: hoạt động"], "body_regex": ["<h1>.*tỉnh</h1>"]}}, Status.OK, None),
    ("", {"expect": {"body_not_regex": ["hoạt động"]}}, Status.CRIT, Reason.CONTENT),
    ("gzip", {"expect": {"body_contains": ["Cổng dịch vụ công tỉnh"]}}, Status.OK, None),
    ("", {"max_body_bytes": 20}, Status.WARN, Reason.CONTENT),
    ("", {"method": "HEAD"}, Status.OK, None),
    ("echo", {"method": "POST", "body": "xin chào", "expect": {"body_contains": ["POST xin chào"]}}, Status.OK, None),
    ("slow?s=0.3", {"thresholds": {"warn": "100ms"}}, Status.WARN, Reason.THRESHOLD),
])
def test_status_and_content(web: HTTPSServer, path: str, fields: dict[str, Any], status: Status,
                            reason: Reason | None) -> None:
    r = run(url=f"{web.url}{path}", **fields)
    assert (r.status, r.reason) == (status, reason), r.summary
    assert samples(r)["http_success"] == (status != Status.CRIT)


def test_basic_auth_from_env_and_no_leak(web: HTTPSServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DX_TTHC_PW", hs.PASSWORD)
    good = run(url=f"{web.url}auth", basic_auth={"username": hs.USER, "password": {"env": "DX_TTHC_PW"}})
    assert good.status == Status.OK, good.summary
    monkeypatch.setenv("DX_TTHC_PW", "wrong")
    bad = run(url=f"{web.url}auth", basic_auth={"username": hs.USER, "password": {"env": "DX_TTHC_PW"}})
    assert bad.status == Status.CRIT and bad.reason == Reason.AUTH and "401" in bad.summary.en
    assert "basic_auth" in bad.hint.en
    none = run(url=f"{web.url}bearer")
    assert none.reason == Reason.AUTH and "403" in none.summary.en
    assert run(url=f"{web.url}bearer", bearer_token=hs.TOKEN).status == Status.OK
    for r in (good, bad):
        text = json.dumps([r.to_dict("en"), r.to_dict("vi")], ensure_ascii=False)
        assert hs.PASSWORD not in text and "wrong" not in text


def test_redirects(web: HTTPSServer) -> None:
    r = run(url=f"{web.url}redirect/3")
    assert r.status == Status.OK and r.details["redirects"] == 3 and r.details["final_url"].endswith("/redirect/0")
    assert samples(r)["http_redirects"] == 3
    r = run(url=f"{web.url}redirect/3", follow_redirects=False)
    assert r.status == Status.CRIT and r.reason == Reason.STATUS and "follow_redirects" in r.hint.en
    assert run(url=f"{web.url}redirect/3", follow_redirects=False, expect={"status": [302]}).status == Status.OK
    r = run(url=f"{web.url}redirect/5", max_redirects=2)
    assert r.status == Status.CRIT and r.reason == Reason.STATUS and r.details["error"] == "redirect_limit"
    assert "more than 2 redirects" in r.summary.en and "max_redirects" in r.summary.vi
    r = run(url=f"{web.url}creds-redirect", follow_redirects=False)
    assert r.reason == Reason.STATUS and "http://portal.example/" in r.hint.en and "leaked-pw" not in json.dumps(r.to_dict())
    r = run(url=f"{web.url}goto?to=ftp://files.example/x")
    assert r.reason == Reason.STATUS and r.details["error"] == "bad_redirect" and "ftp" in r.summary.en


def test_credentials_stay_with_their_origin(web: HTTPSServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with serve_https(None, hs.RouteHandler) as other:
        hs.SEEN_AUTH.clear()
        same = run(url=f"{web.url}goto?to=/echo-auth", bearer_token=hs.TOKEN)
        cross = run(url=f"{web.url}goto?to={other.url}echo-auth", bearer_token=hs.TOKEN)
    assert same.status == cross.status == Status.OK
    seen = list(hs.SEEN_AUTH)
    assert seen == [f"Bearer {hs.TOKEN}", None]


def test_dns_failure_phase_without_network() -> None:
    # An IPv4 literal with ip_family ipv6 fails in our resolver step without sending any packet.
    r = run(url="http://127.0.0.1:9/", ip_family="ipv6")
    assert r.status == Status.CRIT and r.reason == Reason.DNS and r.details["phase"] == "dns"
    assert samples(r)["http_success"] == 0 and samples(r)["http_status_code"] == 0


def test_refused(web: HTTPSServer) -> None:
    from tests.pki import free_port

    r = run(url=f"http://127.0.0.1:{free_port()}/")
    assert r.status == Status.CRIT and r.reason == Reason.CONNECT and r.details["phase"] == "connect"
    assert "từ chối" in r.summary.vi


def test_https_valid_with_ca_file(pki: TestPKI, tls_web: HTTPSServer) -> None:
    leaf = pki.leaf(filename="web")  # same names; the server's own leaf is checked via its not_after below
    r = run(url=f"https://localhost:{tls_web.port}/", ca_file=str(pki.root_pem), require_tls=True)
    assert r.status == Status.OK, r.summary
    s = samples(r)
    assert s["http_ssl"] == 1 and s["http_duration_seconds{tls}"] > 0
    assert abs(s["http_ssl_earliest_cert_expiry_timestamp_seconds"] - leaf.not_after.timestamp()) < 120
    assert r.details["tls_version"].startswith("TLS")


def test_require_tls_via_redirect(pki: TestPKI, web: HTTPSServer, tls_web: HTTPSServer) -> None:
    r = run(url=f"{web.url}goto?to=https://127.0.0.1:{tls_web.port}/&code=301", ca_file=str(pki.root_pem),
            require_tls=True)
    assert r.status == Status.OK and r.details["redirects"] == 1 and r.details["tls"] is True
    r = run(url=web.url, require_tls=True)
    assert r.status == Status.CRIT and r.reason == Reason.TLS and r.details["problem"] == "not_https"


@pytest.mark.parametrize(("variant", "code", "message"), [
    ("expired", "expired", "certificate has expired"),
    ("not_yet_valid", "not_yet_valid", "not yet valid"),
    ("self_signed", "self_signed", "self-signed certificate"),
    ("wrong_host", "hostname_mismatch", "mismatch"),
    ("unknown_ca", "unknown_issuer", "unable to get local issuer certificate"),
    ("no_intermediate", "unknown_issuer", "unable to get local issuer certificate"),
])
def test_https_certificate_failures(pki: TestPKI, tmp_path: Path, variant: str, code: str, message: str) -> None:
    send_chain = variant != "no_intermediate"
    leaf = {
        "expired": lambda: pki.leaf(days_left=-2, filename="x"),
        "not_yet_valid": lambda: pki.leaf(starts_in_days=3, filename="x"),
        "self_signed": lambda: pki.leaf(self_signed=True, filename="x"),
        "wrong_host": lambda: pki.leaf(hosts=("wrong.example",), filename="x"),
        "unknown_ca": lambda: TestPKI(tmp_path / "other").leaf(),
        "no_intermediate": lambda: pki.leaf(filename="x"),
    }[variant]()
    with serve_https(leaf, send_chain=send_chain) as srv:
        r = run(url=srv.url, ca_file=str(pki.root_pem))
        skipped = run(url=srv.url, insecure_skip_verify=True)
    assert r.status == Status.CRIT and r.reason == Reason.TLS, r.summary
    assert r.details["error"] == code and r.details["phase"] == "tls" and message in r.summary.en
    assert r.hint is not None and VI_MARKS & set(r.hint.vi)
    assert skipped.status == Status.OK, skipped.summary  # measured anyway when told not to verify
    expiry = samples(skipped)["http_ssl_earliest_cert_expiry_timestamp_seconds"]
    assert abs(expiry - leaf.not_after.timestamp()) < 2


def test_http2(pki: TestPKI) -> None:
    leaf = pki.leaf(filename="h2")
    servers = hs.RawServers()
    try:
        port = servers.add(hs.h2_handler, hs.server_context(str(leaf.chain), str(leaf.key), ["h2"]))
        r = run(url=f"https://127.0.0.1:{port}/", http2=True, ca_file=str(pki.root_pem),
                expect={"body_contains": ["ok over h2"]})
    finally:
        servers.close()
    assert r.status == Status.OK, r.summary
    assert samples(r)["http_version"] == 2 and r.details["http_version"] == "HTTP/2"
    assert r.details["title"] == "h2 portal"


def test_every_request_goes_through_httpx_public_api(pki: TestPKI) -> None:
    """One code path (issue #15): a fresh process probes over HTTP/1.1, HTTP/2 and a proxy, each
    through httpx's AsyncClient (its trace extension gives the phases), and no dxagent module
    imports a private httpx/httpcore module or carries its own HTTP/1.1 parser."""
    leaf = pki.leaf(filename="h2fresh")
    servers = hs.RawServers()
    code = (
        "import json, sys\n"
        "from dxagent import aio\n"
        "from dxagent.checks.http import Config\n"
        "from dxagent.runner import Runner\n"
        "def probe(**kw):\n"
        "    (r,) = aio.run(Runner().run_all([Config(id='p', interval='1m', timeout='5s', **kw)]))\n"
        "    return r.status.name, r.details.get('http_version'), r.details['phases']['connect'] > 0\n"
        "out = [probe(url=sys.argv[1], ca_file=sys.argv[3]), probe(url=sys.argv[2], ca_file=sys.argv[3], http2=True),\n"
        "       probe(url='http://portal.example/', proxy=sys.argv[4])]\n"
        "print(json.dumps([out, 'httpx' in sys.modules, 'h11' in sys.modules, 'h2' in sys.modules]))\n"
    )
    try:
        h2 = servers.add(hs.h2_handler, hs.server_context(str(leaf.chain), str(leaf.key), ["h2"]))
        proxy = servers.add(hs.proxy_echo)
        with serve_https(leaf) as h1:
            out = subprocess.run([sys.executable, "-c", code, h1.url, f"https://127.0.0.1:{h2}/", str(pki.root_pem),
                                  f"http://127.0.0.1:{proxy}"], capture_output=True, text=True, timeout=60)
    finally:
        servers.close()
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [[["OK", "HTTP/1.1", True], ["OK", "HTTP/2", True], ["OK", "HTTP/1.1", True]],
                                      True, True, True]
    root = Path(__file__).resolve().parents[2]
    sources = [p for top in ("agent", "checks", "exporters", "alerts", "reports") for p in (root / top).rglob("*.py")]
    private = [str(p) for p in sources if re.search(r"^\s*(from|import)\s+(httpx\._|httpcore\._|h11\b)", p.read_text(), re.M)]
    assert private == []


def test_through_a_proxy_with_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    monkeypatch.setenv("DX_PROXY_PW", "proxy-pw-9")
    servers = hs.RawServers()
    try:
        port = servers.add(hs.proxy_echo)
        # The portal's name is only ever sent to the proxy: nothing resolves it here.
        r = run(url="http://portal.example/duong-dan", proxy=f"http://127.0.0.1:{port}",
                proxy_auth={"username": "px", "password": {"env": "DX_PROXY_PW"}},
                expect={"body_contains": ["GET http://portal.example/duong-dan HTTP/1.1",
                                          "Proxy-Authorization: Basic " + base64.b64encode(b"px:proxy-pw-9").decode()]})
    finally:
        servers.close()
    assert r.status == Status.OK, r.summary
    assert r.details["remote_address"] == "127.0.0.1"
    assert "proxy-pw-9" not in json.dumps(r.to_dict())


def test_cookie_set_during_redirects_is_sent_on(web: HTTPSServer) -> None:
    """A portal's login redirect sets a session cookie: the next hop must carry it, and a direct
    request without it is refused (so the test can fail)."""
    r = run(url=f"{web.url}login", expect={"body_contains": ["welcome"]})
    assert r.status == Status.OK, r.summary
    assert samples(r)["http_redirects"] == 1
    r = run(url=f"{web.url}home")
    assert (r.status, r.reason) == (Status.CRIT, Reason.AUTH)


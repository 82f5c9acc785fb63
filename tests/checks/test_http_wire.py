"""`http` kind: the h11 transport against httpx as the oracle (as pysnmp is the SNMP codec's).

Direct requests no longer import httpx (issue #3), so what httpx did for them is now ours: URL
parsing and joining, the request's headers, reading response headers, cookies. Each is compared
here with httpx itself, which stays installed (it is still the transport for a proxy and HTTP/2).
Then the same probes run over both transports — h11 (direct) and httpx/httpcore (`http2: true`
on a plain-http or non-ALPN server, which httpcore answers over HTTP/1.1) — against servers that
are odd, broken or hostile, and must give the same result, bytes on the wire included.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dxagent import aio
from dxagent.checks.http import Config
from dxagent.checks.http.cookies import Cookies
from dxagent.checks.http.flow import _BASE_HEADERS, _auth_headers
from dxagent.checks.http.url import URL, InvalidURL
from dxagent.checks.http.wire import Request, ResponseHeaders, prepare_headers, update_headers
from dxagent.model import Result
from dxagent.runner import Runner
from tests.checks import http_servers as hs
from tests.pki import HTTPSServer, TestPKI

URLS = [
    "http://example.com", "http://example.com/", "HTTP://Example.COM:80/a/b", "https://example.com:443/x?y=1#frag",
    "https://example.com:8443", "http://[::1]:8080/p", "http://[::1]/", "http://127.0.0.1:9/", "https://127.0.0.1/a b",
    "http://x/a/./b/../c/%7e?q=a b&c=\"d\"#f g", "http://x/ü/ư?ê=ộ#ĩ", "http://x/%zz/%41?%2", "http://x/{a}|`b`^",
    "http://x/?", "http://x/#", "http://x?a", "http://x#a", "http://x/a;p?q", "http://x/..", "http://x/../../a",
    "http://XN--fiqs8s.icom.museum/", "http://中国.icom.museum/", "https://Bücher.example/ä", "http://münchen.de:8080",
    "http://user:pw@x/", "http://u%40x:p%3A@x/", "http://x:/", "http://x:abc/", "http://999.1.1.1/", "http://[::g]/",
    "http://a\tb/", "http://x/\x7f", "http://xn--zz-/", "http://a_b.example/", "http://x/%2e%2e/a", "http://x//y",
    "https://x/" + "a" * 70000,
]
LOCATIONS = [
    "/new", "new", "../up", "./same", "?q=1", "#f", "//other.example/p", "https://other.example:8443/",
    "http://x:80/", "/a b/ü", "/%zz", "ftp://files.example/x", "mailto:a@b", "http://[::1/", "http://x:99999/",
    "", ".", "..", "//", "///a", "http:relative", "/a/../../b", "https://Ünïcode.example/", "http://u:pw@x/",
    ":colon", "//[::1]:81", "/\x01",
]


def _describe_ours(url: str) -> Any:
    try:
        u = URL(url)
    except InvalidURL as exc:
        return ("invalid", str(exc))
    try:
        host = u.host
    except UnicodeError as exc:  # idna.IDNAError: an invalid xn-- label, for httpx too
        host = type(exc).__name__
    return (str(u), u.scheme, host, u.raw_host, u.port, u.netloc.encode(), u.raw_path)


def _describe_httpx(url: str) -> Any:
    try:
        u = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return ("invalid", str(exc))
    try:
        host = u.host
    except UnicodeError as exc:
        host = type(exc).__name__
    return (str(u), u.scheme, host, u.raw_host, u.port, u.netloc, u.raw_path)


@pytest.mark.parametrize("url", URLS)
def test_urls_parse_as_httpx_parses_them(url: str) -> None:
    assert _describe_ours(url) == _describe_httpx(url)
    if _describe_ours(url)[0] != "invalid":  # what the httpx transport gets is the same target
        ours, theirs = URL(url), httpx.URL(str(URL(url)))
        assert (ours.origin(), ours.raw_path) == ((theirs.scheme, theirs.raw_host.decode(),
                                                   theirs.port or {"http": 80, "https": 443}[theirs.scheme]),
                                                  theirs.raw_path)


@pytest.mark.parametrize("base", ["http://x/a/b?c=d", "https://Example.com:8443/dir/page", "http://[::1]:81/"])
def test_locations_join_as_httpx_joins_them(base: str) -> None:
    for location in LOCATIONS:
        try:
            ours: Any = str(URL(base).join(location))
        except InvalidURL as exc:
            ours = ("invalid", str(exc))
        try:
            theirs: Any = str(httpx.URL(base).join(location))
        except httpx.InvalidURL as exc:
            theirs = ("invalid", str(exc))
        assert ours == theirs, (base, location)


@pytest.mark.parametrize(("method", "body", "headers", "auth", "url"), [
    ("GET", None, {}, {}, "http://127.0.0.1:8080/x?y=ü"),
    ("HEAD", None, {"X-Probe": "1"}, {}, "https://portal.example/"),
    ("POST", "xin chào", {"Content-Type": "text/plain"}, {"bearer_token": "t"}, "http://x/"),
    ("POST", None, {}, {}, "http://x/"),
    ("PUT", "", {"accept": "application/json", "USER-AGENT": "mine"}, {}, "http://x:81/"),
    ("PATCH", "{}", {"Host": "vhost.example"}, {"basic_auth": {"username": "u", "password": "p"}}, "http://[::1]:8/"),
    ("DELETE", None, {"Accept-Encoding": "identity", "X-A": "1", "x-a": "2"}, {}, "https://中国.icom.museum/"),
    ("OPTIONS", "b", {}, {}, "http://x/"),
])
def test_request_headers_are_httpx_requests_headers(method: str, body: str | None, headers: dict[str, str],
                                                    auth: dict[str, Any], url: str) -> None:
    cfg = Config.model_validate({"id": "t", "kind": "http", "url": url, "method": method, "body": body,
                                 "headers": headers, **auth})
    secret = _auth_headers(cfg)
    ours = list(_BASE_HEADERS)
    update_headers(ours, cfg.headers)
    update_headers(ours, secret)
    content = None if body is None else body.encode()
    theirs = httpx.Headers({k.decode(): v.decode() for k, v in _BASE_HEADERS})
    theirs.update(cfg.headers)
    theirs.update(secret)
    request = httpx.Request(method, httpx.URL(url), content=body, headers=theirs)
    assert prepare_headers(ours, method, URL(url), content) == request.headers.raw
    assert URL(url).raw_path == request.url.raw_path


def test_non_ascii_header_values_fail_as_with_httpx() -> None:
    with pytest.raises(UnicodeEncodeError):
        httpx.Headers({"X": "ư"})
    with pytest.raises(UnicodeEncodeError):
        update_headers([], {"X": "ư"})


@pytest.mark.parametrize("raw", [
    [(b"Content-Type", b"text/html"), (b"Set-Cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"X-E", b"")],
    [(b"Server", "cổng".encode()), (b"Location", "/ư".encode())],
    [(b"Server", b"caf\xe9"), (b"X-Multi", b"a"), (b"X-MULTI", b"b")],
])
def test_response_headers_read_as_httpx_reads_them(raw: list[tuple[bytes, bytes]]) -> None:
    ours, theirs = ResponseHeaders(raw), httpx.Headers(raw)
    assert ours.encoding == theirs.encoding
    assert ours.items() == list(theirs.items()) and ours.multi_items() == theirs.multi_items()
    for name in ("content-type", "Set-Cookie", "server", "location", "x-multi", "x-e", "missing"):
        assert ours.get(name) == theirs.get(name) and (name in ours) == (name in theirs)


@pytest.mark.parametrize(("url", "set_cookies", "next_urls"), [
    ("http://portal.example/login", ["sid=abc; Path=/; HttpOnly"], ["http://portal.example/home", "http://other.example/"]),
    ("http://portal.example/a/b", ["p=1; Path=/a", "q=2; Path=/z", "r=3"], ["http://portal.example/a/c", "http://portal.example/z"]),
    ("https://sso.example/x", ["s=1; Secure", "d=2; Domain=example; Path=/"], ["http://sso.example/", "https://sso.example/y"]),
    ("http://portal.example/", ["old=1; Max-Age=0", "e=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "k=v"],
     ["http://portal.example/"]),
    ("http://h.example:8080/", ["sub=1; Domain=.h.example"], ["http://www.h.example:8080/", "http://h.example:8080/"]),
])
def test_cookies_go_where_httpx_sent_them(url: str, set_cookies: list[str], next_urls: list[str]) -> None:
    raw = [(b"Set-Cookie", c.encode()) for c in set_cookies]
    headers = [(b"Host", URL(url).netloc.encode())]
    ours = Cookies()
    ours.extract(Request("GET", URL(url), list(headers), None), ResponseHeaders(raw))
    theirs = httpx.Cookies()
    response = httpx.Response(302, headers=raw, request=httpx.Request("GET", url, headers=headers))
    theirs.extract_cookies(response)
    for nxt in next_urls:
        request = Request("GET", URL(nxt), prepare_headers([(b"Accept", b"*/*")], "GET", URL(nxt), None), None)
        ours.set_cookie_header(request)
        reference = httpx.Request("GET", nxt, headers={"Accept": "*/*"})
        theirs.set_cookie_header(reference)
        assert request.headers == reference.headers.raw, nxt


# --- the same probes over both transports -------------------------------------------------------------

@pytest.fixture(scope="module")
def raw() -> Iterator[dict[str, int]]:
    servers = hs.RawServers()
    names = ("record_request", "informational", "http10_close", "chunked", "disconnect", "short_body", "not_http",
             "keepalive_redirects", "stall_response", "trickle_body", "huge_header", "gzip_bomb", "redirect_loop",
             "close_after_hello", "stall_forever")
    yield {name: servers.add(getattr(hs, name)) for name in names}
    servers.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(tmp_path_factory.mktemp("pki-wire"))


def both(**fields: Any) -> tuple[Result, Result]:
    """The probe over h11 (direct) and over httpx/httpcore (`http2: true`, answered in HTTP/1.1)."""
    checks = [Config.model_validate({"id": f"t{i}", "kind": "http", "timeout": "3s", **fields, "http2": bool(i)})
              for i in (0, 1)]
    h11_result, httpx_result = (aio.run(Runner().run_all([c]))[0] for c in checks)
    return h11_result, httpx_result


def comparable(r: Result) -> dict[str, Any]:
    """Everything but the times (and the ms in the summary)."""
    details = {k: v for k, v in r.details.items() if k not in ("phases", "total_seconds")}
    ran = sorted(p for p, s in r.details["phases"].items() if s > 0)
    values = {s.name + str(sorted(s.labels)): s.value for s in r.samples if s.name != "http_duration_seconds"}
    return {"status": r.status, "reason": r.reason, "summary": re.sub(r"\d+ ms", "N ms", r.summary.en),
            "hint": r.hint and r.hint.en, "details": details, "phases_that_ran": ran, "samples": values}


@pytest.mark.parametrize(("path", "fields"), [
    ("", {"expect": {"headers": {"Server": "^test-portal"}}}),
    ("redirect/3", {}),
    ("login", {"expect": {"body_contains": ["welcome"]}}),
    ("gzip", {"expect": {"body_contains": ["Cổng dịch vụ công tỉnh"]}}),
    ("echo", {"method": "POST", "body": "xin chào", "expect": {"body_contains": ["POST xin chào"]}}),
    ("goto?to=/echo&code=303", {"method": "POST", "body": "x"}),
    ("goto?to=/echo&code=307", {"method": "POST", "body": "giữ"}),
    ("", {"method": "HEAD"}),
    ("status/503", {}),
    ("auth", {"basic_auth": {"username": hs.USER, "password": hs.PASSWORD}}),
    ("bearer", {}),
    ("goto?to=ftp://files.example/x", {}),
    ("goto?to=http://[::1/", {}),
    ("redirect/5", {"max_redirects": 2}),
    ("", {"max_body_bytes": 20}),
])
def test_same_result_over_both_transports(web: HTTPSServer, path: str, fields: dict[str, Any]) -> None:
    over_h11, over_httpx = both(url=f"{web.url}{path}", **fields)
    assert comparable(over_h11) == comparable(over_httpx)


def test_same_result_over_both_transports_with_tls(pki: TestPKI, tls_web: HTTPSServer) -> None:
    for fields in ({"ca_file": str(pki.root_pem)}, {}, {"insecure_skip_verify": True}):
        over_h11, over_httpx = both(url=f"https://localhost:{tls_web.port}/redirect/1", **fields)
        assert comparable(over_h11) == comparable(over_httpx)


@pytest.mark.parametrize(("server", "scheme", "fields"), [
    ("informational", "http", {}),
    ("http10_close", "http", {}),
    ("chunked", "http", {"expect": {"headers": {"x-multi": "^a, b$"}}}),
    ("disconnect", "http", {}),
    ("short_body", "http", {}),
    ("not_http", "http", {"timeout": "1s"}),
    ("huge_header", "http", {"timeout": "1s"}),
    ("gzip_bomb", "http", {}),
    ("redirect_loop", "http", {"max_redirects": 3}),
    ("stall_response", "http", {"timeout": "1s"}),
    ("trickle_body", "http", {"timeout": "1s"}),
    ("close_after_hello", "https", {}),
    ("stall_forever", "https", {"timeout": "1s"}),
])
def test_odd_and_hostile_servers_end_the_same_over_both_transports(raw: dict[str, int], server: str, scheme: str,
                                                                   fields: dict[str, Any]) -> None:
    path = "/loop" if server == "redirect_loop" else "/"
    over_h11, over_httpx = both(url=f"{scheme}://127.0.0.1:{raw[server]}{path}", **fields)
    assert comparable(over_h11) == comparable(over_httpx)


def test_same_bytes_on_the_wire(raw: dict[str, int]) -> None:
    url = f"http://127.0.0.1:{raw['record_request']}/a%20b/ư?q=\"x\"&r=ộ#frag"
    for fields in ({}, {"method": "POST", "body": "xin chào"}, {"method": "PUT"}, {"method": "HEAD"},
                   {"headers": {"Host": "vhost.example", "X-Trace": "1"}, "bearer_token": "tok"}):
        hs.RECORDED.clear()
        both(url=url, **fields)
        assert len(hs.RECORDED) == 2 and hs.RECORDED[0] == hs.RECORDED[1], hs.RECORDED


def test_a_connection_is_reused_for_a_same_origin_redirect_only_while_it_can_be(raw: dict[str, int]) -> None:
    base = f"http://127.0.0.1:{raw['keepalive_redirects']}"
    for path, connections in (("/hop/3", 1), ("/close/3", 4)):
        for http2 in (False, True):
            hs.CONNECTIONS.clear()
            (r,) = aio.run(Runner().run_all([Config.model_validate(
                {"id": "k", "kind": "http", "timeout": "3s", "url": base + path, "http2": http2})]))
            assert r.details["redirects"] == 3 and r.status.name == "OK", r.summary
            assert len(hs.CONNECTIONS) == connections, (path, http2)


def test_refused_and_dns_failures_are_the_same_over_both_transports() -> None:
    from tests.pki import free_port

    for fields in ({"url": f"http://127.0.0.1:{free_port()}/"}, {"url": "http://127.0.0.1:9/", "ip_family": "ipv6"}):
        over_h11, over_httpx = both(**fields)
        assert comparable(over_h11) == comparable(over_httpx)
        assert over_h11.details["error"] in ("refused", "dns")

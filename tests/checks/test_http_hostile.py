"""`http` against hostile loopback servers: each must end at its own timeout or limit with a clear result.

The wall-time assertions are bounded-wait correctness checks (a hostile target costs at most its
timeout), not speed benchmarks; the slack is generous for a loaded 2-core CI machine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from dxagent import aio
from dxagent.checks.http import Config
from dxagent.model import Reason, Result, Status
from dxagent.runner import Runner
from tests.checks import http_servers as hs
from tests.pki import TestPKI, serve_https

SLACK = 1.5  # seconds beyond a check's timeout that the whole run may take


@pytest.fixture(scope="module")
def raw() -> Iterator[dict[str, int]]:
    servers = hs.RawServers()
    ports = {name: servers.add(getattr(hs, name)) for name in
             ("stall_forever", "stall_response", "trickle_body", "redirect_loop", "big_body", "huge_header",
              "gzip_bomb", "close_after_hello")}
    yield ports
    servers.close()


def cfg(id: str, url: str, timeout: str = "2s", **fields: Any) -> Config:
    return Config.model_validate({"id": id, "kind": "http", "url": url, "timeout": timeout, **fields})


def run_one(c: Config) -> tuple[Result, float]:
    t0 = time.monotonic()
    (result,) = aio.run(Runner().run_all([c]))
    return result, time.monotonic() - t0


def value(r: Result, name: str) -> float:
    return next(s.value for s in r.samples if s.name == name)


def test_tls_handshake_never_completes(raw: dict[str, int]) -> None:
    r, took = run_one(cfg("tls-stall", f"https://127.0.0.1:{raw['stall_forever']}/"))
    assert r.status == Status.CRIT and r.reason == Reason.TIMEOUT and r.details["phase"] == "tls", r.summary
    assert "timeout in phase tls" in r.summary.en and "bắt tay TLS" in r.summary.vi
    assert took < 2 + SLACK


def test_connection_closed_during_the_tls_handshake(raw: dict[str, int]) -> None:
    r, took = run_one(cfg("hello", f"https://127.0.0.1:{raw['close_after_hello']}/"))
    assert r.status == Status.CRIT and r.reason == Reason.TLS and r.details["phase"] == "tls", r.summary
    assert r.details["error"] == "handshake" and "closed during the TLS handshake" in r.summary.en
    assert took < 2 + SLACK


def test_no_socket_outlives_its_probe(raw: dict[str, int], tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every way a probe can end (answer, redirect chain, timeouts, TLS failure) closes its connections."""
    import gc
    import warnings

    import psutil

    def open_sockets() -> int:  # client ends only: the hostile servers in this process keep theirs open
        servers = {srv.port, *raw.values()}
        return sum(1 for c in psutil.Process().net_connections("tcp") if c.raddr and c.raddr.port in servers
                   and c.status != psutil.CONN_TIME_WAIT)

    pki = TestPKI(tmp_path_factory.mktemp("pki-fd"))
    with serve_https(pki.leaf(), None) as srv:
        checks = [cfg("ok", srv.url, ca_file=str(pki.root_pem)), cfg("bad-ca", srv.url),
                  cfg("loop", f"http://127.0.0.1:{raw['redirect_loop']}/loop", max_redirects=3),
                  cfg("stall", f"http://127.0.0.1:{raw['stall_response']}/", timeout="3s"),  # room to end in its own budget on a busy machine
                  cfg("hello", f"https://127.0.0.1:{raw['close_after_hello']}/"),
                  cfg("tls-stall", f"https://127.0.0.1:{raw['stall_forever']}/", timeout="3s")]
        aio.run(Runner().run_all(checks))  # warm-up: imports, CA store
        before = open_sockets()
        with warnings.catch_warnings(record=True) as caught:  # a socket left to the garbage collector warns
            warnings.simplefilter("always", ResourceWarning)
            results = aio.run(Runner().run_all(checks))
            gc.collect()
        assert [r.status for r in results][:1] == [Status.OK] and all(r.status == Status.CRIT for r in results[1:])
        assert open_sockets() == before
        assert not [w for w in caught if issubclass(w.category, ResourceWarning) and "socket" in str(w.message)]


def test_server_never_answers(raw: dict[str, int]) -> None:
    r, took = run_one(cfg("no-answer", f"http://127.0.0.1:{raw['stall_response']}/"))
    assert r.reason == Reason.TIMEOUT and r.details["phase"] == "ttfb", r.summary
    assert "database" in r.hint.en and took < 2 + SLACK


def test_trickled_body(raw: dict[str, int]) -> None:
    r, took = run_one(cfg("trickle", f"http://127.0.0.1:{raw['trickle_body']}/"))
    assert r.reason == Reason.TIMEOUT and r.details["phase"] == "transfer", r.summary
    assert took < 2 + SLACK


def test_redirect_loop(raw: dict[str, int]) -> None:
    r, took = run_one(cfg("loop", f"http://127.0.0.1:{raw['redirect_loop']}/loop", max_redirects=5))
    assert r.status == Status.CRIT and r.reason == Reason.STATUS and r.details["error"] == "redirect_loop"
    assert r.details["redirects"] == 6 and "redirect loop" in r.summary.en and took < 2 + SLACK


def test_fifty_megabytes_stop_at_the_limit(raw: dict[str, int]) -> None:
    r, took = run_one(cfg("big", f"http://127.0.0.1:{raw['big_body']}/", max_body_bytes="256KiB"))
    assert r.status == Status.WARN and r.reason == Reason.CONTENT, r.summary
    assert value(r, "http_body_bytes") == 256 * 1024 and value(r, "http_body_limit_reached") == 1
    assert value(r, "http_content_length_bytes") == 50 * 1024 * 1024
    assert "max_body_bytes" in r.summary.en and took < 2 + SLACK


def test_content_check_on_truncated_body_says_so(raw: dict[str, int]) -> None:
    r, _ = run_one(cfg("big2", f"http://127.0.0.1:{raw['big_body']}/", max_body_bytes="64KiB",
                       expect={"body_contains": ["</html>"]}))
    assert r.status == Status.CRIT and r.reason == Reason.CONTENT
    assert "only the first 65536 bytes were read" in r.summary.en


def test_gzip_bomb_is_bounded(raw: dict[str, int]) -> None:
    r, took = run_one(cfg("bomb", f"http://127.0.0.1:{raw['gzip_bomb']}/"))
    assert r.status == Status.WARN and value(r, "http_body_bytes") == 1024 * 1024  # the 1 MiB default
    assert took < 2 + SLACK


def test_huge_header(raw: dict[str, int]) -> None:
    r, took = run_one(cfg("hdr", f"http://127.0.0.1:{raw['huge_header']}/"))
    assert r.status == Status.CRIT and r.reason == Reason.CONTENT and r.details["phase"] == "ttfb", r.summary
    assert "invalid HTTP response" in r.summary.en and took < 2 + SLACK


def test_all_hostile_and_one_healthy_via_the_runner(raw: dict[str, int], tmp_path_factory: pytest.TempPathFactory,
                                                    ) -> None:
    pki = TestPKI(tmp_path_factory.mktemp("hostile-pki"))
    timeouts = {"tls-stall": 1.5, "no-answer": 2.0, "trickle": 2.5, "loop": 1.0, "big": 2.0, "hdr": 1.0,
                "bomb": 1.0, "healthy": 2.0}
    with serve_https(pki.leaf(), hs.RouteHandler) as healthy:
        checks = [
            cfg("tls-stall", f"https://127.0.0.1:{raw['stall_forever']}/", "1500ms"),
            cfg("no-answer", f"http://127.0.0.1:{raw['stall_response']}/", "2s"),
            cfg("trickle", f"http://127.0.0.1:{raw['trickle_body']}/", "2500ms"),
            cfg("loop", f"http://127.0.0.1:{raw['redirect_loop']}/loop", "1s"),
            cfg("big", f"http://127.0.0.1:{raw['big_body']}/", "2s"),
            cfg("hdr", f"http://127.0.0.1:{raw['huge_header']}/", "1s"),
            cfg("bomb", f"http://127.0.0.1:{raw['gzip_bomb']}/", "1s"),
            cfg("healthy", healthy.url, "2s", ca_file=str(pki.root_pem), expect={"body_contains": ["hoạt động"]}),
        ]
        t0 = time.monotonic()
        results = aio.run(Runner().run_all(checks))
        wall = time.monotonic() - t0
    by_id = {r.check_id: r for r in results}
    assert by_id["healthy"].status == Status.OK, by_id["healthy"].summary
    expected = {"tls-stall": Reason.TIMEOUT, "no-answer": Reason.TIMEOUT, "trickle": Reason.TIMEOUT,
                "loop": Reason.STATUS, "big": Reason.CONTENT, "hdr": Reason.CONTENT, "bomb": Reason.CONTENT}
    for check_id, reason in expected.items():
        r = by_id[check_id]
        assert r.reason == reason and r.status >= Status.WARN, (check_id, r.summary)
        assert r.duration < timeouts[check_id] + 0.5, (check_id, r.duration)  # each bounded by its own timeout
    assert wall < max(timeouts.values()) + SLACK


# --- odd but real servers (formerly compared with httpx in test_http_wire.py; now httpx is the client) ----------

@pytest.fixture(scope="module")
def odd() -> Iterator[dict[str, int]]:
    servers = hs.RawServers()
    yield {name: servers.add(getattr(hs, name)) for name in
           ("record_request", "informational", "http10_close", "chunked", "disconnect", "short_body", "not_http",
            "keepalive_redirects")}
    servers.close()


@pytest.mark.parametrize(("server", "fields", "status", "reason", "check"), [
    ("informational", {}, Status.OK, None, lambda r: r.details["title"] == "hints"),
    ("http10_close", {}, Status.OK, None, lambda r: r.details["title"] == "Công cü" and r.details["http_version"] == "HTTP/1.0"),
    ("chunked", {"expect": {"headers": {"x-multi": "^a, b$"}, "body_contains": ["chunked"]}}, Status.OK, None,
     lambda r: value(r, "http_body_bytes") == 5022),
    ("disconnect", {}, Status.CRIT, Reason.CONNECT, lambda r: r.details["error"] == "closed" and r.details["phase"] == "ttfb"),
    ("short_body", {}, Status.CRIT, Reason.CONNECT, lambda r: r.details["phase"] == "transfer"),
    ("not_http", {"timeout": "1s"}, Status.CRIT, Reason.CONTENT, lambda r: r.details["error"] == "protocol"),
])
def test_odd_servers(odd: dict[str, int], server: str, fields: dict[str, Any], status: Status, reason: Reason | None,
                     check: Any) -> None:
    r, took = run_one(cfg(server, f"http://127.0.0.1:{odd[server]}/", **fields))
    assert (r.status, r.reason) == (status, reason), r.summary
    assert check(r), r.details
    assert took < 2 + SLACK


def test_request_on_the_wire_keeps_the_host_name(odd: dict[str, int]) -> None:
    """The request goes to the resolved address, but Host is the URL's (or the configured) name."""
    port = odd["record_request"]
    hs.RECORDED.clear()
    run_one(cfg("a", f"http://localhost:{port}/a%20b/ư?q=1", method="POST", body="xin chào", bearer_token="tok"))
    run_one(cfg("b", f"http://localhost:{port}/", headers={"Host": "vhost.example", "X-Trace": "1"}))
    first, second = (dict(line.split(b": ", 1) for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n")[1:])
                     for raw in hs.RECORDED)
    assert hs.RECORDED[0].startswith(b"POST /a%20b/%C6%B0?q=1 HTTP/1.1\r\n")
    assert hs.RECORDED[0].endswith("xin chào".encode())
    assert first[b"Host"] == f"localhost:{port}".encode() and first[b"Authorization"] == b"Bearer tok"
    assert first[b"Accept-Encoding"] == b"gzip, deflate" and first[b"User-Agent"].startswith(b"dxagent-http/")
    assert second[b"Host"] == b"vhost.example" and second[b"X-Trace"] == b"1"


@pytest.mark.parametrize(("path", "connections"), [("/hop/3", 1), ("/close/3", 4)])
def test_same_origin_redirects_reuse_the_connection_while_they_can(odd: dict[str, int], path: str,
                                                                   connections: int) -> None:
    for http2 in (False, True):
        hs.CONNECTIONS.clear()
        r, _ = run_one(cfg("k", f"http://localhost:{odd['keepalive_redirects']}{path}", http2=http2))
        assert r.status == Status.OK and r.details["redirects"] == 3, r.summary
        assert len(hs.CONNECTIONS) == connections, (path, http2)
        assert r.details["phases"]["dns"] > 0  # a name, resolved once and kept for the chain

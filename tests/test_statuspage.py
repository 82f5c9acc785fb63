"""The status page's parts without a daemon: language choice, page model, HTML escaping and CSP,
since-when from a real History, rate limiter, run-now selection and origin checks."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from pathlib import Path
from typing import Any

import pytest

from dxagent.config import load_text
from dxagent.daemon.server import Request
from dxagent.daemon.statuspage import choose_lang, lookups, runnow, view
from dxagent.daemon.statuspage.render import csp, render_page
from dxagent.history import History
from dxagent.history.outages import Outage
from dxagent.model import Reason, Result, Status, t

NOW = 1_800_000_000.0
CONFIG = """\
site: {id: hn-x, name: "UBND <i>x</i>", province: ha-noi}
checks:
  - {id: gw, kind: ping, targets: [127.0.0.1], groups: [lan]}
  - {id: dc, kind: ping, targets: [127.0.0.1], groups: [tslcd]}
  - {id: portal, kind: http, url: "http://127.0.0.1:9/", groups: [portals]}
  - {id: cert, kind: certfile, paths: [/dev/null]}
  - {id: bridge, kind: tcp, host: 127.0.0.1, port: 9, groups: [meeting]}
  - {id: sys, kind: system}
  - {id: clock, kind: clock, servers: [127.0.0.1]}
"""


def req(query: str = "", **headers: str) -> Request:
    from urllib.parse import parse_qs

    return Request("GET", "/", parse_qs(query), {k.replace("_", "-"): v for k, v in headers.items()}, "127.0.0.1")


def result(cid: str, kind: str, target: str, status: Status, started: float = NOW - 5, **kw: Any) -> Result:
    return Result(cid, kind, target, status, t(f"{cid} en", f"{cid} vi"), started=started, duration=0.25, **kw)


@pytest.fixture(scope="module")
def checks() -> dict[str, Any]:
    cfg = load_text(CONFIG)
    return {c.id: c for c in cfg.checks}


def test_language_query_then_browser_then_config_then_vietnamese() -> None:
    assert choose_lang(req("lang=en"), "vi") == "en"
    assert choose_lang(req("lang=fr")) == "vi"
    assert choose_lang(req(accept_language="en-US,en;q=0.9,vi;q=0.8")) == "en"
    assert choose_lang(req(accept_language="fr-FR,vi;q=0.7,en;q=0.5")) == "vi"
    assert choose_lang(req(accept_language="de, fr;q=0.5"), "en") == "en"
    assert choose_lang(req(accept_language="en;q=0, vi;q=bad")) == "vi"
    assert choose_lang(req()) == "vi"


def test_page_model_areas_problems_stale_and_counts(checks: dict[str, Any]) -> None:
    results = [
        result("gw", "ping", "127.0.0.1", Status.OK),
        result("dc", "ping", "127.0.0.1", Status.WARN, hint=t("look", "xem")),
        result("portal", "http", "http://127.0.0.1:9/", Status.CRIT, reason=Reason.STATUS, hint=t("call", "gọi"),
               details={"title": "<b>Bảo trì</b>"}),
        result("cert", "certfile", "/dev/null", Status.UNKNOWN),
        result("bridge", "tcp", "127.0.0.1:9", Status.OK, started=NOW - 60 * 4),  # 4 intervals old
        result("sys", "system", "localhost", Status.OK),
    ]
    since = {("portal", "http://127.0.0.1:9/"): NOW - 3700, ("dc", "127.0.0.1"): 0.0}
    page = view.build(results, checks, now=NOW, lang="vi", site={"id": "hn-x"}, header={}, since=since)
    assert page.counts == {"OK": 3, "WARN": 1, "CRIT": 1, "UNKNOWN": 1} and page.pending == 1  # clock: no result
    assert page.worst == "CRIT"
    assert [r.check_id for r in page.problems] == ["portal", "cert", "dc", "bridge"]
    portal = page.problems[0]
    assert portal.word == "Lỗi" and portal.hint == "gọi" and portal.title == "<b>Bảo trì</b>"
    assert portal.since_text.startswith("từ ") and "1 giờ 1 phút trước" in portal.since_text
    assert page.problems[2].since_text == "hơn 35 ngày"
    bridge = page.problems[3]
    assert bridge.stale and "4 phút" in bridge.stale_text and bridge.area == "meeting"
    assert [(a.key, [r.check_id for r in a.rows]) for a in page.areas] == [
        ("links", ["gw", "dc"]), ("portals", ["portal"]), ("certificates", ["cert", "clock"]),
        ("workstations", ["sys"]), ("meeting", ["bridge"])]
    areas = {a.key: a for a in page.areas}
    assert areas["portals"].run_target == "portals" and areas["links"].run_target == "gw,dc"
    assert areas["links"].worst == "WARN" and areas["certificates"].counts["UNKNOWN"] == 1
    assert page.outage_checks == ("dc",)
    english = view.build(results, checks, now=NOW, lang="en", site={"id": "hn-x"}, header={})
    assert english.problems[0].word == "Critical" and english.problems[0].summary == "portal en"


def test_formats() -> None:
    assert view.fmt_age(59, "vi") == "59 giây" and view.fmt_age(3 * 3600 + 300, "en") == "3 h 5 min"
    assert view.fmt_age(86400 * 2 + 7200, "vi") == "2 ngày 2 giờ" and view.fmt_age(86400, "en") == "1 day"
    assert view.fmt_took(0.0854, "vi") == "85 ms" and view.fmt_took(1.25, "vi") == "1,2 s"
    assert view.fmt_took(1.25, "en") == "1.2 s" and view.fmt_clock(None, NOW) == "—"


def _page_html(checks: dict[str, Any], hostile: str) -> str:
    results = [result("portal", "http", f"http://x/{hostile}", Status.CRIT, hint=t(hostile, hostile),
                      details={"title": hostile})]
    page = view.build(results, checks, now=NOW, lang="vi", site={"id": "hn-x", "name": hostile, "province": hostile},
                      header={"uptime": "1", "config_age": "2", "updated": "3"},
                      readiness=lookups.readiness_summary(
                          {"score": 0.5, "counts": {"met": 1, "not_met": 1, "unknown": 0}, "profile": {"id": "p"},
                           "targets": [{"id": "NET-01", "name": {"vi": hostile}, "outcome": "not_met"}]}, "vi"),
                      outages=[{"check": "dc", "target": hostile, "start": "1", "end": None, "length": "2 phút",
                                "worst": "CRIT", "reason": "timeout"}])
    return render_page(page)


def test_every_untrusted_string_is_escaped_and_only_the_hashed_inline_code_may_run(checks: dict[str, Any]) -> None:
    hostile = "<script>alert('x')</script><img src=x onerror=alert(1)>\"'&"
    html = _page_html(checks, hostile)
    assert "<img" not in html and "alert('x')</script>" not in html.replace("&lt;/script&gt;", "")
    assert html.count("&lt;script&gt;alert(") >= 6  # name, province, target, title, hint, readiness, outage
    assert len(re.findall(r"<script", html)) == 2
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)  # type: ignore[union-attr]
    script = re.search(r"<script>(.*?)</script>", html, re.S).group(1)  # type: ignore[union-attr]
    policy = csp()
    for code in (style, script):
        digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    data = re.search(r'<script type="application/json" id="dx-data">(.*?)</script>', html, re.S).group(1)  # type: ignore[union-attr]
    assert "<" not in data  # tojson escapes markup in the data block


def test_no_external_resources(checks: dict[str, Any]) -> None:
    html = _page_html(checks, "x")
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "@import" not in html and "url(" not in html


def test_since_cache_reads_transitions_and_waits_for_unwritten_ones(tmp_path: Path) -> None:
    history = History.open(tmp_path / "h.sqlite")
    try:
        now = time.time()
        a1 = result("a", "tcp", "x", Status.OK, started=now - 300)
        a2 = result("a", "tcp", "x", Status.CRIT, started=now - 120)
        a3 = result("a", "tcp", "x", Status.CRIT, started=now - 60)
        history.record([a1, a2, a3], {"a": 60})
        cache = lookups.SinceCache(retry=10)
        b = result("b", "tcp", "y", Status.WARN, started=now - 2)  # not written yet
        assert cache.missing([a3, b], now) == [a3, b]
        cache.lookup([a3, b], history, now)
        since = cache.since()
        assert since[("a", "x")] == pytest.approx(now - 120, abs=0.01)
        assert since[("b", "y")] is None  # unknown for now: the history is younger than the window
        assert cache.missing([a3, b], now) == []
        assert cache.missing([a3, b], now + 11) == [b]  # asked again after `retry`
        a4 = result("a", "tcp", "x", Status.OK, started=now - 1)  # changed, not written yet
        assert cache.missing([a4], now) == [a4]
        cache.lookup([a4], history, now)
        assert cache.since()[("a", "x")] == pytest.approx(now - 1)
    finally:
        history.close()
    assert lookups.SinceCache().since() == {}
    nohist = lookups.SinceCache()
    nohist.lookup([a1], None, NOW)
    assert nohist.since() == {("a", "x"): None}


def test_outage_rows_newest_first() -> None:
    rows = lookups.outage_rows([Outage("dc", "t", NOW - 7200, NOW - 3600, Status.CRIT, "timeout"),
                                Outage("dc", "t", NOW - 600, None, Status.CRIT, None)], NOW, "vi")
    assert next(r["end"] for r in rows) is None and rows[0]["length"] == "10 phút"
    assert rows[1]["length"] == "1 giờ" and rows[1]["reason"] == "timeout"


def test_readiness_summary() -> None:
    assert lookups.readiness_summary(None, "vi") is None
    doc = {"score": 0.456, "counts": {"met": 3, "not_met": 1, "unknown": 2}, "profile": {"id": "plan02"},
           "targets": [{"id": "A", "name": {"vi": "Tên", "en": "Name"}, "outcome": "not_met", "at_risk": False},
                       {"id": "B", "name": {"en": "Only en"}, "outcome": "met", "at_risk": True}]}
    s = lookups.readiness_summary(doc, "vi")
    assert s is not None and s["score"] == 46 and s["targets_not_met"] == [{"id": "A", "name": "Tên", "at_risk": False}]
    assert s["at_risk"] == [{"id": "B", "name": "B"}]


def test_run_limiter_cooldown_per_check_and_global_budget() -> None:
    clock = [0.0]
    lim = runnow.RunLimiter(cooldown=10, per_minute=3, clock=lambda: clock[0])
    assert lim.wait("a") == 0
    lim.take("a")
    assert lim.wait("a") == pytest.approx(10)
    assert lim.wait("b") == 0
    lim.take("b")
    lim.take("c")
    assert lim.wait("d") == pytest.approx(60)  # three runs this minute
    clock[0] = 10.0
    assert lim.wait("a") == pytest.approx(50)  # cooldown over, budget not
    clock[0] = 60.0
    assert lim.wait("a") == 0 and lim.wait("d") == 0


def test_who_may_run_and_what(checks: dict[str, Any]) -> None:
    remote = Request("POST", "/api/run", {}, {}, "10.203.1.2")
    assert not runnow.allowed(remote)
    assert runnow.allowed(Request("POST", "/api/run", {}, {}, "10.203.1.2", user="tech"))
    assert runnow.allowed(Request("POST", "/api/run", {}, {}, "::ffff:127.0.0.1"))
    assert runnow.same_origin(Request("POST", "/", {}, {"host": "agent:10190"}, "x"))
    assert runnow.same_origin(Request("POST", "/", {}, {"host": "agent:10190", "origin": "http://agent:10190"}, "x"))
    assert not runnow.same_origin(Request("POST", "/", {}, {"host": "agent:10190", "origin": "http://evil"}, "x"))
    assert not runnow.same_origin(Request("POST", "/", {}, {"host": "agent:10190", "origin": "null"}, "x"))
    assert runnow.resolve(["portal"], checks.values()) == (["portal"], [])
    assert runnow.resolve(["lan,meeting", "ping"], checks.values()) == (["gw", "bridge", "dc"], [])
    assert runnow.resolve(["nope", "sys"], checks.values()) == (["sys"], ["nope"])

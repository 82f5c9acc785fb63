"""The status page end to end: `dxagent run` as a process, real servers, headless Chromium over DevTools.

Checks in every state (OK, WARN, CRIT, UNKNOWN, stale), a hostile site name and a hostile page
<title>; the page is read at 1280 and 360 px, compared with /api/results, then a target is
stopped and the open page must change by itself (no reload) within 20 s.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cdp import Browser
from tests.promtools import dxagent_run, http_get
from tests.tcpserver import greet, serve_tcp

pytestmark = pytest.mark.slow

HOSTILE_SITE = """UBND xã <img src=x onerror=alert(1)> "Thử" & 'Nghiệm'"""
HOSTILE_TITLE = """<script>alert("title")</script>Hệ thống bảo trì"""
DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"


@contextlib.contextmanager
def hostile_http(title: str = HOSTILE_TITLE) -> Iterator[int]:
    """A portal answering 503 with a <title> (by default one that is markup)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"<html><head><title>{title}</title></head><body>down</body></html>".encode()
            self.send_response(503)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


def results(url: str) -> dict[str, Any]:
    return json.loads(http_get(f"{url}/api/results?lang=vi")[2])  # type: ignore[no-any-return]


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in doc["results"]}


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def write_config(path: Path, state: Path, ports: dict[str, int], site: str) -> Path:
    text = f"""\
site: {{id: hn-xa-thu, name: {json.dumps(site, ensure_ascii=False)}, province: "Hà Nội <b>"}}
state_dir: {state}
readiness: {{enabled: false}}
checks:
  - {{id: uplink-dc, kind: tcp, host: 127.0.0.1, port: {ports['flip']}, interval: 2s, timeout: 1s, groups: [tslcd]}}
  - {{id: mail-slow, kind: tcp, host: 127.0.0.1, port: {ports['flip']}, interval: 3s, timeout: 1s,
     thresholds: {{warn: 0.000001}}}}
  - {{id: portal-tinh, kind: http, url: "http://127.0.0.1:{ports['http']}/", interval: 3s, timeout: 2s,
     groups: [portals]}}
  - {{id: chu-ky-so, kind: certfile, paths: [/dev/null], interval: 5s, timeout: 2s}}
  - {{id: so-van-ban, kind: certfile, paths: [/dev/null], interval: 10m, timeout: 2s}}
  - {{id: stuck-link, kind: tcp, host: 127.0.0.1, port: {ports['stuck']}, interval: 1s, timeout: 0.4s,
     retries: 1, retry_delay: 2m}}
"""
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Any, dict[str, contextlib.ExitStack]]]:
    """A running agent whose checks are OK, WARN, CRIT, UNKNOWN and (soon) stale; stacks stop servers."""
    stacks = {name: contextlib.ExitStack() for name in ("flip", "stuck", "http")}
    ports = {"flip": stacks["flip"].enter_context(serve_tcp(greet(b"220 ok\r\n"))),
             "stuck": stacks["stuck"].enter_context(serve_tcp(greet(b"220 ok\r\n"))),
             "http": stacks["http"].enter_context(hostile_http())}
    cfg = write_config(tmp_path / "dxagent.yml", tmp_path / "state", ports, HOSTILE_SITE)
    try:
        with dxagent_run(cfg) as agent:
            yield agent, stacks
    finally:
        for stack in stacks.values():
            stack.close()


def test_status_page_in_chromium(site: tuple[Any, dict[str, contextlib.ExitStack]], tmp_path: Path) -> None:
    agent, stacks = site
    want = {"uplink-dc": "OK", "mail-slow": "WARN", "portal-tinh": "CRIT", "chu-ky-so": "UNKNOWN",
            "so-van-ban": "UNKNOWN", "stuck-link": "OK"}
    wait_for(lambda: {k: v["status"] for k, v in by_id(results(agent.url)).items()} == want, 20, "every state")
    stacks["stuck"].close()  # its next run fails, then waits 2 min before the retry: no fresh result
    stuck = by_id(results(agent.url))["stuck-link"]
    wait_for(lambda: time.time() - stuck["started"] > 3 * 1.0 + 1, 10, "stuck-link to go stale")

    with Browser(tmp_path) as browser:
        pages = {}
        for width, height in ((1280, 900), (360, 740)):
            browser.viewport(width, height, mobile=width < 500)
            browser.open(f"{agent.url}/")
            doc = results(agent.url)
            text = browser.js("document.body.innerText")
            pages[width] = text
            assert browser.js("document.documentElement.lang") == "vi"  # Accept-Language: vi-VN
            for cid in want:
                assert cid in text, cid
            for word in ("Tốt", "Cảnh báo", "Lỗi", "Không rõ", "cũ", "Cần xử lý", "Chạy ngay"):
                assert word in text, word
            portal = by_id(doc)["portal-tinh"]
            assert portal["hint"] and portal["hint"] in text  # what to do about the failing portal
            assert HOSTILE_SITE in text and HOSTILE_TITLE in text and "Hà Nội <b>" in text  # shown as text
            assert browser.js("document.querySelectorAll('img').length") == 0
            assert browser.js("document.scripts.length") == 2  # the data block and the page's own script
            counts = browser.js("({OK: +document.getElementById('n-OK').textContent,"
                                " WARN: +document.getElementById('n-WARN').textContent,"
                                " CRIT: +document.getElementById('n-CRIT').textContent,"
                                " UNKNOWN: +document.getElementById('n-UNKNOWN').textContent})")
            assert counts == doc["counts"], (counts, doc["counts"])
            stale = browser.js("Array.from(document.querySelectorAll('tr.check.stale')).map(r => r.dataset.check)")
            assert stale == ["stuck-link"]
            assert browser.js("document.documentElement.scrollWidth") <= width  # no sideways scrolling
            shot = browser.screenshot(tmp_path / f"status-{width}.png")
            assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000

        # Printable: the buttons and links are not printed.
        browser.page("Emulation.setEmulatedMedia", media="print")
        assert browser.js("getComputedStyle(document.querySelector('form.run')).display") == "none"
        assert browser.js("getComputedStyle(document.querySelector('nav.links')).display") == "none"
        pdf = browser.page("Page.printToPDF", printBackground=True)
        assert len(pdf["data"]) > 10_000
        browser.page("Emulation.setEmulatedMedia", media="")

        # The full report, from the same code as `dxagent report`.
        browser.open(f"{agent.url}/report")
        assert browser.js("document.documentElement.lang") == "vi" and HOSTILE_SITE in browser.js("document.title")
        assert browser.js("document.querySelectorAll('img, script').length") == 0
        browser.open(f"{agent.url}/")

        # "Run now" on a check scheduled every 10 minutes: its new result shows up on the open page.
        row = "document.querySelector('tr.check[data-check=\"so-van-ban\"]')"
        before = browser.js(f"{row}.querySelector('time').textContent")
        first = by_id(results(agent.url))["so-van-ban"]["started"]
        time.sleep(1.1)  # the row shows seconds: a new run must show another time
        browser.js(f"{row}.querySelector('form.run').requestSubmit()")
        wait_for(lambda: browser.js("!document.getElementById('notice').hidden"), 5, "the run-now notice")
        assert "so-van-ban" in browser.js("document.getElementById('notice').textContent")
        wait_for(lambda: by_id(results(agent.url))["so-van-ban"]["started"] > first, 10, "the manual run")
        wait_for(lambda: browser.js(f"{row}.querySelector('time').textContent") != before, 10,
                 "the manual run's time on the page")

        # Live: stop the uplink's server; the open page must turn it red without a reload.
        browser.js("window.__notReloaded = true")
        row = "document.querySelector('tr.check[data-check=\"uplink-dc\"]')"
        assert browser.js(f"{row}.dataset.status") == "OK"
        stacks["flip"].close()
        t0 = time.monotonic()
        wait_for(lambda: browser.js(f"{row}.dataset.status") == "CRIT", 20, "the page to show uplink-dc CRIT")
        assert time.monotonic() - t0 <= 20
        assert browser.js("window.__notReloaded") is True
        assert "uplink-dc" in browser.js("document.getElementById('problem-list').innerText")
        assert browser.js("+document.getElementById('n-CRIT').textContent") >= 2
        assert browser.errors() == [], browser.errors()


def test_docs_screenshots(tmp_path: Path) -> None:
    """The technician guide's pictures: a plausible commune at 1280 and 360 px (written to docs/img
    when DXAGENT_DOCS_IMG=1; otherwise only checked)."""
    with contextlib.ExitStack() as stack, contextlib.ExitStack() as stuck:
        ports = {"flip": stack.enter_context(serve_tcp(greet(b"220 ok\r\n"))),
                 "stuck": stuck.enter_context(serve_tcp(greet(b"220 ok\r\n"))),
                 "http": stack.enter_context(hostile_http("Cổng dịch vụ công tỉnh: đang bảo trì"))}
        cfg = write_config(tmp_path / "dxagent.yml", tmp_path / "state", ports, "UBND xã Phù Đổng")
        cfg.write_text(cfg.read_text(encoding="utf-8").replace('"Hà Nội <b>"', "Hà Nội"), encoding="utf-8")
        with dxagent_run(cfg) as agent, Browser(tmp_path) as browser:
            wait_for(lambda: len(results(agent.url)["results"]) == 6, 20, "first results")
            stuck.close()
            time.sleep(5)  # stuck-link goes stale (3 intervals of 1 s)
            for width, height in ((1280, 900), (360, 740)):
                browser.viewport(width, height, mobile=width < 500)
                browser.open(f"{agent.url}/")
                shot = tmp_path / f"status-page-{width}.png"
                data = browser.screenshot(shot)
                assert data[:8] == b"\x89PNG\r\n\x1a\n"
                if os.environ.get("DXAGENT_DOCS_IMG") == "1":
                    shutil.copy(shot, DOCS_IMG / shot.name)
            assert browser.errors() == [], browser.errors()

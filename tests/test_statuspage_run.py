"""`POST /api/run` on a real `dxagent run`: who may ask, rate limit, no overlap with scheduled runs.

The ground truth for "never overlapping" is the probed server itself: it counts requests in
flight and must never see two at once, whatever mix of scheduled runs and button presses.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from tests import netns
from tests.promtools import dxagent_run, free_port, http_get
from tests.tcpserver import greet, serve_tcp

pytestmark = pytest.mark.slow


class SlowServer:
    """An HTTP server that takes `delay` seconds per request and records overlap."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.active = 0
        self.max_active = 0
        self.starts: list[float] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def serve(self) -> Iterator[int]:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with outer._lock:
                    outer.active += 1
                    outer.max_active = max(outer.max_active, outer.active)
                    outer.starts.append(time.time())
                try:
                    time.sleep(outer.delay)
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                finally:
                    with outer._lock:
                        outer.active -= 1

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


def post(url: str, **kw: Any) -> tuple[int, dict[str, str], bytes]:
    return http_get(url, method="POST", **kw)


def write_config(path: Path, state: Path, checks: str, extra: str = "") -> Path:
    path.write_text(f"site: {{id: hn-run, name: Thử}}\nstate_dir: {state}\n{extra}\nchecks:\n{checks}", encoding="utf-8")
    return path


def started(url: str, check_id: str) -> float:
    doc = json.loads(http_get(f"{url}/api/results")[2])
    return max((r["started"] for r in doc["results"] if r["id"] == check_id), default=0.0)


def test_burst_runs_a_few_times_and_never_overlaps(tmp_path: Path) -> None:
    slow = SlowServer(1.0)
    with slow.serve() as port, serve_tcp(greet(b"220 ok\r\n")) as tcp:
        checks = (f"  - {{id: slow, kind: http, url: 'http://127.0.0.1:{port}/', interval: 4s, timeout: 2s, groups: [web]}}\n"
                  f"  - {{id: rare, kind: tcp, host: 127.0.0.1, port: {tcp}, interval: 10m, timeout: 2s}}\n")
        cfg = write_config(tmp_path / "c.yml", tmp_path / "state", checks)
        with dxagent_run(cfg) as agent:
            deadline = time.monotonic() + 15
            while started(agent.url, "slow") == 0 or started(agent.url, "rare") == 0:
                assert time.monotonic() < deadline, agent.log()
                time.sleep(0.2)

            # A manual run is what brings a new result of a check scheduled every 10 minutes.
            before = started(agent.url, "rare")
            t0 = time.time()
            status, _, body = post(f"{agent.url}/api/run?only=rare")
            assert status == 202 and json.loads(body)["queued"] == ["rare"]
            deadline = time.monotonic() + 5
            while started(agent.url, "rare") <= before:
                assert time.monotonic() < deadline, "the manual run's result did not appear"
                time.sleep(0.1)
            assert started(agent.url, "rare") >= t0 - 0.5
            status, headers, body = post(f"{agent.url}/api/run?only=rare")
            assert status == 429 and int(headers["retry-after"]) >= 1 and "rare" in json.loads(body)["limited"]

            # 50 requests at once, then one every 0.25 s for 12 s (across three scheduled runs).
            requests_before = len(slow.starts)
            t_burst = time.time()
            with ThreadPoolExecutor(16) as pool:
                answers = list(pool.map(lambda _: post(f"{agent.url}/api/run?only=web")[0], range(50)))
            assert set(answers) <= {202, 429} and answers.count(202) >= 1
            time.sleep(2.5)
            burst_runs = len([t for t in slow.starts if t >= t_burst])
            assert 1 <= burst_runs <= 2, burst_runs  # the burst itself ran the check once (plus a scheduled run)
            end = time.monotonic() + 12
            while time.monotonic() < end:
                post(f"{agent.url}/api/run?only=slow")
                time.sleep(0.25)
            total = len(slow.starts) - requests_before
            # 14.5 s: at most ~4 scheduled runs and 2 manual ones (10 s cooldown) could start.
            assert total <= 7, total
            assert slow.max_active == 1, "a manual run overlapped a scheduled run"
            log = agent.log()
        # No run was skipped for overlapping: run-now never asks while a run is going.
        assert "skipped a run of check slow" not in log


def test_form_post_redirects_back_with_a_notice_and_cross_site_is_refused(tmp_path: Path) -> None:
    with serve_tcp(greet(b"220 ok\r\n")) as tcp:
        cfg = write_config(tmp_path / "c.yml", tmp_path / "state",
                           f"  - {{id: rn, kind: tcp, host: 127.0.0.1, port: {tcp}, interval: 10m, timeout: 2s}}\n")
        with dxagent_run(cfg) as agent:
            host = agent.url.split("//")[1]
            status, _, _ = post(f"{agent.url}/api/run?only=rn", headers={"Origin": "http://evil.example"})
            assert status == 403
            assert post(f"{agent.url}/api/run")[0] == 400
            assert post(f"{agent.url}/api/run?only=nothing-such")[0] == 404
            assert http_get(f"{agent.url}/api/run?only=rn")[0] == 405
            import urllib.request

            class NoRedirect(urllib.request.HTTPRedirectHandler):
                def redirect_request(self, *args: Any) -> None:
                    return None

            opener = urllib.request.build_opener(NoRedirect)
            req = urllib.request.Request(f"{agent.url}/api/run?only=rn&lang=vi", method="POST", data=b"",
                                         headers={"Accept": "text/html", "Origin": f"http://{host}",
                                                  "Content-Type": "application/x-www-form-urlencoded"})
            try:
                opener.open(req, timeout=5)
                raise AssertionError("expected a redirect")
            except urllib.error.HTTPError as exc:
                assert exc.code == 303
                location = exc.headers["Location"]
            assert location == "/?lang=vi&ran=rn"
            page = http_get(f"{agent.url}{location}")[2].decode()
            assert "Đã yêu cầu chạy: rn" in page
            page = http_get(f"{agent.url}/?lang=vi&ran=%3Cscript%3E")[2].decode()
            assert "Đã yêu cầu chạy" not in page and "<script>" not in page.split("<script")[0]


NS_POST = """\
import sys, urllib.request, urllib.error, base64
req = urllib.request.Request(sys.argv[1], method=sys.argv[2], data=b"" if sys.argv[2] == "POST" else None)
if len(sys.argv) > 3:
    req.add_header("Authorization", "Basic " + base64.b64encode(sys.argv[3].encode()).decode())
try:
    print(urllib.request.urlopen(req, timeout=5).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
"""


@pytest.fixture
def lab() -> Iterator[netns.NetLab]:
    netns.skip_unless_available()
    with netns.NetLab() as lab:
        yield lab


def _from(lab: netns.NetLab, host: netns.Host, url: str, method: str = "POST", cred: str | None = None) -> int:
    argv = [sys.executable, "-c", NS_POST, url, method] + ([cred] if cred else [])
    return int(lab.run_in(host, *argv).stdout.strip())


@pytest.mark.root
def test_run_from_another_host_needs_credentials(tmp_path: Path, lab: netns.NetLab) -> None:
    lan = lab.lan()
    pc = lan.add_host()
    with serve_tcp(greet(b"220 ok\r\n")) as tcp:
        check = f"  - {{id: rn, kind: tcp, host: 127.0.0.1, port: {tcp}, interval: 10m, timeout: 2s}}\n"
        port = free_port()
        cfg = write_config(tmp_path / "c.yml", tmp_path / "state", check)
        with dxagent_run(cfg, listen=f"0.0.0.0:{port}"):
            base = f"http://{lan.gateway_v4}:{port}"
            assert _from(lab, pc, f"{base}/", "GET") == 200  # the page itself is as open as /metrics
            assert _from(lab, pc, f"{base}/api/run?only=rn") == 401  # no auth configured: nobody remote may
            assert _from(lab, pc, f"{base}/api/run?only=rn", cred="admin:x") == 401
            assert post(f"http://127.0.0.1:{port}/api/run?only=rn")[0] == 202  # loopback may

        hashed = bcrypt.hashpw(b"mat-khau", bcrypt.gensalt(4)).decode()
        web = tmp_path / "web.yml"
        web.write_text(f"basic_auth_users:\n  ky-thuat: {hashed}\n")
        cfg = write_config(tmp_path / "c2.yml", tmp_path / "state2", check,
                           extra=f"server: {{web_config_file: {web}}}")
        port = free_port()
        with dxagent_run(cfg, listen=f"0.0.0.0:{port}", auth=("ky-thuat", "mat-khau")):
            base = f"http://{lan.gateway_v4}:{port}"
            assert _from(lab, pc, f"{base}/", "GET") == 401  # basic auth covers the page
            assert _from(lab, pc, f"{base}/report", "GET") == 401
            assert _from(lab, pc, f"{base}/api/run?only=rn") == 401
            assert _from(lab, pc, f"{base}/api/run?only=rn", cred="ky-thuat:sai") == 401
            assert _from(lab, pc, f"{base}/api/run?only=rn", cred="ky-thuat:mat-khau") == 202
            assert _from(lab, pc, f"{base}/", "GET", cred="ky-thuat:mat-khau") == 200

"""The local notifier against real receivers: a loopback webhook server that records requests (and
can fail or hang on cue), a real aiosmtpd server with STARTTLS/implicit TLS and AUTH, and a real
`dxagent run` whose loopback target the test breaks and fixes."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from dxagent.alerts import notifier as notify
from dxagent.config import ConfigError, NotifyConfig, SiteConfig, load_text
from dxagent.model import Reason, Result, Status, t
from tests.pki import TestPKI, serve_https
from tests.promtools import dxagent_run, free_port

SITE = SiteConfig(id="hn-xa-thu", name="UBND xã Thử Nghiệm", province="ha-noi")
TOKEN = "tok-3f9a1c7e-very-secret"
PASSWORD = "mk-Bí-Mật-7d2e"
PATH_TOKEN = "T0KEN1N-PATH-55aa"


def result(status: Status, target: str = "127.0.0.1:8443", check: str = "dc-tinh", started: float = 0.0) -> Result:
    bad = status != Status.OK
    return Result(check, "tcp", target, status,
                  t("connection refused", "kết nối bị từ chối") if bad else t("connected in 1 ms", "kết nối trong 1 ms"),
                  hint=t("Check the server.", "Kiểm tra máy chủ.") if bad else None,
                  reason=Reason.CONNECT if bad else None, started=started or time.time())


class Hook:
    """A real webhook receiver on 127.0.0.1 recording every POST; `plan` scripts the next answers
    (an HTTP status, or "hang": read the request and never answer until the test ends)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.plan: list[int | str] = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with hook.lock:
                    hook.requests.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body),
                                          "at": time.monotonic()})
                    action = hook.plan.pop(0) if hook.plan else 200
                if action == "hang":
                    hook.release.wait(30)
                    return
                self.send_response(int(action))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                """quiet"""

        self.handler = Handler

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r["body"] for r in self.requests]


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    h = Hook()
    with serve_https(None, h.handler) as srv:
        yield h, srv.url
        h.release.set()


def config(**kw: Any) -> NotifyConfig:
    return NotifyConfig.model_validate({"backoff": 0.05, "backoff_max": 0.2, "timeout": 2, **kw})


async def drained(n: notify.Notifier, timeout: float = 10.0) -> None:
    """Wait until every destination has nothing queued or in flight (nothing more will be sent)."""
    await asyncio.wait_for(asyncio.gather(*(ch.idle.wait() for ch in n.channels)), timeout)


async def until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# --- hysteresis (pure) -------------------------------------------------------------------------------


def test_tracker_confirms_after_n_and_ignores_flapping() -> None:
    tr = notify.Tracker(config(webhooks=[{"url": "http://127.0.0.1:1/"}], consecutive=3, recovery_consecutive=2))
    seq = [Status.OK, Status.CRIT, Status.OK, Status.CRIT, Status.CRIT, Status.OK,  # flapping below 3: nothing
           Status.CRIT, Status.CRIT, Status.CRIT,                                    # problem on the third
           Status.CRIT, Status.WARN, Status.CRIT, Status.OK, Status.OK]              # recovery on the second OK
    events = [(i, e.kind, e.previous, e.result.status) for i, s in enumerate(seq)
              if (e := tr.observe(result(s, started=1000 + i), 2000 + i))]
    assert events == [(8, "problem", Status.OK, Status.CRIT), (13, "recovery", Status.CRIT, Status.OK)]


def test_tracker_start_in_trouble_change_min_status_and_reminders() -> None:
    tr = notify.Tracker(config(webhooks=[{"url": "http://127.0.0.1:1/"}], min_status="CRIT", resend_every="2m"))
    assert tr.observe(result(Status.CRIT, started=10), 10) is None
    first = tr.observe(result(Status.CRIT, started=20), 20)
    assert first and first.kind == "problem" and first.previous is None and first.since == 10  # just started: unknown before
    assert tr.observe(result(Status.CRIT), 100) is None
    reminder = tr.observe(result(Status.CRIT), 141)
    assert reminder and reminder.kind == "reminder" and reminder.since == 10
    assert tr.observe(result(Status.UNKNOWN), 150) is None
    change = tr.observe(result(Status.UNKNOWN, started=160), 160)
    assert change and change.kind == "change" and change.previous == Status.CRIT
    # WARN is below min_status CRIT: it counts as OK, so two WARN results are a recovery.
    assert tr.observe(result(Status.WARN), 170) is None
    rec = tr.observe(result(Status.WARN), 180)
    assert rec and rec.kind == "recovery" and rec.result.status == Status.WARN
    fresh = notify.Tracker(config(webhooks=[{"url": "http://127.0.0.1:1/"}]))
    assert fresh.observe(result(Status.OK), 1) is None  # starting fine is silent
    tr.retain(["other"])
    assert tr.states == {}


def test_email_text_both_languages() -> None:
    tr = notify.Tracker(config(webhooks=[{"url": "http://127.0.0.1:1/"}], consecutive=1))
    event = tr.observe(result(Status.CRIT), 5)
    assert event is not None
    doc = notify.payload(event, SITE, 5)
    subject, body = notify.email_text(doc, "both")
    assert subject.startswith("[dxagent] SỰ CỐ LỖI: dc-tinh 127.0.0.1:8443 — UBND xã Thử Nghiệm") and "(PROBLEM CRIT)" in subject
    assert body.index("kết nối bị từ chối") < body.index("connection refused")
    assert "Trạng thái: chưa rõ → LỖI (lý do: connect)" in body and "Gợi ý: Kiểm tra máy chủ." in body
    assert notify.email_text(doc, "en")[0].startswith("[dxagent] PROBLEM CRIT: dc-tinh")


@pytest.mark.parametrize(("yaml", "message"), [
    ("notify: {}", "notify: give at least one of webhooks or email"),
    ("notify: {webhooks: [{url: 'ftp://x/'}]}", "notify.webhooks[0]: url must be an http:// or https:// URL"),
    ("notify: {webhooks: [{url: 'http://x/', username: u}]}", "set both username and password"),
    ("notify: {webhooks: [{url: 'http://x/', bearer_token: {env: DXT_NOPE_UNSET}}]}", "DXT_NOPE_UNSET is not set"),
    ("notify: {email: {host: m, security: none, username: u, password: p, sender: a@b, to: [c@d]}}", "clear text"),
    ("notify: {backoff: 10m, webhooks: [{url: 'http://x/'}]}", "backoff must not exceed backoff_max"),
])
def test_config_errors_name_the_field(yaml: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_text(f"site: {{id: x}}\n{yaml}\n", "n.yml")
    assert "n.yml:2: " in str(exc.value) and message in str(exc.value)


# --- webhook delivery ----------------------------------------------------------------------------------


async def test_webhook_hysteresis_recovery_and_payload(hook: tuple[Hook, str], monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("DXT_TOKEN", TOKEN)
    h, url = hook
    n = notify.Notifier(config(webhooks=[{"url": f"{url}hook/{PATH_TOKEN}", "bearer_token": {"env": "DXT_TOKEN"}}]), SITE)
    n.start()
    try:
        n.feed([result(Status.CRIT, started=1000.5)])
        await drained(n)
        assert h.requests == []  # one failed result: nothing
        n.feed([result(Status.CRIT), result(Status.OK, target="other:1")])
        await drained(n)
        assert len(h.requests) == 1
        req = h.requests[0]
        assert req["path"] == f"/hook/{PATH_TOKEN}" and req["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert req["headers"]["Content-Type"] == "application/json; charset=utf-8"
        doc = req["body"]
        assert {k: doc[k] for k in ("schema_version", "event", "check", "kind", "target", "status", "previous_status",
                                    "reason", "started", "consecutive")} == {
            "schema_version": 1, "event": "problem", "check": "dc-tinh", "kind": "tcp", "target": "127.0.0.1:8443",
            "status": "CRIT", "previous_status": None, "reason": "connect", "started": 1000.5, "consecutive": 2}
        assert doc["site"] == {"id": "hn-xa-thu", "name": "UBND xã Thử Nghiệm", "province": "ha-noi", "level": "commune"}
        assert doc["summary"] == {"en": "connection refused", "vi": "kết nối bị từ chối"}
        assert doc["hint"]["vi"] == "Kiểm tra máy chủ." and doc["agent"]["version"] and len(doc["id"]) == 32
        for s in (Status.OK, Status.CRIT, Status.OK, Status.OK, Status.OK):  # flap, then recover
            n.feed([result(s)])
        await drained(n)
        assert [(b["event"], b["previous_status"], b["status"]) for b in h.bodies()] == [
            ("problem", None, "CRIT"), ("recovery", "CRIT", "OK")]
        assert h.bodies()[1]["previous_started"] == 1000.5 and h.bodies()[1]["reason"] is None
        assert n.stats["sent"] == 2 and n.stats["failed"] == 0
    finally:
        await n.close()
    assert "sent problem of dc-tinh" in caplog.text
    assert TOKEN not in caplog.text and PATH_TOKEN not in caplog.text  # httpx's own request line is redacted too
    assert TOKEN not in repr(n.cfg) and PATH_TOKEN not in repr(n.cfg)


async def test_retries_with_backoff_then_accepted_and_permanent_errors(hook: tuple[Hook, str],
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dxagent.alerts.notifier")
    h, url = hook
    h.plan = [503, 503]
    n = notify.Notifier(config(webhooks=[{"url": url}], consecutive=1, backoff=0.2, backoff_max=0.3), SITE)
    n.start()
    try:
        n.feed([result(Status.CRIT)])
        await drained(n)
        assert len(h.requests) == 3 and len({b["id"] for b in h.bodies()}) == 1  # the same notification
        gaps = [b["at"] - a["at"] for a, b in zip(h.requests, h.requests[1:], strict=False)]
        assert gaps[0] >= 0.2 and gaps[1] >= 0.3  # 0.2 s, then doubled and capped at 0.3 s
        assert n.stats["sent"] == 1 and n.stats["retried"] == 2
        assert "attempt 1/6 failed: HTTP 503; retrying in 0.2 s" in caplog.text
        h.plan = [404]  # a client error will not heal by retrying
        n.feed([result(Status.OK)])
        await drained(n)
        assert len(h.requests) == 4 and n.stats["failed"] == 1
        assert "giving up on recovery of dc-tinh 127.0.0.1:8443 after 1 attempt(s): HTTP 404" in caplog.text
    finally:
        await n.close()


async def test_hanging_webhook_costs_its_timeout_and_delays_nothing(hook: tuple[Hook, str],
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    h, url = hook
    fast, fast_url = Hook(), None
    with serve_https(None, fast.handler) as fast_srv:
        fast_url = fast_srv.url
        h.plan = ["hang"]
        n = notify.Notifier(config(webhooks=[{"url": url}, {"url": fast_url}], consecutive=1, timeout=1.5, retries=0), SITE)
        n.start()
        try:
            t0 = time.monotonic()
            n.feed([result(Status.CRIT)])
            fed = time.monotonic() - t0
            ticks: list[float] = []
            while len(h.requests) == 0 or not fast.requests:  # the loop keeps turning while a delivery hangs
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)
            assert fed < 0.5 and fast.requests[0]["at"] - t0 < 1.0  # the other destination did not wait
            await until(lambda: n.stats["failed"] == 1, timeout=5)
            took = time.monotonic() - t0
            assert 1.5 <= took < 3.5, took  # the hanging one cost its timeout, once (retries: 0)
            assert "no answer within 1.5 s" in caplog.text
        finally:
            h.release.set()
            fast.release.set()
            await n.close()


async def test_full_queue_drops_the_oldest(hook: tuple[Hook, str], caplog: pytest.LogCaptureFixture) -> None:
    h, url = hook
    n = notify.Notifier(config(webhooks=[{"url": url}], consecutive=1, queue_size=2), SITE)
    n.start()
    try:
        n.feed([result(Status.CRIT, target=f"t{i}:1") for i in range(4)])  # queued before the worker runs
        await drained(n)
        assert [b["target"] for b in h.bodies()] == ["t2:1", "t3:1"]
        assert n.stats["dropped"] == 2 and "queue full (2): dropped the oldest notification (dc-tinh t1:1" in caplog.text
    finally:
        await n.close()


async def test_sync_keeps_state_over_reload_and_stops(hook: tuple[Hook, str]) -> None:
    _, url = hook
    text = f"site: {{id: s}}\nchecks: [{{id: dc-tinh, kind: tcp, host: 127.0.0.1, port: 1}}]\nnotify: {{webhooks: [{{url: '{url}'}}]}}\n"
    first = notify.sync(None, load_text(text))
    assert first is not None and all(ch.task for ch in first.channels)
    first.feed([result(Status.CRIT)])
    assert notify.sync(first, load_text(text)) is first  # unchanged: same notifier
    text = text.replace("webhooks", "consecutive: 3, webhooks")
    second = notify.sync(first, load_text(text))
    assert second is not None and second is not first and second.tracker is first.tracker and second.tracker.need == 3
    assert second.tracker.states[("dc-tinh", "127.0.0.1:8443")].count == 1  # the run of failures carries on
    assert notify.sync(second, load_text(text.replace("dc-tinh", "other"))) is second
    assert second.tracker.states == {}  # the check left the config
    assert notify.sync(second, load_text("site: {id: s}\n")) is None
    await asyncio.sleep(0.1)
    assert all(ch.task is None for ch in second.channels)


# --- e-mail ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def smtp(pki_dir: Path, *, implicit: bool) -> Iterator[tuple[int, list[Any], Path]]:
    """A real aiosmtpd server on loopback requiring TLS (STARTTLS or implicit) and AUTH with PASSWORD."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    leaf = TestPKI(pki_dir).leaf(hosts=("localhost", "127.0.0.1"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(leaf.chain), str(leaf.key))
    got: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            got.append((session.authenticated, envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            return "250 OK"

    def auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == b"canhbao" and data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself

    port = free_port()
    # aiosmtpd counts only STARTTLS as TLS when offering AUTH; on an implicit-TLS port the link is TLS anyway.
    kw: dict[str, Any] = ({"ssl_context": ctx, "auth_require_tls": False} if implicit
                          else {"tls_context": ctx, "require_starttls": True})
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=auth, auth_required=True,
                            ready_timeout=5, server_hostname="localhost", **kw)
    controller.start()
    try:
        yield port, got, leaf.ca
    finally:
        controller.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit TLS, see smtp()
@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_email_over_tls_with_auth(tmp_path: Path, security: str, caplog: pytest.LogCaptureFixture,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    secret = tmp_path / "smtp-password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    with smtp(tmp_path / "pki", implicit=security == "tls") as (port, got, ca):
        mail = {"host": "127.0.0.1", "port": port, "security": security, "username": "canhbao",
                "password": {"file": str(secret)}, "sender": "dxagent@xa.example", "to": ["cntt@tinh.example"],
                "ca_file": str(ca)}
        n = notify.Notifier(config(email=mail, consecutive=1), SITE)
        n.start()
        try:
            n.feed([result(Status.CRIT)])
            await drained(n)
            assert n.stats["sent"] == 1 and len(got) == 1
            authenticated, sender, rcpts, content = got[0]
            assert authenticated and sender == "dxagent@xa.example" and rcpts == ["cntt@tinh.example"]
            msg = email.message_from_bytes(content, policy=email.policy.default)
            assert str(msg["Subject"]).startswith("[dxagent] SỰ CỐ LỖI: dc-tinh 127.0.0.1:8443 — UBND xã Thử Nghiệm")
            body = msg.get_content()
            assert "kết nối bị từ chối" in body and "connection refused" in body
            # A wrong password is refused once and not retried; the password never shows.
            wrong = {**mail, "password": {"env": "DXT_WRONG"}}
            monkeypatch.setenv("DXT_WRONG", PASSWORD + "-x")
            bad = notify.Notifier(config(email=wrong, consecutive=1), SITE)
            bad.start()
            bad.feed([result(Status.CRIT)])
            await drained(bad)
            await bad.close()
            assert bad.stats["failed"] == 1 and "SMTP AUTH refused (535)" in caplog.text
        finally:
            await n.close()
    assert PASSWORD not in caplog.text


async def test_email_with_untrusted_certificate_is_not_sent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with smtp(tmp_path / "pki", implicit=False) as (port, got, _):
        other_ca = TestPKI(tmp_path / "other").root_pem
        mail = {"host": "127.0.0.1", "port": port, "username": "canhbao", "password": PASSWORD,
                "sender": "a@b.example", "to": ["c@d.example"], "ca_file": str(other_ca)}
        n = notify.Notifier(config(email=mail, consecutive=1), SITE)
        n.start()
        n.feed([result(Status.CRIT)])
        await drained(n)
        await n.close()
    assert got == [] and n.stats["failed"] == 1 and "TLS: " in caplog.text and PASSWORD not in caplog.text


# --- through the daemon ------------------------------------------------------------------------------------


def test_daemon_notifies_problem_and_recovery(tmp_path: Path, hook: tuple[Hook, str]) -> None:
    h, url = hook
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"""\
site: {{id: hn-xa-thu, name: "UBND xã Thử Nghiệm", province: ha-noi}}
state_dir: {tmp_path / 'state'}
notify:
  consecutive: 2
  webhooks: [{{url: "{url}dxagent", bearer_token: {{env: DXT_TOKEN}}}}]
checks:
  - {{id: dc-tinh, kind: tcp, host: 127.0.0.1, port: {port}, interval: 1s, timeout: 1s}}
""", encoding="utf-8")

    def wait_events(n: int, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(h.bodies()) < n:
            assert time.monotonic() < deadline, f"got {h.bodies()}"
            time.sleep(0.1)
        return h.bodies()

    with dxagent_run(cfg, env={"DXT_TOKEN": TOKEN}) as agent:
        time.sleep(2.5)  # a few OK runs (the listener's backlog accepts): nothing to say
        assert h.bodies() == []
        srv.close()  # break the target: connection refused
        problem = wait_events(1)[0]
        assert (problem["event"], problem["status"], problem["reason"], problem["check"]) == (
            "problem", "CRIT", "connect", "dc-tinh")
        assert problem["target"] == f"127.0.0.1:{port}" and problem["previous_status"] == "OK"
        assert problem["site"]["province"] == "ha-noi" and "từ chối" in problem["summary"]["vi"]
        srv = socket.create_server(("127.0.0.1", port))  # fix it
        recovery = wait_events(2)[1]
        assert (recovery["event"], recovery["previous_status"], recovery["status"]) == ("recovery", "CRIT", "OK")
        assert recovery["started"] > problem["started"]
        assert agent.stop() == 0
    srv.close()
    assert h.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert len(h.bodies()) == 2 and not any(TOKEN in line for line in agent.log())
    assert any("sent recovery of dc-tinh" in line for line in agent.log())

"""The local notifier: a confirmed state change of a check → JSON webhook POST and/or e-mail.

For sites no central Prometheus watches. `Notifier.feed(results)` is called with every batch the
daemon records; it never awaits, so checks are never delayed. Per (check, target) a `Tracker`
confirms a new state only after `consecutive` results in a row (hysteresis: one failed probe never
notifies, flapping below N never notifies). Each destination has its own bounded FIFO and its own
asyncio task: a hanging webhook delays neither the checks nor the e-mail, a failed attempt is retried
with exponential backoff (capped) and every attempt has a timeout. Order per destination is kept, so
a recovery never arrives before its problem. Secrets (tokens, passwords, URLs holding tokens) never
reach logs: destinations are named by host only. The payload schema is in docs/early-warning.md.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import socket
import ssl
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from dxagent import __version__
from dxagent.alerts.notifymail import DeliveryError, email_text, smtp_send
from dxagent.config import Config, EmailConfig, NotifyConfig, SiteConfig, WebhookConfig
from dxagent.model import Result, Status
from dxagent.probe import run_blocking

__all__ = ["CLOSE_GRACE", "SCHEMA_VERSION", "DeliveryError", "Event", "Notifier", "Tracker", "email_text", "sync"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CLOSE_GRACE = 5.0  # at shutdown/reload, how long queued notifications may still take
_closing: set[asyncio.Task[None]] = set()


@dataclasses.dataclass(frozen=True)
class Event:
    """A confirmed change (or a reminder) for one target; `since` is when the new state began."""

    kind: str
    result: Result
    previous: Status | None
    previous_since: float | None
    since: float
    count: int


@dataclasses.dataclass
class _State:
    confirmed: Status | None = None
    since: float = 0.0
    candidate: Status | None = None
    count: int = 0
    candidate_since: float = 0.0
    last_sent: float = 0.0


class Tracker:
    """Hysteresis per (check, target): pure state, no I/O, so it is tested without sockets.

    Before its first confirmed state a target is assumed fine: reaching OK is silent, reaching a
    problem notifies with `previous` None (the agent has just started and cannot know before).
    """

    def __init__(self, cfg: NotifyConfig) -> None:
        self.states: dict[tuple[str, str], _State] = {}
        self.configure(cfg)

    def configure(self, cfg: NotifyConfig) -> None:
        self.need = cfg.consecutive
        self.need_ok = cfg.recovery_consecutive or cfg.consecutive
        self.floor = Status[cfg.min_status]
        self.resend = cfg.resend_every

    def level(self, status: Status) -> Status:
        """The state a status counts as: below `min_status` is OK."""
        return Status.OK if status < self.floor else status

    def retain(self, check_ids: Iterable[str]) -> None:
        keep = set(check_ids)
        self.states = {k: s for k, s in self.states.items() if k[0] in keep}

    def observe(self, r: Result, now: float) -> Event | None:
        st = self.states.setdefault((r.check_id, r.target), _State())
        level = self.level(r.status)
        if level == st.confirmed:
            st.candidate, st.count = None, 0
            if level != Status.OK and self.resend and now - st.last_sent >= self.resend:
                st.last_sent = now
                return Event("reminder", r, st.confirmed, st.since, st.since, 0)
            return None
        if st.confirmed is None and level == Status.OK:
            st.confirmed, st.since, st.candidate, st.count = level, r.started, None, 0
            return None
        if level != st.candidate:
            st.candidate, st.count, st.candidate_since = level, 0, r.started
        st.count += 1
        if st.count < (self.need_ok if level == Status.OK else self.need):
            return None
        previous, previous_since = st.confirmed, (st.since if st.confirmed is not None else None)
        kind = "recovery" if level == Status.OK else "problem" if previous in (None, Status.OK) else "change"
        event = Event(kind, r, previous, previous_since, st.candidate_since, st.count)
        st.confirmed, st.since, st.candidate, st.count, st.last_sent = level, st.candidate_since, None, 0, now
        return event


def payload(event: Event, site: SiteConfig, now: float) -> dict[str, Any]:
    """The JSON document POSTed to webhooks (schema_version 1, see docs/early-warning.md)."""
    r = event.result
    return {
        "schema_version": SCHEMA_VERSION, "id": uuid.uuid4().hex, "event": event.kind,
        "site": {"id": site.id, "name": site.name, "province": site.province, "level": site.level},
        "check": r.check_id, "kind": r.kind, "target": r.target,
        "status": r.status.name, "previous_status": event.previous.name if event.previous is not None else None,
        "reason": r.reason.value if r.reason else None,
        "summary": {"en": r.summary.en, "vi": r.summary.vi},
        "hint": {"en": r.hint.en, "vi": r.hint.vi} if r.hint else None,
        "started": round(event.since, 3),
        "previous_started": round(event.previous_since, 3) if event.previous_since is not None else None,
        "consecutive": event.count, "time": round(now, 3),
        "agent": {"version": __version__, "host": socket.gethostname()},
    }


class _Redact(logging.Filter):
    """Keeps webhook URLs (which may hold tokens) out of httpx's own INFO line: only the host stays."""

    prefixes: ClassVar[set[str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and self.prefixes:
            record.args = tuple(_host_only(str(a)) + "/…" if str(a).startswith(tuple(self.prefixes)) else a
                                for a in record.args)
        return True


logging.getLogger("httpx").addFilter(_Redact())


def _host_only(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}"


class _Channel:
    """One destination: its FIFO (bounded, oldest dropped), its worker task, its send()."""

    def __init__(self, name: str, cfg: NotifyConfig, stats: collections.Counter[str], secrets: list[str]) -> None:
        self.name, self.cfg, self.stats, self.secrets = name, cfg, stats, [s for s in secrets if s]
        self.queue: collections.deque[dict[str, Any]] = collections.deque()
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.task: asyncio.Task[None] | None = None

    def put(self, doc: dict[str, Any]) -> None:
        if len(self.queue) >= self.cfg.queue_size:
            old = self.queue.popleft()
            self.stats["dropped"] += 1
            log.warning("notify %s: queue full (%d): dropped the oldest notification (%s %s %s); %d dropped so far",
                        self.name, self.cfg.queue_size, old["check"], old["target"], old["event"],
                        self.stats["dropped"], extra={"check": old["check"], "target": old["target"]})
        self.queue.append(doc)
        self.idle.clear()
        self.wake.set()

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<secret>")
        return text

    async def run(self) -> None:
        while True:
            if not self.queue:
                self.idle.set()
                self.wake.clear()
                await self.wake.wait()
                continue
            await self._deliver(self.queue.popleft())

    async def _deliver(self, doc: dict[str, Any]) -> None:
        cfg, attempts = self.cfg, self.cfg.retries + 1
        ctx = {"check": doc["check"], "target": doc["target"]}
        for attempt in range(1, attempts + 1):
            try:
                await asyncio.wait_for(self.send(doc), cfg.timeout)
                self.stats["sent"] += 1
                log.info("notify %s: sent %s of %s %s (%s)", self.name, doc["event"], doc["check"], doc["target"],
                         doc["status"], extra=ctx)
                return
            except (DeliveryError, TimeoutError, OSError) as exc:
                why = self.scrub(str(exc) or f"no answer within {cfg.timeout:g} s")
                if getattr(exc, "permanent", False) or attempt == attempts:
                    self.stats["failed"] += 1
                    log.error("notify %s: giving up on %s of %s %s after %d attempt(s): %s", self.name, doc["event"],
                              doc["check"], doc["target"], attempt, why, extra=ctx)
                    return
                delay = min(cfg.backoff * 2 ** (attempt - 1), cfg.backoff_max)
                self.stats["retried"] += 1
                log.log(logging.WARNING if attempt == 1 else logging.INFO,
                        "notify %s: attempt %d/%d failed: %s; retrying in %g s", self.name, attempt, attempts, why,
                        delay, extra=ctx)
                await asyncio.sleep(delay)
            except Exception as exc:  # a fault of ours must not kill the worker: this notification is lost, not the next
                self.stats["failed"] += 1
                log.error("notify %s: cannot deliver %s of %s %s: %s", self.name, doc["event"], doc["check"],
                          doc["target"], type(exc).__name__ if isinstance(exc, UnicodeError)  # quotes the data
                          else self.scrub(f"{type(exc).__name__}: {exc}"), extra=ctx)
                return

    async def send(self, doc: dict[str, Any]) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections."""


class _Webhook(_Channel):
    def __init__(self, cfg: NotifyConfig, hook: WebhookConfig, stats: collections.Counter[str]) -> None:
        self.url = hook.url.reveal()
        secrets = [self.url, *(s.reveal() for s in (hook.bearer_token, hook.password) if s is not None)]
        super().__init__(f"webhook {_host_only(self.url)}", cfg, stats, secrets)
        self.hook = hook
        self.client: Any = None
        parts = urlsplit(self.url)
        _Redact.prefixes.add(f"{parts.scheme}://{parts.netloc}")

    async def send(self, doc: dict[str, Any]) -> None:
        import httpx  # only once a webhook is configured and something is sent

        from dxagent.checks.http.client import ssl_context

        hook = self.hook
        if self.client is None:  # kept across sends: a keep-alive connection to the receiver
            # the system's roots (as the http kind), not httpx's default certifi bundle; ca_file alone when given
            verify = ssl_context(None, False) if hook.ca_file is None else ssl.create_default_context(cafile=str(hook.ca_file))
            self.client = httpx.AsyncClient(timeout=self.cfg.timeout, verify=verify, follow_redirects=False)
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": f"dxagent/{__version__}"}
        if hook.bearer_token is not None:
            headers["Authorization"] = f"Bearer {hook.bearer_token.reveal()}"
        auth = (hook.username, hook.password.reveal()) if hook.username and hook.password else None
        body = json.dumps(doc, ensure_ascii=False).encode()
        try:
            resp = await self.client.post(self.url, content=body, headers=headers, auth=auth)
        except httpx.TimeoutException:
            raise DeliveryError(f"no answer within {self.cfg.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
        if not 200 <= resp.status_code < 300:
            transient = resp.status_code in (408, 425, 429) or resp.status_code >= 500
            raise DeliveryError(f"HTTP {resp.status_code}", permanent=not transient)

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None


class _Email(_Channel):
    def __init__(self, cfg: NotifyConfig, mail: EmailConfig, stats: collections.Counter[str]) -> None:
        secrets = [mail.password.reveal()] if mail.password is not None else []
        super().__init__(f"e-mail {mail.host}:{mail.port}", cfg, stats, secrets)
        self.mail = mail

    async def send(self, doc: dict[str, Any]) -> None:
        await run_blocking(smtp_send, self.mail, doc, self.cfg.timeout)


class Notifier:
    """Hysteresis + queued delivery. `feed()` is synchronous and cheap; `start()` needs a running loop."""

    def __init__(self, cfg: NotifyConfig, site: SiteConfig, groups: Mapping[str, Iterable[str]] | None = None,
                 tracker: Tracker | None = None) -> None:
        self.cfg, self.site = cfg, site
        self.groups = {k: set(v) for k, v in (groups or {}).items()}
        self.tracker = tracker or Tracker(cfg)
        self.tracker.configure(cfg)
        self.stats: collections.Counter[str] = collections.Counter()
        self.channels: list[_Channel] = [_Webhook(cfg, hook, self.stats) for hook in cfg.webhooks]
        if cfg.email is not None:
            self.channels.append(_Email(cfg, cfg.email, self.stats))

    def wanted(self, r: Result) -> bool:
        only = self.cfg.only
        return not only or r.check_id in only or r.kind in only or bool(self.groups.get(r.check_id, set()) & set(only))

    def feed(self, results: Iterable[Result]) -> None:
        """Track a batch of results and queue a notification per confirmed change. Never awaits."""
        now = time.time()
        for r in results:
            if not self.wanted(r):
                continue
            event = self.tracker.observe(r, now)
            if event is None:
                continue
            doc = payload(event, self.site, now)
            self.stats["events"] += 1
            log.info("notify: %s %s: %s (%s → %s)", r.check_id, r.target, event.kind, doc["previous_status"],
                     doc["status"], extra={"check": r.check_id, "target": r.target})
            for ch in self.channels:
                ch.put(doc)

    def start(self) -> None:
        for ch in self.channels:
            if ch.task is None:
                ch.task = asyncio.get_running_loop().create_task(ch.run(), name=f"dxagent-{ch.name}")

    async def close(self, grace: float = CLOSE_GRACE) -> None:
        """Let queued notifications go out for up to `grace` seconds, then stop the workers."""
        waits = [asyncio.ensure_future(ch.idle.wait()) for ch in self.channels if ch.task is not None]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=grace)
            for w in pending:
                w.cancel()
        for ch in self.channels:
            if ch.queue:
                log.warning("notify %s: %d notification(s) not delivered before stopping", ch.name, len(ch.queue))
            if ch.task is not None:
                ch.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ch.task
                ch.task = None
            await ch.aclose()


def sync(current: Notifier | None, cfg: Config) -> Notifier | None:
    """Start, keep, reconfigure or stop the notifier for a (new) config; call inside the running loop.

    The hysteresis state carries over a reload, so a reload neither repeats nor loses a problem;
    a replaced notifier finishes its queue in the background for up to CLOSE_GRACE.
    """
    groups = {c.id: c.groups for c in cfg.checks if c.enabled}
    if current is not None and cfg.notify is not None and current.cfg == cfg.notify:
        current.site, current.groups = cfg.site, {k: set(v) for k, v in groups.items()}
        current.tracker.retain(groups)
        return current
    new = None
    if cfg.notify is not None:
        new = Notifier(cfg.notify, cfg.site, groups, tracker=current.tracker if current else None)
        new.tracker.retain(groups)
        new.start()
    if current is not None:
        task = asyncio.get_running_loop().create_task(current.close())
        _closing.add(task)
        task.add_done_callback(_closing.discard)
    return new

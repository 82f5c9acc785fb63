"""Push the exposition to a Pushgateway, for sites the provincial Prometheus cannot scrape.

The group is `job=<push.job>, site_id=<site.id>`, so every site replaces only its own group
(PUT) and a site that stops pushing keeps its last values plus the gateway's own
`push_time_seconds`, which the alert rules watch for staleness. Uses http.client on a daemon
thread with the configured timeout, so a dead gateway costs at most that budget and never
blocks the checks.
"""

from __future__ import annotations

import base64
import http.client
import ssl
from urllib.parse import quote, urlsplit

from dxagent.config import PushConfig

__all__ = ["PushError", "group_path", "push"]


class PushError(Exception):
    """The push failed; the message is safe to log (no credentials)."""


def _segment(name: str, value: str) -> str:
    # Values with '/' or empty need the base64 form of the Pushgateway URL grammar.
    if not value or "/" in value:
        enc = base64.urlsafe_b64encode(value.encode()).decode()
        return f"{name}@base64/{enc or '='}"
    return f"{name}/{quote(value, safe='')}"


def group_path(base: str, job: str, site_id: str) -> str:
    """`/metrics/job/<job>/site_id/<id>` under the gateway's base path."""
    prefix = urlsplit(base).path.rstrip("/")
    return f"{prefix}/metrics/{_segment('job', job)}/{_segment('site_id', site_id)}"


def push(cfg: PushConfig, site_id: str, body: bytes) -> int:
    """PUT the text-format `body` as the site's group; returns the HTTP status or raises PushError."""
    if cfg.url is None:
        raise PushError("push.url is not set")
    url = urlsplit(cfg.url)
    conn: http.client.HTTPConnection
    if url.scheme == "https":
        ctx = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
        conn = http.client.HTTPSConnection(url.hostname or "", url.port or 443, timeout=cfg.timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=cfg.timeout)
    headers = {"Content-Type": "text/plain; version=0.0.4; charset=utf-8", "User-Agent": "dxagent"}
    if cfg.username is not None and cfg.password is not None:
        token = base64.b64encode(f"{cfg.username}:{cfg.password.reveal()}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        conn.request("PUT", group_path(cfg.url, cfg.job, site_id), body=body, headers=headers)
        resp = conn.getresponse()
        detail = resp.read(300).decode("utf-8", "replace").strip()
    except (OSError, http.client.HTTPException) as exc:
        what = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc) or type(exc).__name__)
        raise PushError(f"cannot push to {url.scheme}://{url.hostname}:{url.port or ''}: {what}") from None
    finally:
        conn.close()
    if resp.status >= 300:
        raise PushError(f"Pushgateway answered {resp.status} {resp.reason}: {detail[:200]}")
    return resp.status

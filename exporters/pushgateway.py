"""Push the exposition to a Pushgateway, for sites the provincial Prometheus cannot scrape.

The group is `job=<push.job>, site_id=<site.id>` and the push is a PUT (prometheus_client's
`push_to_gateway`), so every site replaces only its own group, and a site that stops pushing
keeps its last values plus the gateway's own `push_time_seconds`, which the alert rules watch
for staleness. Basic auth goes through the library's `basic_auth_handler`; with `ca_file` a
small handler of ours opens the request with an SSL context that trusts that CA. The caller
runs `push` on a worker thread with the configured timeout, so a dead gateway never blocks
the checks.
"""

from __future__ import annotations

import base64
import http.client
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from functools import partial
from urllib.parse import urlsplit

from prometheus_client.exposition import basic_auth_handler, default_handler, push_to_gateway
from prometheus_client.registry import Collector

from dxagent.config import PushConfig

__all__ = ["PushError", "push", "handler_for"]

Handler = Callable[..., Callable[[], None]]


class PushError(Exception):
    """The push failed; the message is safe to log (no credentials, no URL user info)."""


def _ca_handler(context: ssl.SSLContext, username: str | None, password: str | None,
                url: str, method: str, timeout: float | None, headers: Sequence[tuple[str, str]],
                data: bytes) -> Callable[[], None]:
    """A push_to_gateway handler that verifies the gateway with `context` (the configured CA)."""

    def handle() -> None:
        request = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
        if username is not None and password is not None:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
        with opener.open(request, timeout=timeout) as resp:
            resp.read()

    return handle


def handler_for(cfg: PushConfig) -> Handler:
    """The push_to_gateway handler for this config: library handlers unless a CA file is set."""
    username = cfg.username
    password = cfg.password.reveal() if cfg.password is not None else None
    if cfg.ca_file is not None:
        try:
            context = ssl.create_default_context(cafile=str(cfg.ca_file))
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError: a file that holds no certificate
            what = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise PushError(f"cannot use push.ca_file {cfg.ca_file}: {what}") from None
        return partial(_ca_handler, context, username, password)
    if username is not None and password is not None:
        return partial(basic_auth_handler, username=username, password=password)
    return default_handler


def push(cfg: PushConfig, site_id: str, registry: Collector) -> None:
    """PUT `registry`'s exposition as the site's group; raises PushError with a safe message."""
    if cfg.url is None:
        raise PushError("push.url is not set")
    url = urlsplit(cfg.url)
    where = f"{url.scheme}://{url.hostname}" + (f":{url.port}" if url.port else "")
    handler = handler_for(cfg)
    try:
        push_to_gateway(cfg.url, job=cfg.job, registry=registry, grouping_key={"site_id": site_id},
                        timeout=cfg.timeout, handler=handler)
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip()
        raise PushError(f"Pushgateway {where} answered {exc.code} {exc.reason}: {detail[:200]}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        what = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
        raise PushError(f"cannot push to {where}: {what}") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        what = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc) or type(exc).__name__)
        raise PushError(f"cannot push to {where}: {what}") from None

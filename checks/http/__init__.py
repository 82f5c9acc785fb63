"""`http`: is a web portal reachable over HTTP(S), how fast in each phase, and does it answer as expected.

For the national portals (dichvucong.gov.vn, vneid.gov.vn) and the province's TTHC system. Phase
times match blackbox_exporter's probe_http_duration_seconds (from httpx's trace extension; DNS is
timed before the connect, see checks/http/client.py); certificates in depth belong to the `tls`
kind. Every wait is bounded by the check's budget and the body by `max_body_bytes`, so a hostile
server costs at most that.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from dxagent.checks.http.judge import PHASES, Measurement, Verdict, judge, parse_status_spec, redact_url, status_matches
from dxagent.config.check import CheckConfig
from dxagent.config.types import ByteSize, Model, Secret
from dxagent.limits import TimeLimit, defaults
from dxagent.model import Result, Sample, Status
from dxagent.probe import ProbeContext

__all__ = ["EXAMPLE", "METRICS", "Config", "Measurement", "Verdict", "judge", "probe", "status_matches"]

METRICS: dict[str, str] = {
    "http_success": "1 if the request succeeded and every expectation held (status, content, TLS), else 0.",
    "http_duration_seconds": "Seconds per phase (dns, connect, tls, request, ttfb, transfer, summed over redirects; "
                             "total = the whole probe).",
    "http_status_code": "Status code of the final response (0 when no response was received).",
    "http_content_length_bytes": "Content-Length header of the final response, when sent.",
    "http_body_bytes": "Body bytes read and decompressed (at most max_body_bytes).",
    "http_body_limit_reached": "1 if the body was larger than max_body_bytes and reading stopped there.",
    "http_redirects": "Number of redirects followed.",
    "http_version": "HTTP version of the final response (1.0, 1.1 or 2).",
    "http_ssl": "1 if the final response came over TLS, else 0.",
    "http_ssl_earliest_cert_expiry_timestamp_seconds": "Not-after of the server's leaf certificate (Unix time).",
}

EXAMPLE = """\
# Is the national public-service portal reachable over HTTPS, and fast enough?
- id: portal-dichvucong
  kind: http
  url: https://dichvucong.gov.vn/
  interval: 2m
  timeout: 10s
  require_tls: true
  expect:
    status: ["2xx"]               # codes (200), ranges ("200-299") or classes ("2xx")
  thresholds: {warn: 3s, crit: 8s}  # total time
# The province's TTHC system, behind a login, with an internal CA.
- id: tthc-tinh
  kind: http
  url: https://motcua.tinh.example.gov.vn/api/health
  # basic_auth: {username: giamsat, password: {env: TTHC_PASSWORD}}   # password from the environment
  # ca_file: /etc/dxagent/ca-tinh.pem   # CA bundle of an internal certificate authority
  expect:
    body_contains: ["ok"]
"""

_TOKEN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
_HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "upgrade"}


def _url(value: str, *, what: str = "URL", schemes: tuple[str, ...] = ("http", "https")) -> str:
    if any(c.isspace() for c in value):
        raise ValueError(f"{what} must not contain spaces (percent-encode them)")
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid {what}: {exc}") from None
    if parts.scheme not in schemes:
        raise ValueError(f"{what} must start with {' or '.join(s + '://' for s in schemes)}")
    if not parts.hostname:
        raise ValueError(f"{what} has no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{what} must not contain user:password@ (it would show in output); "
                         "use basic_auth / proxy_auth with a secret reference such as {env: NAME}")
    return value


def _regex(value: str) -> str:
    import re

    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return value


def _ca_file(value: Path) -> Path:
    try:
        ssl.create_default_context(cafile=str(value))
    except FileNotFoundError:
        raise ValueError(f"file not found: {value}") from None
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(f"not a readable PEM CA bundle: {value} ({getattr(exc, 'reason', None) or exc})") from None
    return value


def _headers(value: dict[str, str]) -> dict[str, str]:
    import re

    for name, val in value.items():
        if not re.match(_TOKEN, name):
            raise ValueError(f"invalid header name {name!r}")
        if name.lower() in _HOP_HEADERS:
            raise ValueError(f"header {name} is set by the HTTP client; remove it")
        if "\r" in val or "\n" in val:
            raise ValueError(f"header {name} must be one line")
        if not _sendable(val):
            raise ValueError(f"header {name} must be printable ASCII (percent-encode other text)")
    return value


def _sendable(value: str) -> bool:
    """A header value HTTP/1.1 can carry as given: printable ASCII and tabs (what httpx sends unchanged)."""
    return all(c == "\t" or " " <= c <= "~" for c in value)


StatusSpec = Annotated[str, BeforeValidator(parse_status_spec)]
Regex = Annotated[str, AfterValidator(_regex)]


class BasicAuth(Model):
    """HTTP basic authentication; the password is a secret reference."""

    username: str = Field(min_length=1, description="User name.")
    password: Secret = Field(description="Password: `{env: NAME}` or `{file: PATH}`.")


class Expect(Model):
    """What a good answer looks like; every listed rule must hold."""

    status: tuple[StatusSpec, ...] = Field(("2xx",), min_length=1,
                                           description="Accepted status codes: `200`, `\"200-299\"` or `\"2xx\"`.")
    body_contains: tuple[str, ...] = Field((), description="Texts the body must contain (each).")
    body_regex: tuple[Regex, ...] = Field((), description="Regular expressions the body must match (each).")
    body_not_regex: tuple[Regex, ...] = Field((), description="Regular expressions the body must not match (any).")
    headers: dict[str, Regex] = Field(default_factory=dict,
                                      description="Response header name → regular expression its value must match.")


class Config(CheckConfig):
    """Request `url` and check the answer (status, content, headers, TLS) and the time taken."""

    kind: Literal["http"] = "http"
    url: Annotated[str, AfterValidator(_url)] = Field(description="http:// or https:// URL to request.")
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = Field("GET", description="HTTP method.")
    headers: Annotated[dict[str, str], AfterValidator(_headers)] = Field(
        default_factory=dict, description="Extra request headers (e.g. `Host` for a virtual host).")
    body: str | None = Field(None, description="Request body (for POST/PUT/PATCH).")
    basic_auth: BasicAuth | None = Field(None, description="Basic authentication (sent only to the URL's own origin).")
    bearer_token: Secret | None = Field(None, description="Bearer token for `Authorization` (sent only to the URL's origin).")
    proxy: Annotated[str, AfterValidator(lambda v: _url(v, what="proxy"))] | None = Field(
        None, description="HTTP proxy URL, e.g. `http://proxy.tinh.example:3128`; default: direct (proxy variables "
                          "in the environment are ignored).")
    proxy_auth: BasicAuth | None = Field(None, description="Credentials for the proxy.")
    ca_file: Annotated[Path, AfterValidator(_ca_file)] | None = Field(
        None, description="Extra CA bundle (PEM) to trust besides the system CAs, for internal CAs.")
    insecure_skip_verify: bool = Field(False, description="Do not verify the certificate (measures, but never use "
                                                          "for public portals).")
    ip_family: Literal["any", "ipv4", "ipv6"] = Field("any", description="Address family to connect with.")
    http2: bool = Field(False, description="Offer HTTP/2 (ALPN) on https; the server may still answer HTTP/1.1.")
    follow_redirects: bool = Field(True, description="Follow 3xx redirects (credentials stay with the first origin).")
    max_redirects: int = Field(10, ge=0, le=30, description="Redirects followed at most; more is a failure.")
    max_body_bytes: ByteSize = Field("1MiB", ge=0, le=64 * 1024 * 1024,
                                     description="Body bytes read at most (after decompression); beyond that reading "
                                                 "stops and the check warns. 0 = do not read the body.")
    require_tls: bool = Field(False, description="Fail unless the final response came over https.")
    expect: Expect = Field(default_factory=Expect, description="Expected status, content and headers.")
    thresholds: TimeLimit = defaults(TimeLimit(), "Limits on the total time (all phases and redirects).")

    def target_label(self) -> str:
        return redact_url(self.url)

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if self.basic_auth is not None and self.bearer_token is not None:
            raise ValueError("use basic_auth or bearer_token, not both")
        if (self.basic_auth or self.bearer_token) and any(h.lower() == "authorization" for h in self.headers):
            raise ValueError("an Authorization header conflicts with basic_auth / bearer_token")
        if self.bearer_token is not None and self.bearer_token.resolved and not _sendable(self.bearer_token.reveal()):
            raise ValueError("bearer_token must be printable ASCII on one line (the value is not shown)")
        if self.insecure_skip_verify and self.ca_file is not None:
            raise ValueError("ca_file has no effect with insecure_skip_verify: true; remove one")
        if self.proxy_auth is not None and self.proxy is None:
            raise ValueError("proxy_auth needs proxy")
        ex = self.expect
        if (ex.body_contains or ex.body_regex or ex.body_not_regex) and (self.method == "HEAD" or not self.max_body_bytes):
            raise ValueError("body expectations need a body: not with method HEAD or max_body_bytes 0")
        if self.require_tls and self.url.startswith("http://") and not self.follow_redirects:
            raise ValueError("require_tls with an http:// URL can only pass through a redirect: "
                             "use https:// or follow_redirects: true")
        return self


async def probe(cfg: Config, ctx: ProbeContext) -> Result:
    from dxagent.checks.http import flow  # httpx is imported when a check of this kind runs

    timeline, m, extra = await flow.run(cfg, ctx)
    verdict = judge(cfg, m)
    # Success means "worked and met the expectations"; a WARN (slow, body over the limit) still worked.
    samples = [Sample.of("http_success", m.failure is None and verdict.status <= Status.WARN)]
    samples += [Sample.of("http_duration_seconds", timeline.seconds[p], phase=p) for p in PHASES]
    samples.append(Sample.of("http_duration_seconds", m.total, phase="total"))
    samples.append(Sample.of("http_status_code", m.status_code))
    samples.append(Sample.of("http_redirects", m.redirects))
    details: dict[str, Any] = {
        "url": redact_url(cfg.url), "final_url": m.final_url or redact_url(cfg.url), "redirects": m.redirects,
        "phases": {p: round(timeline.seconds[p], 6) for p in PHASES}, "total_seconds": round(m.total, 6),
    }
    if m.address:
        details["remote_address"] = m.address
    if m.failure is not None:
        details.update(phase=m.failure.phase, error=m.failure.code)
    if verdict.problem and m.failure is None:
        details["problem"] = verdict.problem
    if m.status_code:
        samples.append(Sample.of("http_version", {"HTTP/2": 2.0, "HTTP/1.0": 1.0}.get(m.http_version, 1.1)))
        samples.append(Sample.of("http_ssl", m.tls))
        samples.append(Sample.of("http_body_bytes", m.body_bytes))
        samples.append(Sample.of("http_body_limit_reached", m.body_limit_hit))
        details.update(status=m.status_code, http_version=m.http_version, body_bytes=m.body_bytes,
                       body_limit_reached=m.body_limit_hit, tls=m.tls)
        details.update(extra)
        length = m.headers.get("content-length", "")
        if length.isdigit():
            samples.append(Sample.of("http_content_length_bytes", int(length)))
        if extra.get("cert_not_after") is not None:
            samples.append(Sample.of("http_ssl_earliest_cert_expiry_timestamp_seconds", extra["cert_not_after"]))
    return ctx.result(verdict.status, verdict.summary, target=cfg.target_label(), reason=verdict.reason,
                      hint=verdict.hint, samples=samples, details=details)


__all__ += ["BasicAuth", "Expect"]

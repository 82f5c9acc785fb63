"""Measuring helpers for the `http` kind: the phase timeline fed by httpx's trace, a bounded body reader.

`Timeline.trace` is the callback of httpx's `trace` request extension: httpcore reports each
operation (connect_tcp, start_tls, send_request_headers, receive_response_headers, … for HTTP/1.1
and HTTP/2) as started/complete/failed, which gives the phases and, after a failure or timeout,
the phase it happened in. The name lookup is not among them (checks/http/client.py times it).

Why a bounded decoder: httpx decompresses a whole chunk at once; a small gzip chunk can expand
to gigabytes. We read raw bytes and decompress with `max_length`, never past `max_body_bytes`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import ssl
import time
import zlib
from typing import Any

from dxagent.checks.http.judge import PHASES

__all__ = ["BodyReader", "Timeline", "cert_not_after", "clean_text", "html_title", "tls_failure"]


# httpcore trace operation → our phase; "request" spans headers and body sending. The operation
# names are the same for http11.* and http2.*; connection.* covers connect and TLS.
_TRACE_BEGIN = {
    "connect_tcp": "connect",
    "start_tls": "tls",
    "send_connection_init": "request",
    "send_request_headers": "request",
    "receive_response_headers": "ttfb",
}
_TRACE_END = {"connect_tcp": "connect", "start_tls": "tls", "send_request_body": "request", "receive_response_headers": "ttfb"}


class Timeline:
    """Seconds spent per phase, summed over every request of a redirect chain.

    `current` is the phase in progress and `failed` the phase whose operation raised: after a
    timeout or error they say where the probe was, which is what the technician needs.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self.current: str | None = None
        self.failed: str | None = None
        self.last: str | None = None
        self._since = 0.0

    def begin(self, phase: str) -> None:
        if self.current == phase:
            return
        if self.current is not None:
            self.end(self.current)
        self.current, self._since = phase, time.monotonic()

    def end(self, phase: str, *, failed: bool = False) -> None:
        if self.current != phase:
            return
        self.seconds[phase] += time.monotonic() - self._since
        self.current, self.last = None, phase
        if failed:
            self.failed = phase

    def fail(self) -> None:
        """The operation in progress raised: its phase is where the probe failed (the trace's "failed")."""
        if self.current is not None:
            self.end(self.current, failed=True)

    def where(self) -> str:
        """The phase a failure happened in (in progress, failed, else the last one that ran)."""
        return self.current or self.failed or self.last or "dns"

    async def trace(self, name: str, info: dict[str, Any]) -> None:
        """httpx/httpcore trace hook (`extensions={"trace": timeline.trace}`)."""
        _, op, event = name.rsplit(".", 2)
        if event == "started":
            phase = _TRACE_BEGIN.get(op)
            if phase is not None:
                self.begin(phase)
        elif event == "failed":
            self.fail()
        elif event == "complete":
            phase = _TRACE_END.get(op)
            if phase is not None:
                self.end(phase)


@dataclasses.dataclass
class BodyReader:
    """Feeds raw body chunks, decodes gzip/deflate within `limit` bytes, and says when to stop."""

    limit: int
    encoding: str = "identity"
    raw_bytes: int = 0
    limit_hit: bool = False
    decoded: bytearray = dataclasses.field(default_factory=bytearray)
    _z: Any = None

    def __post_init__(self) -> None:
        enc = self.encoding.strip().lower()
        if enc in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self._z = zlib.decompressobj(zlib.MAX_WBITS)

    def feed(self, chunk: bytes) -> bool:
        """Take one raw chunk; False once the limit is reached (stop reading then)."""
        self.raw_bytes += len(chunk)
        room = self.limit - len(self.decoded)
        if room <= 0:
            over = bool(chunk)
        elif self._z is None:
            self.decoded += chunk[:room]
            over = len(chunk) > room
        else:
            try:
                self.decoded += self._z.decompress(chunk, room)
                over = bool(self._z.unconsumed_tail)
            except zlib.error:
                self._z = None  # mislabelled, not really compressed: keep the bytes as they are
                self.decoded += chunk[:room]
                over = len(chunk) > room
        if over or self.raw_bytes > self.limit:
            self.limit_hit = True
        return not self.limit_hit

    def text(self, content_type: str) -> str:
        m = re.search(r"charset=\s*\"?([\w.:-]+)", content_type or "", re.I)
        try:
            return bytes(self.decoded).decode(m.group(1) if m else "utf-8", "replace")
        except LookupError:
            return bytes(self.decoded).decode("utf-8", "replace")


_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")


def clean_text(text: str, limit: int = 200) -> str:
    """Untrusted server text for output: control and bidi characters removed, whitespace collapsed, cut."""
    return " ".join(_CONTROL.sub(" ", text).split())[:limit]


def html_title(text: str) -> str | None:
    """The page <title> (unescaped, whitespace and control characters collapsed, 200 chars): untrusted text."""
    m = _TITLE.search(text, 0, 262144)
    if not m:
        return None
    raw = m.group(1)
    if "&" in raw:  # html's entity table costs 0.4 MiB in the daemon; most titles carry no entity
        import html

        raw = html.unescape(raw)
    title = " ".join(_CONTROL.sub(" ", raw).split())
    return title[:200] or None


def cert_not_after(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> float | None:
    """The peer leaf certificate's not-after (Unix time), verified or not, parsed by `cryptography.x509`."""
    if ssl_object is None:
        return None
    try:
        der = ssl_object.getpeercert(binary_form=True)
    except (ValueError, ssl.SSLError):
        return None
    return _not_after(der) if der else None


@functools.lru_cache(maxsize=256)
def _not_after(der: bytes) -> float | None:
    """Not-after of one DER certificate; a server presents the same one probe after probe, so it is kept."""
    from cryptography import x509  # only once an https response arrived

    try:
        return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    except ValueError:
        return None


# OpenSSL X509_V_ERR_* codes → a stable category for details and hints.
_VERIFY_CODES = {
    9: "not_yet_valid", 10: "expired", 18: "self_signed", 19: "self_signed_chain",
    2: "unknown_issuer", 20: "unknown_issuer", 21: "unknown_issuer",
    62: "hostname_mismatch", 64: "hostname_mismatch", 26: "wrong_purpose",
}


def tls_failure(exc: BaseException) -> tuple[str, str] | None:
    """(category, OpenSSL's message) when `exc` or its causes is a TLS error, else None."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLCertVerificationError):
            message = cur.verify_message or str(cur)
            return _VERIFY_CODES.get(cur.verify_code, "verify_failed"), message
        if isinstance(cur, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return "handshake", f"connection closed during the TLS handshake ({cur.reason or cur})"
        if isinstance(cur, ssl.SSLError):
            return "handshake", cur.reason or cur.strerror or str(cur)
        cur = cur.__cause__ or cur.__context__
    return None

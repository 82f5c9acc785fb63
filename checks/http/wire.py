"""What the `http` kind's flow and its two transports share: request, response, headers and errors.

Why: one exchange loop (redirects, credentials, cookies, body limits, failure classification in
checks/http/flow.py) over two transports — h11 on our own socket stream for direct requests
(checks/http/h11.py, no httpx import) and httpx for a proxy or HTTP/2 (checks/http/xport.py,
imported only then). The types here are the small interface between them; the error classes
carry httpcore's names so the httpx side maps one to one and `_httpflow.classify` needs no httpx.
Headers behave as httpx.Headers (ASCII, then UTF-8, then Latin-1; repeated names joined with ", "),
so what the judge sees does not depend on the transport.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from dxagent.checks.http.url import URL

__all__ = ["ConnectError", "ConnectTimeout", "LocalProtocolError", "NetworkError", "ProtocolError", "ProxyError",
           "ReadError", "ReadTimeout", "RemoteProtocolError", "Request", "Response", "ResponseHeaders", "TimeoutException",
           "Transport", "TransportError", "WriteError", "WriteTimeout", "prepare_headers", "update_headers"]


class TransportError(Exception):
    """Any failure of a transport below the flow (httpx.TransportError's place)."""


class TimeoutException(TransportError):
    """A per-operation timeout (the flow uses one overall deadline; kept for the streams' own timeouts)."""


class ConnectTimeout(TimeoutException):
    pass


class ReadTimeout(TimeoutException):
    pass


class WriteTimeout(TimeoutException):
    pass


class NetworkError(TransportError):
    """The network failed: classified `closed` unless something more precise applies."""


class ConnectError(NetworkError):
    pass


class ReadError(NetworkError):
    pass


class WriteError(NetworkError):
    pass


class ProtocolError(TransportError):
    """Not valid HTTP."""


class LocalProtocolError(ProtocolError):
    pass


class RemoteProtocolError(ProtocolError):
    pass


class ProxyError(TransportError):
    pass


class DecodingError(TransportError):
    """httpx.DecodingError's place (the flow decodes bodies itself; only the httpx side could raise it)."""


Headers = list[tuple[bytes, bytes]]


def update_headers(headers: Headers, new: Mapping[str, str]) -> None:
    """httpx.Headers.update: every name in `new` replaces all earlier ones; values must be ASCII (as httpx)."""
    if not new:
        return
    items = [(k.encode("ascii"), v.encode("ascii")) for k, v in new.items()]
    names = {k.lower() for k, _ in items}
    headers[:] = [h for h in headers if h[0].lower() not in names]
    headers.extend(items)


def prepare_headers(headers: Headers, method: str, url: URL, body: bytes | None) -> Headers:
    """The header list httpx.Request(method, url, content=body, headers=…) ends up with, in its order.

    Content-Length for a non-empty body goes last, then `Host` (unless given) and `Content-Length: 0`
    (POST/PUT/PATCH without a body) go first, as httpx's `Request._prepare` does.
    """
    names = {k.lower() for k, _ in headers}
    out = list(headers)
    if body and b"content-length" not in names:
        out.append((b"Content-Length", str(len(body)).encode()))
        names.add(b"content-length")
    auto: Headers = []
    if b"host" not in names:
        auto.append((b"Host", url.netloc.encode("ascii")))
    if b"content-length" not in names and b"transfer-encoding" not in names and method in ("POST", "PUT", "PATCH"):
        auto.append((b"Content-Length", b"0"))
    return auto + out


class ResponseHeaders:
    """Response headers with httpx.Headers' reading rules (see module docstring); names are case-insensitive."""

    __slots__ = ("_by_name", "_encoding", "raw")

    def __init__(self, raw: Headers) -> None:
        self.raw = raw
        self._encoding: str | None = None
        self._by_name: dict[bytes, list[bytes]] | None = None

    @property
    def encoding(self) -> str:
        if self._encoding is None:
            self._encoding = "iso-8859-1"
            for encoding in ("ascii", "utf-8"):
                try:
                    for key, value in self.raw:
                        key.decode(encoding)
                        value.decode(encoding)
                except UnicodeDecodeError:
                    continue
                self._encoding = encoding
                break
        return self._encoding

    def _values(self, name: str) -> list[bytes] | None:
        if self._by_name is None:  # built once: a probe asks for about ten names
            self._by_name = {}
            for key, value in self.raw:
                self._by_name.setdefault(key.lower(), []).append(value)
        return self._by_name.get(name.lower().encode(self.encoding))

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._values(name)
        if not values:
            return default
        enc = self.encoding
        return values[0].decode(enc) if len(values) == 1 else ", ".join(v.decode(enc) for v in values)

    def __contains__(self, name: str) -> bool:
        return bool(self._values(name))

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def multi_items(self) -> list[tuple[str, str]]:
        enc = self.encoding
        return [(k.lower().decode(enc), v.decode(enc)) for k, v in self.raw]

    def items(self) -> list[tuple[str, str]]:
        """Lowercase names, repeated ones joined with ", " (httpx.Headers.items)."""
        joined: dict[str, str] = {}
        for key, value in self.multi_items():
            joined[key] = f"{joined[key]}, {value}" if key in joined else value
        return list(joined.items())


class Request:
    """One request as the flow builds it: headers complete (see `prepare_headers`), body as bytes."""

    __slots__ = ("body", "headers", "method", "url")

    def __init__(self, method: str, url: URL, headers: Headers, body: bytes | None) -> None:
        self.method, self.url, self.headers, self.body = method, url, headers, body


class Response(Protocol):
    """What a transport returns: the head at once, the body as raw (undecoded) chunks on demand."""

    url: URL
    status_code: int
    http_version: str  # "HTTP/1.1", "HTTP/1.0", "HTTP/2"
    headers: ResponseHeaders
    address: str | None  # the server's IP address
    ssl_object: ssl.SSLObject | ssl.SSLSocket | None
    num_bytes_downloaded: int

    def aiter_raw(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class Transport(Protocol):
    """Sends requests of one probe; owns its connections until `aclose`."""

    @property
    def address(self) -> str | None:
        """The address the last connection went to (DNS result), for a failure's details."""

    async def send(self, request: Request) -> Response: ...

    async def aclose(self) -> None: ...


REDIRECT_CODES = frozenset((301, 302, 303, 307, 308))

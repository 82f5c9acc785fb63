"""URLs for the `http` kind's requests, parsed, normalised and joined exactly as httpx does.

Why our own: httpx's URL class is the one piece of httpx the direct (h11) transport would still
need, and importing it imports all of httpx (issue #3: 1.75 MiB of the daemon). What the probe
sends and reports must not change, so this is httpx 0.28's `_urlparse.urlparse` (BSD-3-Clause,
© Encode OSS Ltd.; the licence is in LICENSES/httpx-BSD-3-Clause.md) without the keyword-argument
forms we never use, plus the `URL` properties the flow reads (`host`, `raw_host`, `port`,
`netloc`, `raw_path`, `join`, `str`). The percent-encoding
sets are httpx's (WHATWG's), so the request target is byte-for-byte what httpx sent.
tests/checks/test_http_wire.py compares it with httpx.URL over a corpus of URLs and Locations.
`idna` is imported only for a non-ASCII host (or an `xn--` one whose `host` is asked for).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urljoin

__all__ = ["URL", "InvalidURL"]

MAX_URL_LENGTH = 65536
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_SUB_DELIMS = "!$&'()*+,;="
_PERCENT_ENCODED = re.compile("%[A-Fa-f0-9]{2}")


def _safe(*excluded: int) -> str:
    return "".join(chr(i) for i in range(0x20, 0x7F) if i not in excluded)


_QUERY_EXCLUDED = (0x20, 0x22, 0x23, 0x3C, 0x3E)
_FRAG_SAFE = _safe(0x20, 0x22, 0x3C, 0x3E, 0x60)
_QUERY_SAFE = _safe(*_QUERY_EXCLUDED)
_PATH_SAFE = _safe(*_QUERY_EXCLUDED, 0x3F, 0x60, 0x7B, 0x7D)
_USERINFO_SAFE = _safe(*_QUERY_EXCLUDED, 0x3F, 0x60, 0x7B, 0x7D, 0x2F, 0x3B, 0x3D, 0x40, 0x5B, 0x5C, 0x5D, 0x5E, 0x7C)

_URL_REGEX = re.compile(r"(?:(?P<scheme>([a-zA-Z][a-zA-Z0-9+.-]*)?):)?(?://(?P<authority>[^/?#]*))?(?P<path>[^?#]*)"
                        r"(?:\?(?P<query>[^#]*))?(?:#(?P<fragment>.*))?")
_AUTHORITY_REGEX = re.compile(r"(?:(?P<userinfo>.*)@)?(?P<host>(\[.*\]|[^:@]*)):?(?P<port>.*)?")
_IPV4_STYLE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$")
_IPV6_STYLE = re.compile(r"^\[.*\]$")
_DEFAULT_PORTS = {"ftp": 21, "http": 80, "https": 443, "ws": 80, "wss": 443}


class InvalidURL(Exception):
    """The URL cannot be parsed (httpx.InvalidURL's cases and messages)."""


def _percent(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def _percent_encoded(string: str, safe: str) -> str:
    keep = _UNRESERVED + safe
    if not string.rstrip(keep):
        return string
    return "".join(c if c in keep else _percent(c) for c in string)


def _quote(string: str, safe: str) -> str:
    """Percent-encode, leaving existing `%xx` escapes as they are."""
    parts: list[str] = []
    pos = 0
    for match in _PERCENT_ENCODED.finditer(string):
        if match.start() != pos:
            parts.append(_percent_encoded(string[pos:match.start()], safe))
        parts.append(match.group(0))
        pos = match.end()
    if pos != len(string):
        parts.append(_percent_encoded(string[pos:], safe))
    return "".join(parts)


def _encode_host(host: str) -> str:
    if not host:
        return ""
    if _IPV4_STYLE.match(host):
        try:
            ipaddress.IPv4Address(host)
        except ipaddress.AddressValueError:
            raise InvalidURL(f"Invalid IPv4 address: {host!r}") from None
        return host
    if _IPV6_STYLE.match(host):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ipaddress.AddressValueError:
            raise InvalidURL(f"Invalid IPv6 address: {host!r}") from None
        return host[1:-1]
    if host.isascii():
        return _quote(host.lower(), _SUB_DELIMS + '"`{}%|\\')
    import idna  # only a non-ASCII (internationalised) host name needs it

    try:
        return str(idna.encode(host.lower()).decode("ascii"))
    except idna.IDNAError:
        raise InvalidURL(f"Invalid IDNA hostname: {host!r}") from None


def _normalize_port(port: str | None, scheme: str) -> int | None:
    if port is None or port == "":
        return None
    try:
        value = int(port)
    except ValueError:
        raise InvalidURL(f"Invalid port: {port!r}") from None
    return None if value == _DEFAULT_PORTS.get(scheme) else value


def _validate_path(path: str, has_scheme: bool, has_authority: bool) -> None:
    if has_authority and path and not path.startswith("/"):
        raise InvalidURL("For absolute URLs, path must be empty or begin with '/'")
    if not has_scheme and not has_authority:
        if path.startswith("//"):
            raise InvalidURL("Relative URLs cannot have a path starting with '//'")
        if path.startswith(":"):
            raise InvalidURL("Relative URLs cannot have a path starting with ':'")


def _normalize_path(path: str) -> str:
    """Drop "." and ".." segments (RFC 3986 5.2.4)."""
    if "." not in path:
        return path
    components = path.split("/")
    if "." not in components and ".." not in components:
        return path
    output: list[str] = []
    for component in components:
        if component == ".":
            pass
        elif component == "..":
            if output and output != [""]:
                output.pop()
        else:
            output.append(component)
    return "/".join(output)


class URL:
    """An immutable, normalised URL (see module docstring); compare with `str()`."""

    __slots__ = ("fragment", "host_ascii", "path", "port", "query", "scheme", "userinfo")

    def __init__(self, url: str) -> None:
        if len(url) > MAX_URL_LENGTH:
            raise InvalidURL("URL too long")
        for idx, char in enumerate(url):
            if char.isascii() and not char.isprintable():
                raise InvalidURL(f"Invalid non-printable ASCII character in URL, {char!r} at position {idx}.")
        parts = _URL_REGEX.match(url)
        assert parts is not None  # every group is optional: it always matches
        scheme = parts["scheme"] or ""
        authority = _AUTHORITY_REGEX.match(parts["authority"] or "")
        assert authority is not None
        path = parts["path"] or ""
        self.scheme: str = scheme.lower()
        self.userinfo: str = _quote(authority["userinfo"] or "", _USERINFO_SAFE)
        self.host_ascii: str = _encode_host(authority["host"] or "")
        self.port: int | None = _normalize_port(authority["port"], scheme)
        has_authority = self.userinfo != "" or self.host_ascii != "" or self.port is not None
        _validate_path(path, has_scheme=self.scheme != "", has_authority=has_authority)
        if self.scheme or has_authority:
            path = _normalize_path(path)
        self.path: str = _quote(path, _PATH_SAFE)
        self.query: str | None = None if parts["query"] is None else _quote(parts["query"], _QUERY_SAFE)
        self.fragment: str | None = None if parts["fragment"] is None else _quote(parts["fragment"], _FRAG_SAFE)

    @property
    def host(self) -> str:
        """Lowercase; an `xn--` host decoded to Unicode (as httpx.URL.host, for messages and comparisons)."""
        host = self.host_ascii
        if host.startswith("xn--"):
            import idna

            host = str(idna.decode(host))
        return host

    @property
    def raw_host(self) -> bytes:
        return self.host_ascii.encode("ascii")

    @property
    def netloc(self) -> str:
        """`host[:port]` (IPv6 in brackets): the Host header's value."""
        host = self.host_ascii
        host = f"[{host}]" if ":" in host else host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def raw_path(self) -> bytes:
        """Path and query, the request target."""
        target = self.path or "/"
        if self.query is not None:
            target += "?" + self.query
        return target.encode("ascii")

    def origin(self) -> tuple[str, str, int]:
        """(scheme, host, port) with the default port filled in: which connection serves this URL."""
        return self.scheme, self.host_ascii, self.port or (443 if self.scheme == "https" else 80)

    def join(self, url: str) -> URL:
        """`url` (a Location) resolved against this URL, as httpx.URL.join."""
        return URL(urljoin(str(self), str(URL(url))))

    def __str__(self) -> str:
        netloc = self.netloc
        authority = f"{self.userinfo}@{netloc}" if self.userinfo else netloc
        return "".join((f"{self.scheme}:" if self.scheme else "", f"//{authority}" if authority else "", self.path,
                        f"?{self.query}" if self.query is not None else "",
                        f"#{self.fragment}" if self.fragment is not None else ""))

    def __repr__(self) -> str:
        return "URL(<redacted>)" if self.userinfo else f"URL({str(self)!r})"

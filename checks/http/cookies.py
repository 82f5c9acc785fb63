"""Cookies along one redirect chain (a login that sets a session cookie, then redirects), as httpx.Cookies kept them.

Imported only when a response sets a cookie: http.cookiejar brings urllib.request with it, and
most probes never need either. The jar is the standard library's with its default policy, fed
through the same request/response stand-ins httpx builds (`_CookieCompatRequest`/`Response`), so
which cookies go to which hop is what it was with httpx.
"""

from __future__ import annotations

import email.message
import urllib.request
from http.cookiejar import CookieJar

from dxagent.checks.http.wire import Request, ResponseHeaders

__all__ = ["Cookies"]


class _CompatRequest(urllib.request.Request):
    """A request as http.cookiejar reads it; a Cookie header it adds goes into our request."""

    def __init__(self, request: Request) -> None:
        headers = ResponseHeaders(request.headers)
        super().__init__(url=str(request.url), headers=dict(headers.items()), method=request.method)
        self._ours = request
        self._encoding = headers.encoding

    def add_unredirected_header(self, key: str, val: str) -> None:
        """Also set it on our request, replacing a header of that name in place (httpx.Headers.__setitem__)."""
        super().add_unredirected_header(key, val)
        item = (key.encode(self._encoding), val.encode(self._encoding))
        out: list[tuple[bytes, bytes]] = []
        for header in self._ours.headers:
            if header[0].lower() != item[0].lower():
                out.append(header)
            elif item not in out:
                out.append(item)
        if item not in out:
            out.append(item)
        self._ours.headers[:] = out


class _CompatResponse:
    def __init__(self, headers: ResponseHeaders) -> None:
        self._headers = headers

    def info(self) -> email.message.Message:
        info = email.message.Message()
        for key, value in self._headers.multi_items():
            info[key] = value  # appends (email.message semantics), so repeated Set-Cookie headers all count
        return info


class Cookies:
    """The jar of one probe's chain."""

    def __init__(self) -> None:
        self.jar = CookieJar()

    def extract(self, request: Request, headers: ResponseHeaders) -> None:
        """Take the cookies a response to `request` sets."""
        self.jar.extract_cookies(_CompatResponse(headers), _CompatRequest(request))  # type: ignore[arg-type]

    def set_cookie_header(self, request: Request) -> None:
        """Add the Cookie header for `request` (unless it already has one)."""
        self.jar.add_cookie_header(_CompatRequest(request))

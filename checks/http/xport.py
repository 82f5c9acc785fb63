"""The `http` kind's httpx transport: a proxy, or HTTP/2 offered, adapted to the flow's interface.

Why httpx still: h11 alone speaks neither HTTP/2 (h2) nor the proxy protocols (forward requests,
CONNECT tunnels with their own TLS), and httpx/httpcore do both well. This module is imported
only by a check that needs one of them (the first import of httpx without its CLI and h2,
dxagent.leanimport), so a daemon with direct checks never loads httpx, httpcore or anyio.
Requests arrive complete (`_httpwire.Request`: headers as httpx.Request would have made them)
and httpx's exceptions leave as the `_httpwire` types of the same names, so redirects, cookies,
body limits and the failure classification are the flow's, once, for both transports.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator

import httpx

from dxagent.checks.http import wire as wire
from dxagent.checks.http.conn import DirectTransport, TimedBackend
from dxagent.checks.http.trace import Timeline
from dxagent.checks.http.url import URL

__all__ = ["HttpxTransport"]

# httpx exception → ours; looked up along the exception's MRO, so the most specific wins.
_ERRORS: dict[type[BaseException], type[wire.TransportError]] = {
    httpx.TimeoutException: wire.TimeoutException, httpx.ConnectTimeout: wire.ConnectTimeout,
    httpx.ReadTimeout: wire.ReadTimeout, httpx.WriteTimeout: wire.WriteTimeout,
    httpx.NetworkError: wire.NetworkError, httpx.ConnectError: wire.ConnectError, httpx.ReadError: wire.ReadError,
    httpx.WriteError: wire.WriteError, httpx.ProtocolError: wire.ProtocolError,
    httpx.LocalProtocolError: wire.LocalProtocolError, httpx.RemoteProtocolError: wire.RemoteProtocolError,
    httpx.ProxyError: wire.ProxyError, httpx.DecodingError: wire.DecodingError,
    httpx.HTTPError: wire.TransportError,  # anything else (UnsupportedProtocol, …): not classified, as before
}


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    try:
        yield
    except httpx.HTTPError as exc:
        ours = next(_ERRORS[cls] for cls in type(exc).__mro__ if cls in _ERRORS)
        raise ours(str(exc)) from exc


class _Response:
    """An httpx.Response seen through `_httpwire.Response`."""

    def __init__(self, response: httpx.Response, url: URL) -> None:
        self._response = response
        self._chunks: AsyncIterator[bytes] | None = None
        self.url = url
        self.status_code = response.status_code
        self.http_version = response.http_version
        self.headers = wire.ResponseHeaders(response.headers.raw)
        stream = response.extensions.get("network_stream")
        addr = stream.get_extra_info("server_addr") if stream is not None else None
        self.address = str(addr[0]) if addr else None
        self.ssl_object: ssl.SSLObject | ssl.SSLSocket | None = (
            stream.get_extra_info("ssl_object") if stream is not None else None)

    @property
    def num_bytes_downloaded(self) -> int:
        return self._response.num_bytes_downloaded

    def aiter_raw(self) -> AsyncIterator[bytes]:
        self._chunks = self._response.aiter_raw()
        return self

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        assert self._chunks is not None
        with _mapped():
            return await self._chunks.__anext__()

    async def aclose(self) -> None:
        with _mapped():
            await self._response.aclose()


class HttpxTransport:
    """`_httpwire.Transport` over an httpx transport: httpx's own through a proxy, else `DirectTransport`."""

    def __init__(self, ssl_context: ssl.SSLContext, timeline: Timeline, family: int, proxy: str | None,
                 proxy_auth: tuple[str, str] | None, http2: bool) -> None:
        self._timeline = timeline
        self._backend = TimedBackend(timeline, family)
        self._transport: httpx.AsyncBaseTransport
        if proxy is None:
            self._transport = DirectTransport(ssl_context, self._backend)
        else:
            transport = httpx.AsyncHTTPTransport(
                verify=ssl_context, http2=http2, proxy=httpx.Proxy(proxy, auth=proxy_auth), trust_env=False, retries=0,
                limits=httpx.Limits(max_connections=4, max_keepalive_connections=4))
            transport._pool._network_backend = self._backend  # httpx offers no public way to pass httpcore a backend
            self._transport = transport

    @property
    def address(self) -> str | None:
        return self._backend.address

    async def send(self, request: wire.Request) -> _Response:
        req = httpx.Request(request.method, httpx.URL(str(request.url)), headers=request.headers, content=request.body,
                            extensions={"trace": self._timeline.trace})
        # No per-operation timeouts: each would equal the probe's budget, so the flow's one deadline fires first.
        with _mapped():
            response = await self._transport.handle_async_request(req)
        response.request = req
        return _Response(response, request.url)

    async def aclose(self) -> None:
        with _mapped():
            await self._transport.aclose()

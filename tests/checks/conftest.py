"""Fixtures shared by the http test modules: the route server over plain HTTP and over TLS.

`tls_web` takes its certificate from the requesting module's own `pki` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.checks import http_servers as hs
from tests.pki import HTTPSServer, TestPKI, serve_https


@pytest.fixture(scope="module")
def web() -> Iterator[HTTPSServer]:
    with serve_https(None, hs.RouteHandler) as srv:
        yield srv


@pytest.fixture(scope="module")
def tls_web(pki: TestPKI) -> Iterator[HTTPSServer]:
    with serve_https(pki.leaf(filename="web"), hs.RouteHandler) as srv:
        yield srv

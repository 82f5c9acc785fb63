"""Import httpx without the parts a probe does not use: its command-line client, and HTTP/2 until asked.

Why: the daemon's resident memory is mostly imported code (docs/deployment.md, sizing). httpx's
package `__init__` imports its command-line client when it can (`httpx._main`: pygments and rich,
where installed, about 1 MiB), and httpcore imports its HTTP/2 connection, with h2, hpack and
hyperframe (1.4 MiB), even when no check offers HTTP/2. Both packages already guard those imports
with `except ImportError` and fall back to a stand-in, so while httpx is first imported a `None`
in `sys.modules` (documented to make `import` raise ImportError) keeps them out, and is removed
right after. A check that offers HTTP/2 imports httpcore's HTTP/2 module when ALPN picks h2
(`http2_connection`); httpx's own transport (proxied requests) imports it by itself the same way.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["OPTIONAL", "http2_connection", "lean_http"]

OPTIONAL = ("httpx._main", "h2")  # httpx's CLI; h2 (hpack and hyperframe come with it)


@contextlib.contextmanager
def lean_http() -> Iterator[None]:
    """Wrap the first import of httpx/httpcore; a no-op once httpcore (or an optional part) is loaded."""
    hidden = [] if "httpcore" in sys.modules else [name for name in OPTIONAL if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def http2_connection() -> Any:
    """httpcore's asyncio HTTP/2 connection class, importing h2 now if it was left out.

    `httpcore.AsyncHTTP2Connection` may be httpcore's stand-in that raises, so callers take it
    from here, the module httpcore itself imports lazily (httpcore/_async/connection.py).
    """
    from httpcore._async.http2 import AsyncHTTP2Connection

    return AsyncHTTP2Connection

"""The status page as HTML: one jinja2 template (autoescape on), CSS and script inlined from package files.

The page must work offline on the site LAN and without JavaScript, so everything is in the one
response; the inline style and script are allowed by their SHA-256 in the Content-Security-Policy
(nothing else may run, load or be framed).
"""

from __future__ import annotations

import base64
import hashlib
import time
from importlib import resources

import jinja2
from markupsafe import Markup

from dxagent import __version__
from dxagent.daemon.statuspage.view import Page
from dxagent.daemon.statuspage.words import pick, words_for

__all__ = ["render_page", "csp", "SECURITY_HEADERS"]

_ENV: jinja2.Environment | None = None
_STATIC: dict[str, str] = {}
JS_WORDS = ("OK", "WARN", "CRIT", "UNKNOWN", "PENDING", "stale", "since", "what_to_do", "page_title", "running",
            "requested", "refused", "offline", "no_problems")


def _environment() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = jinja2.Environment(
            loader=jinja2.PackageLoader("dxagent.daemon.statuspage", "templates"),
            autoescape=True,  # always: site names, targets, summaries and page titles are untrusted
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _ENV


def _static(name: str) -> str:
    if name not in _STATIC:
        _STATIC[name] = resources.files("dxagent.daemon.statuspage").joinpath("templates", name).read_text("utf-8")
    return _STATIC[name]


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def csp() -> str:
    """Only the page's own inline style and script; fetches and form posts to the agent itself."""
    return (f"default-src 'none'; style-src {_sha(_static('page.css'))}; script-src {_sha(_static('page.js'))}; "
            "connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


def _utc_offset(now: float) -> int:
    return int(time.localtime(now).tm_gmtoff)


def render_page(page: Page) -> str:
    """The whole HTML document for `page`."""
    lang = page.lang
    data = {"lang": lang, "words": words_for(lang, JS_WORDS), "tz": _utc_offset(page.now), "stale_n": 3,
            "generated": page.now}
    return _environment().get_template("page.html.j2").render(
        p=page, lang=lang, other="en" if lang == "vi" else "vi", version=__version__,
        w=lambda key, **kw: pick(key, lang, **kw), css=Markup(_static("page.css")), js=Markup(_static("page.js")),
        data=data, statuses=("CRIT", "UNKNOWN", "WARN", "OK"),
    )



"""HTML rendering of site reports and roll-ups: jinja2 with autoescape always on, inline SVG charts.

The output is one self-contained file (inline CSS and SVG, no scripts, no external URLs) that prints
on A4. Every string from a document is escaped by jinja2; charts escape their own labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2

from dxagent.reports import svg
from dxagent.reports.fmt import fmt_clock, fmt_compare, fmt_duration, fmt_reason, fmt_span, fmt_time, fmt_value, word

__all__ = ["render_site", "render_rollup", "environment"]

_ENV: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    """The shared jinja2 environment: package templates, autoescape for every template, strict undefined."""
    global _ENV
    if _ENV is None:
        _ENV = jinja2.Environment(
            loader=jinja2.PackageLoader("dxagent.reports", "templates"),
            autoescape=True,  # always: documents carry untrusted text from the network
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _ENV


def _helpers(lang: str) -> dict[str, Any]:
    return {
        "lang": lang,
        "w": lambda key: word(key, lang),
        "n": lambda obj: (obj or {}).get(lang) or (obj or {}).get("en") or "",
        "fv": lambda v, unit: fmt_value(v, unit, lang),
        "ft": fmt_time,
        "fd": fmt_duration,
        "cmp": fmt_compare,
        "fs": fmt_span,
        "fc": fmt_clock,
        "fr": lambda reason: fmt_reason(reason, lang),
    }


def _label(t: Mapping[str, Any], c: Mapping[str, Any], lang: str) -> str:
    return f"{t['id']} · {c['label'][lang]}"


def site_charts(doc: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """The four charts of a site report, built from the document alone."""
    avail, cover, certs, trends = [], [], [], []
    for t in doc["targets"]:
        for c in t["criteria"]:
            outcome = "at_risk" if c["at_risk"] else c["outcome"]
            if c["measure"] == "availability":
                avail.append((_label(t, c, lang), c["value"], c["threshold"], outcome))
            elif c["measure"] in ("ratio", "count") and c["unit"] == "ratio":
                cover.append((_label(t, c, lang), c["value"], c["threshold"], outcome))
            elif c["measure"] == "days_left":
                for k in c["evidence"]["checks"]:
                    if k["value"] is not None:
                        certs.append((f"{t['id']} · {k['check']} {k['target']}".strip(), k["value"], c["warn"],
                                      c["threshold"]))
            if c["series"] and c["unit"] == "seconds":
                trends.append(svg.lines([(f"{s['check']} {s['target']}".strip(), s["points"]) for s in c["series"]],
                                        title=_label(t, c, lang), threshold=c["threshold"], lang=lang))
    lows = [v for _, v, _, _ in avail if v is not None] + [th for _, _, th, _ in avail]
    lo = min(0.9, (int(min(lows) * 20) / 20) if lows else 0.9)
    return {
        "availability": svg.hbars(avail, title=word("availability_chart", lang), lo=lo, lang=lang) if avail else None,
        "latency": trends[:4],
        "expiry": svg.expiry(sorted(certs, key=lambda i: i[1])[:20], title=word("expiry_chart", lang), lang=lang)
        if certs else None,
        "coverage": svg.hbars(cover, title=word("coverage_chart", lang), lang=lang, hi=1.2) if cover else None,
    }


def render_site(doc: Mapping[str, Any], lang: str = "vi") -> str:
    """A site report document → self-contained HTML."""
    tpl = environment().get_template("site.html.j2")
    return tpl.render(doc=doc, charts=site_charts(doc, lang), **_helpers(lang))


def render_rollup(doc: Mapping[str, Any], lang: str = "vi") -> str:
    """A roll-up document → self-contained HTML with the share-per-target chart and score histogram."""
    rows = [(f"{t['id']} · {t['name'][lang]}", t["share"], None,
             "met" if t["share"] is not None and t["share"] >= 0.9 else "not_met") for t in doc["targets"]]
    charts = {
        "shares": svg.hbars(rows, title=word("share", lang), lang=lang) if rows else None,
        "scores": svg.histogram([s["score"] for s in doc["sites"] if s["score"] is not None],
                                title=word("score_hist", lang)) if doc["sites"] else None,
    }
    tpl = environment().get_template("rollup.html.j2")
    return tpl.render(doc=doc, charts=charts, **_helpers(lang))

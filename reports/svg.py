"""Inline SVG charts for the reports: no JavaScript, printable, every text escaped.

Each function returns `markupsafe.Markup` built only from numbers and `escape()`d strings, so a
hostile label (a certificate subject, a target name) renders as text, never as markup.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from dxagent.reports.fmt import fmt_value

__all__ = ["hbars", "lines", "expiry", "histogram", "COLOURS"]

COLOURS = {"met": "#2e7d32", "not_met": "#c62828", "unknown": "#9e9e9e", "at_risk": "#ef6c00"}
_PALETTE = ("#1565c0", "#6a1b9a", "#00838f", "#ef6c00", "#5d4037", "#ad1457")
_FONT = 'font-family="DejaVu Sans, Arial, sans-serif" font-size="11"'


def _svg(width: int, height: int, body: list[str], title: str) -> Markup:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" class="chart"><title>{escape(title)}</title>')
    return Markup(head + "".join(body) + "</svg>")


def _clip(text: str, n: int = 34) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def hbars(rows: Sequence[tuple[str, float | None, float | None, str]], *, title: str, unit: str = "ratio",
          lang: str = "en", lo: float | None = None, hi: float | None = None, width: int = 640) -> Markup:
    """Horizontal bars: (label, value or None, threshold or None, outcome) per row; the threshold is a tick.

    `lo` is the scale's left end: availability near 99.5 % is unreadable on a 0–100 % scale, so callers
    zoom (e.g. 90–100 %) and values below `lo` are drawn as a stub.
    """
    label_w, bar_w, row_h = 230, width - 230 - 90, 20
    values = [v for _, v, _, _ in rows if v is not None] + [th for _, _, th, _ in rows if th is not None]
    lo = lo if lo is not None else 0.0
    hi = hi if hi is not None else max([1.0, *values]) if unit == "ratio" else max([1e-9, *values]) * 1.1
    span = (hi - lo) or 1.0

    def x(v: float) -> float:
        return label_w + max(0.0, min(1.0, (v - lo) / span)) * bar_w

    body = [f'<g {_FONT}>']
    for i, (label, value, threshold, outcome) in enumerate(rows):
        y = 6 + i * row_h
        body.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(_clip(label))}</text>')
        body.append(f'<rect x="{label_w}" y="{y + 2}" width="{bar_w}" height="{row_h - 6}" fill="#eeeeee"/>')
        if value is not None:
            w = max(2.0, x(value) - label_w)
            body.append(f'<rect class="bar" x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row_h - 6}" '
                        f'fill="{COLOURS.get(outcome, COLOURS["unknown"])}"/>')
        text = fmt_value(value, unit, lang) if value is not None else "—"
        body.append(f'<text x="{label_w + bar_w + 6}" y="{y + 13}">{escape(text)}</text>')
        if threshold is not None:
            tx = x(threshold)
            body.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{y}" y2="{y + row_h - 2}" stroke="#000" '
                        f'stroke-width="2"/>')
    scale = f"{fmt_value(lo, unit, lang)} – {fmt_value(hi, unit, lang)}"
    y_end = 6 + len(rows) * row_h
    body.append(f'<text x="{label_w}" y="{y_end + 12}" fill="#555">{escape(scale)}</text></g>')
    return _svg(width, y_end + 18, body, title)


def lines(series: Sequence[tuple[str, Sequence[tuple[float, float]]]], *, title: str, unit: str = "seconds",
          threshold: float | None = None, lang: str = "en", width: int = 640, height: int = 220) -> Markup:
    """A time chart: one polyline per (label, [(ts, value)]), with the threshold dashed."""
    left, right, top, bottom = 60, 10, 10, 40 + 14 * ((len(series) + 2) // 3)
    pw, ph = width - left - right, height - top - 40
    pts = [p for _, s in series for p in s]
    if not pts:
        return _svg(width, 40, [f'<text x="10" y="24" {_FONT}>—</text>'], title)
    t0, t1 = min(p[0] for p in pts), max(p[0] for p in pts)
    vmax = max([p[1] for p in pts] + ([threshold * 1.15] if threshold is not None else [])) or 1.0
    tspan = (t1 - t0) or 1.0

    def xy(ts: float, v: float) -> str:
        return f"{left + (ts - t0) / tspan * pw:.1f},{top + ph - max(0.0, v) / vmax * ph:.1f}"

    body = [f'<g {_FONT}>',
            f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#bbb"/>']
    for frac in (0.0, 0.5, 1.0):
        y = top + ph - frac * ph
        body.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">'
                    f'{escape(fmt_value(vmax * frac, unit, lang))}</text>')
    if threshold is not None:
        y = top + ph - threshold / vmax * ph
        body.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#c62828" '
                    f'stroke-dasharray="5,4"/>')
    for i, (label, s) in enumerate(series):
        colour = _PALETTE[i % len(_PALETTE)]
        if len(s) == 1:
            cx, cy = xy(*s[0]).split(",")
            body.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')
        else:
            body.append(f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="1.8" '
                        f'points="{" ".join(xy(ts, v) for ts, v in s)}"/>')
        lx, ly = left + (i % 3) * (pw // 3), height - bottom + 36 + (i // 3) * 14
        body.append(f'<rect x="{lx}" y="{ly - 8}" width="10" height="3" fill="{colour}"/>'
                    f'<text x="{lx + 14}" y="{ly}">{escape(_clip(label, 30))}</text>')
    body.append("</g>")
    return _svg(width, height + 14 * ((len(series) - 1) // 3), body, title)


def expiry(items: Sequence[tuple[str, float, float | None, float]], *, title: str, lang: str = "en",
           horizon: float = 400.0, width: int = 640) -> Markup:
    """Certificate timeline: (label, days_left, warn, fail) → a bar to the expiry day, warn/fail ticks."""
    label_w, row_h = 230, 20
    bar_w = width - label_w - 80
    lo = min([0.0, *(d for _, d, _, _ in items)])
    span = horizon - lo

    def x(d: float) -> float:
        return label_w + (max(lo, min(horizon, d)) - lo) / span * bar_w

    body = [f'<g {_FONT}>']
    for i, (label, days, warn, fail) in enumerate(items):
        y = 6 + i * row_h
        colour = COLOURS["not_met"] if days < fail else COLOURS["at_risk"] if warn is not None and days < warn \
            else COLOURS["met"]
        body.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(_clip(label))}</text>')
        x0, x1 = sorted((x(0), x(days)))
        body.append(f'<rect class="bar" x="{x0:.1f}" y="{y + 2}" width="{max(2.0, x1 - x0):.1f}" '
                    f'height="{row_h - 6}" fill="{colour}"/>')
        body.append(f'<text x="{label_w + bar_w + 6}" y="{y + 13}">{escape(fmt_value(days, "days", lang))}</text>')
    y_end = 6 + len(items) * row_h
    for mark in {items[0][3], *(w for _, _, w, _ in items if w is not None)} if items else ():
        mx = x(mark)
        body.append(f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="2" y2="{y_end}" stroke="#000" stroke-dasharray="3,3"/>')
        body.append(f'<text x="{mx:.1f}" y="{y_end + 12}" text-anchor="middle">{mark:g}</text>')
    body.append("</g>")
    return _svg(width, y_end + 18, body, title)


def histogram(values: Sequence[float], *, title: str, bins: int = 10, width: int = 640, height: int = 160) -> Markup:
    """Distribution of scores 0–1 in `bins` columns, with counts above the columns."""
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v * bins)))] += 1
    top = max(counts) or 1
    left, ph, bw = 30, height - 40, (width - 40) / bins
    body = [f'<g {_FONT}>']
    for i, n in enumerate(counts):
        h = n / top * (ph - 14)
        body.append(f'<rect class="bar" x="{left + i * bw + 2:.1f}" y="{10 + ph - h:.1f}" width="{bw - 4:.1f}" '
                    f'height="{h:.1f}" fill="{_PALETTE[0]}"/>')
        body.append(f'<text x="{left + (i + 0.5) * bw:.1f}" y="{ph + 4 - h:.1f}" text-anchor="middle">{n}</text>')
        body.append(f'<text x="{left + (i + 0.5) * bw:.1f}" y="{height - 12}" text-anchor="middle">'
                    f'{i * 100 // bins}–{(i + 1) * 100 // bins}%</text>')
    body.append("</g>")
    return _svg(width, height, body, title)

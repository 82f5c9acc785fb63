"""Turning Results into what a person or a script reads: the terminal table and JSON.

The JSON document is the stable interface shared by `dxagent check --format json` and the
daemon's `/api/results` (schema in `dxagent/schemas/results.schema.json`).
"""

from __future__ import annotations

import json
import shutil
import textwrap
import time
from collections.abc import Sequence
from typing import Any

import click

from dxagent import __version__
from dxagent.i18n import word
from dxagent.model import Result, Status, worst

__all__ = ["SCHEMA_VERSION", "document", "exit_code", "table", "to_json"]

SCHEMA_VERSION = 1

_COLOURS = {Status.OK: "green", Status.WARN: "yellow", Status.CRIT: "red", Status.UNKNOWN: "magenta"}


def exit_code(results: Sequence[Result]) -> int:
    """Nagios convention: the numerically worst status (UNKNOWN=3 included)."""
    return int(worst(r.status for r in results))


def document(results: Sequence[Result], site: Any, lang: str, generated: float | None = None) -> dict[str, Any]:
    """The JSON document for a set of results."""
    counts = {s.name: 0 for s in Status}
    for r in results:
        counts[r.status.name] += 1
    code = exit_code(results)
    return {
        "schema_version": SCHEMA_VERSION,
        "agent": {"name": "dxagent", "version": __version__},
        "generated_at": round(generated if generated is not None else time.time(), 3),
        "lang": lang,
        "site": site.model_dump(mode="json") if site is not None else None,
        "status": Status(code).name,
        "exit_code": code,
        "counts": counts,
        "results": [r.to_dict(lang) for r in results],
    }


def to_json(results: Sequence[Result], site: Any, lang: str) -> str:
    return json.dumps(document(results, site, lang), ensure_ascii=False, indent=2, allow_nan=False)


def _fmt_value(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def table(results: Sequence[Result], lang: str, colour: bool, verbose: bool = False, elapsed: float = 0.0) -> str:
    """A traffic-light table, one row per result, with the hint under failing rows."""
    width = max(60, shutil.get_terminal_size((120, 24)).columns)
    status_w = max(len(word(s.name, lang)) for s in Status) + 2
    check_w = min(24, max([len(word("check", lang))] + [len(r.check_id) for r in results]))
    target_w = min(36, max([len(word("target", lang))] + [len(r.target) for r in results]))
    summary_w = max(20, width - status_w - check_w - target_w - 4)
    indent = " " * (status_w + check_w + target_w + 3)

    def style(text: str, **kw: Any) -> str:
        return click.style(text, **kw) if colour else text

    def clip(text: str, n: int) -> str:
        return text if len(text) <= n else text[: n - 1] + "…"

    head = f"{word('status', lang):<{status_w}} {word('check', lang):<{check_w}} {word('target', lang):<{target_w}} {word('summary', lang)}"
    lines = [style(head, bold=True)]
    for r in results:
        light = ("● " if colour else "") + word(r.status.name, lang)
        cell = style(f"{light:<{status_w}}", fg=_COLOURS[r.status], bold=r.status != Status.OK)
        wrapped = textwrap.wrap(r.summary.get(lang), summary_w) or [""]
        lines.append(f"{cell} {clip(r.check_id, check_w):<{check_w}} {clip(r.target, target_w):<{target_w}} {wrapped[0]}")
        lines.extend(indent + w for w in wrapped[1:])
        if r.hint and (r.status != Status.OK or verbose):
            for i, w in enumerate(textwrap.wrap(r.hint.get(lang), summary_w - 2)):
                lines.append(indent + style(("→ " if i == 0 else "  ") + w, dim=True))
        if verbose:
            for key, value in r.details.items():
                text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
                lines.append(indent + style(f"{key}: {clip(text, summary_w - len(key) - 2)}", dim=True))
            for s in r.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in s.labels)
                name = f"{s.name}{{{labels}}}" if labels else s.name
                lines.append(indent + style(f"{name} {_fmt_value(s.value)}", dim=True))
    counts = {s: sum(1 for r in results if r.status == s) for s in Status}
    total = word("total", lang, ok=counts[Status.OK], warn=counts[Status.WARN], crit=counts[Status.CRIT],
                 unknown=counts[Status.UNKNOWN], secs=elapsed, code=exit_code(results))
    lines.append("")
    lines.append(style(total, bold=True))
    return "\n".join(lines)

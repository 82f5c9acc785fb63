"""Markdown and CSV renderings of site reports and roll-ups.

Markdown escapes every untrusted string (pipes, brackets, angle brackets, backticks) so a hostile
certificate subject cannot break a table or inject HTML when the Markdown is later rendered.
CSV cells that start with = + - @ are prefixed with ' so spreadsheets do not run them as formulas.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import Any

from dxagent.reports.fmt import fmt_clock, fmt_compare, fmt_duration, fmt_reason, fmt_span, fmt_time, fmt_value, word

__all__ = ["site_markdown", "rollup_markdown", "site_csv", "rollup_csv", "md_escape", "csv_safe"]

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")


def md_escape(text: Any) -> str:
    """Untrusted text → Markdown that renders as that literal text on one table line."""
    return _MD_SPECIAL.sub(r"\\\1", str(text if text is not None else "")).replace("\r", " ").replace("\n", " ")


def csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formula injection in a CSV/XLSX cell."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _n(obj: Mapping[str, str] | None, lang: str) -> str:
    return (obj or {}).get(lang) or (obj or {}).get("en") or ""


def site_markdown(doc: Mapping[str, Any], lang: str = "en") -> str:
    def w(k: str) -> str:
        return word(k, lang)

    site = doc["site"]
    lines = [
        f"# {w('site_report')}: {md_escape(site.get('name') or site.get('id'))}", "",
        f"- {w('site')}: {md_escape(site.get('id'))}" + (f" · {w('province')}: {md_escape(site['province'])}"
                                                        if site.get("province") else ""),
        f"- {w('period')}: {fmt_time(doc['period']['since'])} → {fmt_time(doc['period']['until'])}"
        f" ({fmt_duration(doc['period']['seconds'])})",
        f"- {w('profile')}: {md_escape(_n(doc['profile']['name'], lang))} ({md_escape(doc['profile']['id'])})",
        f"- {w('generated')}: {fmt_time(doc['generated_at'])}",
        f"- **{w('score')}: {fmt_value(doc['score'], 'ratio', lang)}** ({doc['counts']['met']} {w('met')}, "
        f"{doc['counts']['not_met']} {w('not_met')}, {doc['counts']['unknown']} {w('unknown')}; "
        f"{fmt_value(doc['known_weight'], 'ratio', lang)} {w('known')})", "",
        f"| {w('target')} | {w('outcome')} | {w('value')} | {w('threshold')} | {w('weight')} |",
        "|---|---|---|---|---:|",
    ]
    for t in doc["targets"]:
        outcome = w("at_risk") if t["at_risk"] else w(t["outcome"])
        values = "<br>".join(f"{md_escape(_n(c['label'], lang))}: {fmt_value(c['value'], c['unit'], lang)}"
                             + _window_note(c, lang)
                             + (f" ({md_escape(_n(c['why'], lang))})" if c["why"] else "") for c in t["criteria"])
        limits = "<br>".join(f"{fmt_compare(c['compare'])} {fmt_value(c['threshold'], c['unit'], lang)}"
                             for c in t["criteria"])
        lines.append(f"| **{md_escape(t['id'])}** {md_escape(_n(t['name'], lang))} | {outcome} | {values} | "
                     f"{limits} | {t['weight']:g} |")
    lines += _outages_markdown(doc, lang)
    if doc.get("findings"):
        lines += ["", f"## {w('findings')}", ""]
        for f in doc["findings"]:
            lines.append(f"- **{md_escape(f.get('status'))}** `{md_escape(f.get('id'))}` {md_escape(f.get('target'))}:"
                         f" {md_escape(f.get('summary'))}")
    lines += ["", f"## {w('source')}", ""]
    lines += [f"- **{md_escape(t['id'])}**: {md_escape(t['source'])}" for t in doc["targets"]]
    return "\n".join(lines) + "\n"


def _window_note(c: Mapping[str, Any], lang: str) -> str:
    """' (window 1h; profile 30d)' when the report period shortened the criterion's own window."""
    own = c.get("profile_window_seconds")
    if not own or own <= c["window_seconds"]:
        return ""
    return (f" ({word('window', lang)} {fmt_duration(c['window_seconds'])}; "
            f"{word('profile_window', lang)} {fmt_duration(own)})")


def _outages_markdown(doc: Mapping[str, Any], lang: str) -> list[str]:
    """The outage events section: one table row per event, its checks and targets in the row."""
    def w(k: str) -> str:
        return word(k, lang)

    lines = ["", f"## {w('outages')}", ""]
    events, summ = doc.get("outages"), doc.get("outage_summary")
    if events is None:
        return [*lines, w("outages_unknown")]
    if not events:
        return [*lines, w("no_outages")]
    lines += [f"{w('outage_count')}: {summ['count']} · {w('outage_time')} {fmt_span(summ['seconds'])} · "
              f"{w('longest')} {fmt_span(summ['longest_seconds'])}", "",
              f"| {w('start')} | {w('end')} | {w('duration')} | {w('link')} | {w('affected')} | {w('reason')} |",
              "|---|---|---:|---|---|---|"]
    for o in events:
        end = f"**{w('ongoing')}**" if o["ongoing"] else fmt_clock(o["end"])
        checks = "<br>".join(f"`{md_escape(k['check'])}` {md_escape(k['target'])} {fmt_span(k['seconds'])}"
                             for k in o["checks"])
        cause = f" · {w('cause_power')}" if o.get("cause") == "power" else \
            (f" · {md_escape(o['cause'])}" if o.get("cause") else "")
        lines.append(f"| {fmt_clock(o['start'])} | {end} | {fmt_span(o['seconds'])} | {md_escape(o['link'])} | "
                     f"{checks} | {o['worst']} · {md_escape(fmt_reason(o['reason'], lang))}{cause} |")
    if summ["count"] > len(events):
        lines += ["", w("outages_more").format(n=summ["count"] - len(events))]
    if doc.get("power_events"):
        lines += ["", f"### {w('power_events')}", ""]
        lines += [f"- {fmt_clock(p['start'])} → {fmt_clock(p['end']) if p['end'] is not None else w('ongoing')}"
                  f" ({fmt_span(p['seconds'])}): `{md_escape(p['check'])}` {md_escape(p['target'])} {p['worst']}"
                  for p in doc["power_events"]]
    return lines


def rollup_markdown(doc: Mapping[str, Any], lang: str = "en") -> str:
    def w(k: str) -> str:
        return word(k, lang)

    lines = [f"# {w('rollup_report')}" + (f": {md_escape(doc['province'])}" if doc.get("province") else ""), "",
             f"- {w('profile')}: {md_escape(_n(doc['profile']['name'], lang))} ({md_escape(doc['profile']['id'])})",
             f"- {w('generated')}: {fmt_time(doc['generated_at'])} · {md_escape(doc['source'])}",
             f"- {w('sites')}: {doc['counts']['sites']} · {w('no_data_sites')}: {doc['counts']['no_data']}",
             f"- {w('score')}: {fmt_value(doc['mean_score'], 'ratio', lang)}", "",
             f"| {w('target')} | {w('met')} | {w('not_met')} | {w('unknown')} | {w('share')} | {w('trend')} |",
             "|---|---:|---:|---:|---:|---:|"]
    for t in doc["targets"]:
        delta = fmt_value(t["share_delta"], "ratio", lang) if t["share_delta"] is not None else "—"
        lines.append(f"| **{md_escape(t['id'])}** {md_escape(_n(t['name'], lang))} | {t['met']} | {t['not_met']} | "
                     f"{t['unknown']} | {fmt_value(t['share'], 'ratio', lang)} | {delta} |")
    lines += ["", f"## {w('ranking')}", "",
              f"| {w('rank')} | {w('site')} | {w('score')} | {w('outage_count')} | {w('failing')} |",
              "|---:|---|---:|---:|---|"]
    for s in doc["sites"]:
        if s["score"] is not None:
            lines.append(f"| {s['rank']} | {md_escape(s['name'] or s['site'])} | {fmt_value(s['score'], 'ratio', lang)}"
                         f" | {_outage_cell(s)} | {md_escape(', '.join(s['not_met']))} |")
    nodata = [s for s in doc["sites"] if s["score"] is None]
    if nodata:
        lines += ["", f"## {w('no_data_sites')}", ""]
        lines += [f"- {md_escape(s['name'] or s['site'])} ({md_escape(s['site'])}): {md_escape(s['problem'])}"
                  for s in nodata]
    return "\n".join(lines) + "\n"


def _outage_cell(s: Mapping[str, Any]) -> str:
    """A roll-up site's outage count and total time, or '—' when its report could not say."""
    if s.get("outages") is None:
        return "—"
    return f"{s['outages']}" + (f" ({fmt_span(s['outage_seconds'])})" if s["outages"] else "")


def _csv(rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_safe(v) for v in row])
    return buf.getvalue()


def site_csv(doc: Mapping[str, Any], lang: str = "en") -> str:
    """One row per criterion: the target, its outcome, the measured value (base units) and the threshold."""
    rows: list[list[Any]] = [["site", "target_id", "target_name", "weight", "target_outcome", "at_risk", "criterion",
                              "measure", "value", "unit", "compare", "threshold", "warn", "criterion_outcome",
                              "why", "window_seconds", "checks"]]
    for t in doc["targets"]:
        for c in t["criteria"]:
            rows.append([doc["site"].get("id"), t["id"], _n(t["name"], lang), t["weight"], t["outcome"], t["at_risk"],
                         _n(c["label"], lang), c["measure"], c["value"], c["unit"], c["compare"], c["threshold"],
                         c["warn"], c["outcome"], _n(c["why"], lang) if c["why"] else "", c["window_seconds"],
                         " ".join(k["check"] for k in c["evidence"]["checks"])])
    return _csv(rows)


def rollup_csv(doc: Mapping[str, Any], lang: str = "en") -> str:
    """One row per site with its score, rank and each target's outcome (the spreadsheet offices pass around)."""
    ids = [t["id"] for t in doc["targets"]]
    rows: list[list[Any]] = [["rank", "site", "name", "province", "score", "score_delta", *ids, "outages",
                              "outage_seconds", "problem"]]
    for s in doc["sites"]:
        status = {i: "not_met" for i in s["not_met"]} | {i: "unknown" for i in s["unknown"]}
        rows.append([s["rank"], s["site"], s["name"], s["province"], s["score"], s["score_delta"],
                     *[(status.get(i, "met") if s["score"] is not None else "") for i in ids],
                     "" if s.get("outages") is None else s["outages"],
                     "" if s.get("outage_seconds") is None else s["outage_seconds"], s["problem"] or ""])
    return _csv(rows)

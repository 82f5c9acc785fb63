"""XLSX of a province roll-up (openpyxl): the spreadsheet provincial offices pass around.

Three sheets: targets (share meeting each), sites (rank, score, outcome per target, coloured) and
sites without data. Strings are written as plain values with formula-looking text neutralised.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from dxagent.reports.fmt import word
from dxagent.reports.render_text import csv_safe

__all__ = ["rollup_xlsx"]

_FILL = {"met": "C8E6C9", "not_met": "FFCDD2", "unknown": "E0E0E0"}


def rollup_xlsx(doc: Mapping[str, Any], lang: str = "vi") -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    def w(k: str) -> str:
        return word(k, lang)

    wb = Workbook()
    bold = Font(bold=True)
    ws = wb.active
    ws.title = w("targets")[:31]
    ws.append([w("target"), "", w("weight"), w("met"), w("not_met"), w("unknown"), w("share"), w("trend")])
    for t in doc["targets"]:
        ws.append([t["id"], csv_safe(t["name"][lang]), t["weight"], t["met"], t["not_met"], t["unknown"], t["share"],
                   t["share_delta"]])
        ws.cell(ws.max_row, 7).number_format = "0.0%"
        ws.cell(ws.max_row, 8).number_format = "+0.0%;-0.0%;0.0%"
    ws.column_dimensions["B"].width = 40
    ids = [t["id"] for t in doc["targets"]]
    sites = wb.create_sheet(w("ranking")[:31])
    sites.append([w("rank"), w("site"), "", w("province"), w("score"), w("trend"), *ids])
    for s in doc["sites"]:
        if s["score"] is None:
            continue
        status = {i: "not_met" for i in s["not_met"]} | {i: "unknown" for i in s["unknown"]}
        sites.append([s["rank"], csv_safe(s["site"]), csv_safe(s["name"]), csv_safe(s["province"]), s["score"],
                      s["score_delta"], *[w(status.get(i, "met")) for i in ids]])
        row = sites.max_row
        sites.cell(row, 5).number_format = "0.0%"
        sites.cell(row, 6).number_format = "+0.0%;-0.0%;0.0%"
        for j, i in enumerate(ids):
            sites.cell(row, 7 + j).fill = PatternFill("solid", fgColor=_FILL[status.get(i, "met")])
    sites.column_dimensions["C"].width = 32
    sites.freeze_panes = "C2"
    nodata = wb.create_sheet(w("no_data_sites")[:31])
    nodata.append([w("site"), "", w("province"), w("details")])
    for s in doc["sites"]:
        if s["score"] is None:
            nodata.append([csv_safe(s["site"]), csv_safe(s["name"]), csv_safe(s["province"]), csv_safe(s["problem"])])
    for sheet in wb.worksheets:
        for cell in sheet[1]:
            cell.font = bold
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

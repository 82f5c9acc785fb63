"""Readiness as Results for the daemon's exporter, so Grafana and the Prometheus roll-up read the same numbers.

`readiness_results(doc)` turns a site report document (or `evaluate_results(...)` an evaluation
from the live store) into Results of kind `readiness`. Through the exporter's usual naming they
become:

    dxagent_readiness_target_met{check="readiness",kind="readiness",target="NET-01"} 1
    dxagent_readiness_target_unknown{check="readiness",kind="readiness",target="NET-01"} 0
    dxagent_readiness_score{check="readiness",kind="readiness",target="plan02"} 0.82
    dxagent_readiness_known_weight_ratio{check="readiness",kind="readiness",target="plan02"} 0.9

`target_met` is 1 only when met: unknown is 0 there and 1 in `target_unknown`, so a sum over
sites counts sites meeting a target and missing data can never read as "met".
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from dxagent.model import Reason, Result, Sample, Status, t
from dxagent.reports.evaluate import MET, NOT_MET, evaluate
from dxagent.reports.fmt import fmt_compare, fmt_value
from dxagent.reports.profile import Profile

__all__ = ["METRICS", "CHECK_ID", "KIND", "readiness_results", "evaluate_results"]

CHECK_ID = KIND = "readiness"
METRICS: dict[str, str] = {
    "readiness_target_met": "1 when the readiness target (label target) is met, 0 when not met or unknown.",
    "readiness_target_unknown": "1 when the readiness target cannot be evaluated for lack of data.",
    "readiness_score": "Weighted share of readiness targets met (0-1); unknown targets count as not met.",
    "readiness_known_weight_ratio": "Share of the readiness weight that had data to evaluate (0-1).",
}


def _criteria_text(target: Mapping[str, Any], lang: str) -> str:
    parts = []
    for c in target["criteria"]:
        value = fmt_value(c["value"], c["unit"], lang)
        parts.append(f"{c['label'][lang]} {value} ({fmt_compare(c['compare'])} {fmt_value(c['threshold'], c['unit'], lang)})")
    return "; ".join(parts)


def readiness_results(doc: Mapping[str, Any], started: float | None = None) -> list[Result]:
    """One Result per target plus one for the score, from a site report document."""
    started = started if started is not None else float(doc.get("generated_at") or time.time())
    out = []
    for tgt in doc["targets"]:
        outcome = tgt["outcome"]
        status = (Status.WARN if tgt["at_risk"] else Status.OK) if outcome == MET else \
            Status.CRIT if outcome == NOT_MET else Status.UNKNOWN
        reason = None if status == Status.OK else Reason.THRESHOLD if outcome != "unknown" else \
            Reason.CONFIG if any(c["evidence"]["checks"] == [] for c in tgt["criteria"]) else Reason.DOWN
        words = {MET: ("met", "đạt"), NOT_MET: ("not met", "không đạt"), "unknown": ("unknown", "chưa rõ")}[outcome]
        summary = t("{id} {w}: {detail}", "{id} {wv}: {dv}", id=tgt["id"], w=words[0], wv=words[1],
                    detail=_criteria_text(tgt, "en"), dv=_criteria_text(tgt, "vi"))
        hint = None
        if outcome == "unknown":
            hint = t("No data for this target: configure the checks it reads (see docs/reports.md) and keep the "
                     "agent running.", "Chưa có dữ liệu cho tiêu chí này: cấu hình các kiểm tra tương ứng "
                     "(xem docs/reports.md) và duy trì tác tử chạy liên tục.")
        elif status != Status.OK:
            hint = t("See the site report (`dxagent report`) for the evidence behind this target.",
                     "Xem báo cáo đơn vị (`dxagent report`) để biết căn cứ của tiêu chí này.")
        out.append(Result(
            CHECK_ID, KIND, tgt["id"], status, summary, hint=hint, reason=reason,
            samples=(Sample.of("readiness_target_met", outcome == MET),
                     Sample.of("readiness_target_unknown", outcome == "unknown")),
            details={"outcome": outcome, "at_risk": tgt["at_risk"], "weight": tgt["weight"]},
            started=started))
    prof = doc["profile"]["id"]
    known = float(doc["known_weight"])
    out.append(Result(
        CHECK_ID, KIND, prof, Status.OK if known > 0 else Status.UNKNOWN,
        t("readiness score {s} ({m} met, {n} not met, {u} unknown)", "điểm sẵn sàng {s} ({m} đạt, {n} không đạt, "
          "{u} chưa rõ)", s=fmt_value(doc["score"], "ratio"), m=doc["counts"]["met"], n=doc["counts"]["not_met"],
          u=doc["counts"]["unknown"]),
        reason=None if known > 0 else Reason.DOWN,
        hint=None if known > 0 else t("No target has data yet.", "Chưa tiêu chí nào có dữ liệu."),
        samples=(Sample.of("readiness_score", doc["score"]), Sample.of("readiness_known_weight_ratio", known)),
        details={"profile": prof, "counts": dict(doc["counts"])},
        started=started))
    return out


def evaluate_results(profile: Profile, history: Any, cfg: Any, now: float | None = None) -> list[Result]:
    """For the daemon: evaluate `profile` over the live History with the config's checks → Results.

    Costs a few History queries per target; call it on a slow schedule (e.g. every 5–15 minutes).
    """
    from dxagent.reports.data import StoreData
    from dxagent.reports.site import checks_from_config, document

    now = now if now is not None else time.time()
    data = StoreData(history, checks_from_config(cfg), cfg.site.staff, discover_since=now - profile.period,
                     discover_until=now)
    doc = document(evaluate(profile, data, now), cfg.site.model_dump(mode="json"), generated=now)
    return readiness_results(doc, now)

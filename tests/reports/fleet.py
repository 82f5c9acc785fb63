"""A generated province fleet: 3,321 site reports as files and the same sites as OpenMetrics for Prometheus.

Used by the roll-up test and bench/bench_rollup.py. Every site report starts from one real evaluated
document (plan02 over a demo snapshot), then gets seeded outcomes per target; the score is recomputed
from the weights exactly as the evaluation does. The OpenMetrics text is produced through
`dxagent.reports.metrics.readiness_results` — the function the daemon exports — with the exporter's
naming (`dxagent_` prefix, check/kind/target labels; `dxagent_site_info{site_id,site_name,province,level}`
as exporters/prometheus.py writes it) and the scrape's instance/job labels.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dxagent.model import Status
from dxagent.reports.data import SnapshotData
from dxagent.reports.evaluate import evaluate
from dxagent.reports.metrics import METRICS, readiness_results
from dxagent.reports.profile import load_profile
from dxagent.reports.site import document
from tests.reports.histories import T0, result

N_SITES = 3321
PROVINCES = [f"tinh-{i:02d}" for i in range(1, 35)]
NO_DATA_EVERY = 97        # every 97th site: report with every target unknown
SILENT_EVERY = 211        # every 211th site: no report file at all / only dxagent_site_info in Prometheus


def template() -> dict[str, Any]:
    snap = {"generated_at": T0, "site": {"id": "x", "staff": 10}, "results": [
        r.to_dict() for r in (
            result("gateway", "ping", "gw", T0, Status.OK, {'ping_rtt_seconds{stat="avg"}': 0.001}),
            result("tls-a", "tls", "a:443", T0, Status.OK, {"tls_chain_earliest_not_after_timestamp_seconds": T0 + 90 * 86400, "tls_verified": 1}),
            result("clock", "clock", "ntp", T0, Status.OK, {"clock_offset_seconds": 0.01}))]}
    prof = load_profile("plan02")
    return document(evaluate(prof, SnapshotData(snap), T0 + 60), snap["site"], snap, generated=T0 + 60)


def site_ids(n: int = N_SITES) -> list[str]:
    return [f"xa-{i:04d}" for i in range(n)]


def fleet(n: int = N_SITES, seed: int = 7) -> Iterator[tuple[int, dict[str, Any] | None, dict[str, str]]]:
    """(index, site report or None for a silent site, identity labels) for every site."""
    rng = random.Random(seed)
    base = template()
    chance = {t["id"]: 0.45 + 0.5 * rng.random() for t in base["targets"]}
    total = sum(t["weight"] for t in base["targets"])
    for i, site in enumerate(site_ids(n)):
        ident = {"site": site, "name": f'UBND xã Số {i} "Đông"', "province": PROVINCES[i % len(PROVINCES)],
                 "level": "commune"}
        if i % SILENT_EVERY == SILENT_EVERY - 1:
            yield i, None, ident
            continue
        doc = copy.copy(base)
        doc["site"] = {"id": site, "name": ident["name"], "province": ident["province"], "level": "commune",
                       "staff": 10 + i % 30}
        doc["generated_at"] = T0 + i
        targets = []
        for t in base["targets"]:
            roll = rng.random()
            if i % NO_DATA_EVERY == NO_DATA_EVERY - 1 or roll > 0.97:
                outcome = "unknown"
            else:
                outcome = "met" if roll < chance[t["id"]] else "not_met"
            targets.append({**t, "outcome": outcome, "at_risk": False})
        doc["targets"] = targets
        met = sum(t["weight"] for t in targets if t["outcome"] == "met")
        known = sum(t["weight"] for t in targets if t["outcome"] != "unknown")
        doc["score"], doc["known_weight"] = met / total, known / total
        doc["counts"] = {k: sum(1 for t in targets if t["outcome"] == k) for k in ("met", "not_met", "unknown")}
        yield i, doc, ident


def write_files(folder: Path, n: int = N_SITES) -> list[str]:
    """Write one JSON report per non-silent site; return every site id (the expected list)."""
    folder.mkdir(parents=True, exist_ok=True)
    for _, doc, ident in fleet(n):
        if doc is not None:
            (folder / f"{ident['site']}.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return site_ids(n)


def _labels(pairs: dict[str, str]) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in pairs.items()) + "}"


def write_openmetrics(path: Path, ts: float, n: int = N_SITES) -> None:
    """The fleet as one OpenMetrics file for `promtool tsdb create-blocks-from openmetrics`."""
    families: dict[str, list[str]] = {"dxagent_site_info": [], **{f"dxagent_{m}": [] for m in METRICS}}
    for i, doc, ident in fleet(n):
        inst = {"instance": f"10.{i // 250}.{i % 250}.2:10190", "job": "dxagent"}
        info = {"site_id": ident["site"], "site_name": ident["name"], "province": ident["province"], "level": "commune"}
        families["dxagent_site_info"].append(f"dxagent_site_info{_labels({**inst, **info})} 1 {ts:.3f}")
        if doc is None:
            continue
        for r in readiness_results(doc, ts):
            for s in r.samples:
                labels = {**inst, "check": r.check_id, "kind": r.kind, "target": r.target, **dict(s.labels)}
                families[f"dxagent_{s.name}"].append(f"dxagent_{s.name}{_labels(labels)} {s.value:g} {ts:.3f}")
    with path.open("w", encoding="utf-8") as fh:
        for name, lines in families.items():
            fh.write(f"# HELP {name} {METRICS.get(name[len('dxagent_'):], 'Site identity.')}\n# TYPE {name} gauge\n")
            fh.write("\n".join(lines) + "\n")
        fh.write("# EOF\n")

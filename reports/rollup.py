"""Province roll-up: many sites' readiness → share per target, ranking, sites without data, trend.

Input is a stream of compact per-site records (`SiteRecord`), produced either from a folder of
site report / snapshot JSON files (offline collection, one file read at a time) or from a
Prometheus server (`dxagent.reports.promsource`). Both paths end in `rollup()`, so the same
sites give the same shares whichever way they were collected.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from dxagent.reports.data import SnapshotData
from dxagent.reports.evaluate import MET, NOT_MET, UNKNOWN, evaluate
from dxagent.reports.profile import Profile
from dxagent.reports.site import SCHEMA as SITE_SCHEMA

__all__ = ["SiteRecord", "records_from_dir", "record_from_document", "rollup", "read_expected", "ROLLUP_SCHEMA"]

ROLLUP_SCHEMA = "dxagent.rollup"
MAX_FILE_BYTES = 16 * 2**20


@dataclasses.dataclass
class SiteRecord:
    """What the roll-up keeps per site: identity, score and each target's outcome (or why there is none)."""

    site: str
    name: str = ""
    province: str = ""
    level: str = ""
    score: float | None = None
    outcomes: dict[str, str] = dataclasses.field(default_factory=dict)
    generated_at: float | None = None
    problem: str | None = None
    outages: int | None = None  # outage events in the site report's period (None: not known)
    outage_seconds: float | None = None


def record_from_document(doc: Mapping[str, Any], profile: Profile, now: float | None = None) -> SiteRecord:
    """A site report or a results snapshot → SiteRecord (a snapshot is evaluated with the profile here)."""
    site = doc.get("site") or {}
    rec = SiteRecord(str(site.get("id") or ""), str(site.get("name") or ""), str(site.get("province") or ""),
                     str(site.get("level") or ""), generated_at=doc.get("generated_at"))
    if doc.get("schema") == SITE_SCHEMA:
        targets = doc.get("targets")
        if not isinstance(targets, list):
            rec.problem = "site report without targets"
            return rec
        for t in targets:
            if isinstance(t, dict) and t.get("outcome") in (MET, NOT_MET, UNKNOWN):
                rec.outcomes[str(t.get("id"))] = t["outcome"]
        summary = doc.get("outage_summary")
        if isinstance(summary, dict) and isinstance(summary.get("count"), int):
            rec.outages = summary["count"]
            secs = summary.get("seconds")
            rec.outage_seconds = float(secs) if isinstance(secs, (int, float)) else None
        known = doc.get("known_weight")
        rec.score = float(doc["score"]) if isinstance(doc.get("score"), (int, float)) and known else None
        if rec.score is None:
            rec.problem = "every target unknown (no data)"
        return rec
    if isinstance(doc.get("results"), list):
        data = SnapshotData(doc)
        ev = evaluate(profile, data, float(doc.get("generated_at") or now or time.time()))
        rec.outcomes = {tr.target.id: tr.outcome for tr in ev.targets}
        rec.score = ev.score if ev.known_weight > 0 else None
        if rec.score is None:
            rec.problem = "every target unknown (no data)"
        return rec
    rec.problem = "neither a site report nor a results snapshot"
    return rec


def records_from_dir(folder: Path, profile: Profile) -> Iterator[SiteRecord]:
    """One record per *.json file (sorted by name); unreadable files give a record with the problem."""
    for path in sorted(folder.glob("*.json")):
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ValueError(f"larger than {MAX_FILE_BYTES // 2**20} MiB")
            with path.open("rb") as fh:
                doc = json.load(fh)
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            yield SiteRecord(site=path.stem, problem=f"{path.name}: {exc}")
            continue
        rec = record_from_document(doc, profile)
        if not rec.site:
            rec.site = path.stem
        yield rec


def read_expected(path: Path) -> list[str]:
    """Expected site ids: one per line (or the first CSV column); blank lines and '#' comments ignored."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cell = line.split(",")[0].strip()
        if cell and not cell.startswith("#") and cell.lower() not in ("site", "id", "site_id"):
            out.append(cell)
    return out


def _competition_ranks(scores: list[float]) -> list[int]:
    ranks, prev, rank = [], None, 0
    for i, s in enumerate(scores, 1):
        if s != prev:
            rank, prev = i, s
        ranks.append(rank)
    return ranks


def rollup(records: Iterable[SiteRecord], profile: Profile, *, source: str, province: str | None = None,
           expected: Iterable[str] = (), previous: Mapping[str, Any] | None = None,
           generated: float | None = None) -> dict[str, Any]:
    """Merge site records into the roll-up document (JSON-ready; input of the HTML/CSV/XLSX renderers)."""
    sites: dict[str, SiteRecord] = {}
    for rec in records:
        if province and rec.province and rec.province != province:
            continue
        old = sites.get(rec.site)
        if old is None or (rec.generated_at or 0) >= (old.generated_at or 0):
            sites[rec.site] = rec
    for site_id in expected:
        sites.setdefault(site_id, SiteRecord(site_id, province=province or "", problem="no report received"))
    with_data = [r for r in sites.values() if r.score is not None]
    targets = []
    prev_targets = {t["id"]: t for t in (previous or {}).get("targets", [])}
    for t in profile.targets:
        counts = {MET: 0, NOT_MET: 0, UNKNOWN: 0}
        for r in with_data:
            counts[r.outcomes.get(t.id, UNKNOWN)] += 1
        share = counts[MET] / len(with_data) if with_data else None
        prev = prev_targets.get(t.id, {}).get("share")
        targets.append({"id": t.id, "name": t.name.model_dump(), "weight": t.weight, "met": counts[MET],
                        "not_met": counts[NOT_MET], "unknown": counts[UNKNOWN],
                        "share": None if share is None else round(share, 6),
                        "share_delta": None if share is None or prev is None else round(share - prev, 6)})
    prev_sites = {s["site"]: s for s in (previous or {}).get("sites", [])}
    ranked = sorted(with_data, key=lambda r: (-(r.score or 0.0), r.site))
    ranks = _competition_ranks([r.score or 0.0 for r in ranked])
    site_rows = []
    ids = [t.id for t in profile.targets]
    for rec, rank in [*zip(ranked, ranks, strict=True),
                      *((r, None) for r in sorted(sites.values(), key=lambda r: r.site) if r.score is None)]:
        prev_score = prev_sites.get(rec.site, {}).get("score")
        site_rows.append({
            "site": rec.site, "name": rec.name, "province": rec.province, "level": rec.level,
            "score": None if rec.score is None else round(rec.score, 6), "rank": rank,
            "score_delta": None if rec.score is None or prev_score is None else round(rec.score - prev_score, 6),
            "not_met": [i for i in ids if rec.outcomes.get(i) == NOT_MET],
            "unknown": [i for i in ids if rec.score is not None and rec.outcomes.get(i, UNKNOWN) == UNKNOWN],
            "outages": rec.outages, "outage_seconds": rec.outage_seconds,
            "generated_at": rec.generated_at, "problem": rec.problem,
        })
    mean = sum(r.score or 0.0 for r in with_data) / len(with_data) if with_data else None
    prev_mean = (previous or {}).get("mean_score")
    return {
        "schema": ROLLUP_SCHEMA,
        "schema_version": 1,
        "generated_at": round(generated if generated is not None else time.time(), 3),
        "source": source,
        "province": province,
        "profile": {"id": profile.id, "version": profile.version, "name": profile.name.model_dump(),
                    "source": profile.source},
        "counts": {"sites": len(sites), "with_data": len(with_data), "no_data": len(sites) - len(with_data),
                   "outages": sum(r.outages or 0 for r in sites.values())},
        "mean_score": None if mean is None else round(mean, 6),
        "targets": targets,
        "sites": site_rows,
        "previous": None if previous is None else {
            "generated_at": previous.get("generated_at"),
            "mean_score_delta": None if mean is None or prev_mean is None else round(mean - prev_mean, 6)},
    }

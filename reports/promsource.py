"""Roll-up input from a Prometheus server's HTTP API: how the roll-up scales to every commune.

Agents export `dxagent_readiness_target_met{target}`, `dxagent_readiness_target_unknown{target}`
and `dxagent_readiness_score` (see dxagent.reports.metrics) plus the exporter's
`dxagent_site_info{site_id,site_name,province,level}` (`site`/`name` are accepted too). Site identity
is joined on the scrape's `instance` label:

    dxagent_readiness_target_met * on(instance) group_left(site_id) dxagent_site_info

so nothing depends on every agent setting constant labels. The universe of sites is every
`dxagent_site_info` seen within `lookback` (default 7 days): a site whose agent stopped being
scraped is listed as "no data", not silently dropped.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpx

from dxagent.reports.evaluate import MET, NOT_MET, UNKNOWN
from dxagent.reports.rollup import SiteRecord

__all__ = ["PrometheusError", "records_from_prometheus", "query"]


class PrometheusError(Exception):
    """The Prometheus API could not be queried or answered with an error."""


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def query(client: httpx.Client, expr: str, at: float | None) -> list[dict[str, Any]]:
    """An instant query; the result vector as a list of {metric, value}."""
    params = {"query": expr}
    if at is not None:
        params["time"] = f"{at:.3f}"
    try:
        resp = client.post("/api/v1/query", data=params)
    except httpx.HTTPError as exc:
        raise PrometheusError(f"cannot query Prometheus at {client.base_url}: {exc}") from None
    try:
        body = resp.json()
    except ValueError:
        raise PrometheusError(f"Prometheus answered HTTP {resp.status_code} with non-JSON content") from None
    if resp.status_code != 200 or body.get("status") != "success":
        raise PrometheusError(f"Prometheus query failed ({resp.status_code}): {body.get('error', 'unknown error')}")
    data = body.get("data") or {}
    if data.get("resultType") != "vector":
        raise PrometheusError(f"unexpected result type {data.get('resultType')!r}")
    return list(data.get("result") or [])


_IDENT = "site_id, site_name, site, name, province, level"


def _site(metric: dict[str, str]) -> str:
    """The site id: the exporter's `site_id` label (or `site` from constant labels / older exporters)."""
    return metric.get("site_id") or metric.get("site") or ""


def records_from_prometheus(url: str, *, province: str | None = None, at: float | None = None,
                            lookback: str = "7d", timeout: float = 60.0,
                            auth: tuple[str, str] | None = None, verify: bool | str = True) -> Iterator[SiteRecord]:
    """One SiteRecord per site known to Prometheus (optionally one province) at time `at` (default: now).

    `verify`: True (the system's roots), False (no verification) or the path of a CA bundle (PEM) to trust alone.
    """
    sel = f'{{province="{_label_value(province)}"}}' if province else ""
    info = f"dxagent_site_info{sel}"
    from dxagent.checks.http.client import ssl_context

    # the system's roots (as the http kind) rather than httpx's certifi bundle; a CA bundle path alone
    # becomes its own context (httpx 0.28 deprecates `verify=<path>`)
    context = (ssl.create_default_context(cafile=verify) if isinstance(verify, str)
               else ssl_context(None, insecure=not verify))
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout, auth=auth, verify=context) as client:
        universe = query(client, f"max by ({_IDENT}) (last_over_time({info}[{lookback}]))", at)
        join = f"on(instance) group_left(site_id, site) {info}"
        met = query(client, f"dxagent_readiness_target_met * {join}", at)
        unknown = query(client, f"dxagent_readiness_target_unknown * {join}", at)
        score = query(client, f"dxagent_readiness_score * {join}", at)
        gen = query(client, f"timestamp(dxagent_readiness_score) * {join}", at)
    records: dict[str, SiteRecord] = {}
    for item in universe:
        m = item["metric"]
        site = _site(m)
        if site:
            records[site] = SiteRecord(site, m.get("site_name") or m.get("name", ""), m.get("province", ""),
                                       m.get("level", ""),
                                       problem="no readiness metrics (agent not scraped, or too old to export them)")
    for item in score:
        rec = records.get(_site(item["metric"]))
        if rec is not None:
            rec.score = float(item["value"][1])
            rec.problem = None
    for item in gen:
        rec = records.get(_site(item["metric"]))
        if rec is not None:
            rec.generated_at = float(item["value"][1])
    for series, outcome in ((met, MET), (unknown, UNKNOWN)):
        for item in series:
            rec = records.get(_site(item["metric"]))
            target = item["metric"].get("target", "")
            if rec is None or not target or float(item["value"][1]) != 1.0:
                continue
            rec.outcomes[target] = outcome
    for item in met:  # a target present with met=0 and unknown=0 is not met
        rec = records.get(_site(item["metric"]))
        target = item["metric"].get("target", "")
        if rec is not None and target and target not in rec.outcomes:
            rec.outcomes[target] = NOT_MET
    for rec in records.values():
        if rec.score is not None and rec.outcomes and all(o == UNKNOWN for o in rec.outcomes.values()):
            rec.score, rec.problem = None, "every target unknown (no data)"
    yield from records.values()

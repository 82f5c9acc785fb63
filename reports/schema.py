"""JSON Schemas (draft 2020-12) of the site report and roll-up documents: the documented interface.

The site report JSON is also the roll-up's input, so other tools may produce or consume it;
`dxagent report schema site|rollup` prints these, and the tests validate real output against them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SITE_SCHEMA", "ROLLUP_SCHEMA"]

_TEXT: dict[str, Any] = {"type": "object", "required": ["vi", "en"],
                         "properties": {"vi": {"type": "string"}, "en": {"type": "string"}}}
_TEXT_OR_NULL: dict[str, Any] = {"anyOf": [_TEXT, {"type": "null"}]}
_NUM_OR_NULL: dict[str, Any] = {"type": ["number", "null"]}
_OUTCOME: dict[str, Any] = {"enum": ["met", "not_met", "unknown"]}

_CRITERION: dict[str, Any] = {
    "type": "object",
    "required": ["label", "measure", "unit", "compare", "threshold", "outcome", "at_risk", "value", "why",
                 "window_seconds", "evidence", "series"],
    "properties": {
        "label": _TEXT,
        "measure": {"enum": ["state", "availability", "percentile", "mean", "days_left", "ratio", "count", "value"]},
        "sample": {"type": "array", "items": {"type": "string"}},
        "unit": {"enum": ["ratio", "seconds", "days", "bytes_per_second", "bytes", "count", ""]},
        "compare": {"enum": [">=", "<=", ">", "<", "=="]},
        "threshold": {"type": "number"},
        "warn": _NUM_OR_NULL,
        "window_seconds": {"type": "number", "description": "the window used: the shorter of the criterion's own "
                           "window and the report period"},
        "profile_window_seconds": {"type": ["number", "null"], "description": "the criterion's own window "
                                   "(windowed measures), before shortening to the period"},
        "outcome": _OUTCOME,
        "at_risk": {"type": "boolean"},
        "value": _NUM_OR_NULL,
        "why": _TEXT_OR_NULL,
        "evidence": {
            "type": "object", "required": ["since", "until", "select", "checks"],
            "properties": {
                "since": {"type": "number"}, "until": {"type": "number"}, "select": {"type": "object"},
                "checks": {"type": "array", "items": {
                    "type": "object", "required": ["check", "kind", "target", "value", "why"],
                    "properties": {"check": {"type": "string"}, "kind": {"type": "string"},
                                   "target": {"type": "string"}, "value": _NUM_OR_NULL, "why": _TEXT_OR_NULL,
                                   "seconds": {"type": ["object", "null"],
                                               "additionalProperties": {"type": "number"}}}}},
            },
        },
        "series": {"type": "array", "items": {
            "type": "object", "required": ["check", "target", "points"],
            "properties": {"points": {"type": "array", "items": {
                "type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}], "minItems": 2,
                "maxItems": 2}}}}},
    },
}

_OUTAGE_CHECK: dict[str, Any] = {
    "type": "object", "required": ["check", "kind", "target", "start", "end", "seconds", "worst", "reason"],
    "properties": {"check": {"type": "string"}, "kind": {"type": "string"}, "target": {"type": "string"},
                   "start": {"type": "number"}, "end": _NUM_OR_NULL, "seconds": {"type": "number", "minimum": 0},
                   "worst": {"enum": ["OK", "WARN", "CRIT", "UNKNOWN"]}, "reason": {"type": ["string", "null"]}},
}

_OUTAGE: dict[str, Any] = {
    "type": "object",
    "description": "one outage event: overlapping outages of checks on one link (same target host or a shared "
                   "config group), clipped to the period",
    "required": ["link", "start", "end", "seconds", "ongoing", "worst", "reason", "cause", "targets", "checks"],
    "properties": {
        "link": {"type": "string", "description": "the shared host (or group) of the checks"},
        "start": {"type": "number"}, "end": {"type": ["number", "null"], "description": "null: still down at the "
                                                                                         "period's end"},
        "seconds": {"type": "number", "minimum": 0}, "ongoing": {"type": "boolean"},
        "worst": {"enum": ["WARN", "CRIT", "UNKNOWN"]}, "reason": {"type": ["string", "null"]},
        "cause": {"type": ["string", "null"], "description": "\"power\" when it began during or within 2 minutes "
                                                             "after a power event; else null"},
        "targets": {"type": "array", "items": {"type": "string"}},
        "checks": {"type": "array", "items": _OUTAGE_CHECK},
    },
}

SITE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "dxagent.site-report/1",
    "title": "dxagent site readiness report",
    "type": "object",
    "required": ["schema", "schema_version", "generated_at", "site", "profile", "period", "score", "known_weight",
                 "counts", "targets", "findings"],
    "properties": {
        "schema": {"const": "dxagent.site-report"},
        "schema_version": {"const": 1},
        "generated_at": {"type": "number", "description": "Unix time"},
        "agent": {"type": "object"},
        "site": {"type": "object", "required": ["id"], "properties": {
            "id": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]},
            "province": {"type": ["string", "null"]}, "level": {"type": ["string", "null"]},
            "staff": {"type": ["integer", "null"]}}},
        "profile": {"type": "object", "required": ["id", "version", "name"],
                    "properties": {"id": {"type": "string"}, "version": {"type": "string"}, "name": _TEXT}},
        "period": {"type": "object", "required": ["since", "until", "seconds"],
                   "properties": {"since": {"type": "number"}, "until": {"type": "number"},
                                  "seconds": {"type": "number"}}},
        "agent_alive_seconds": _NUM_OR_NULL,
        "score": {"type": "number", "minimum": 0, "maximum": 1,
                  "description": "weighted share of targets met; unknown counts as not met"},
        "known_weight": {"type": "number", "minimum": 0, "maximum": 1},
        "counts": {"type": "object", "required": ["met", "not_met", "unknown"],
                   "additionalProperties": {"type": "integer", "minimum": 0}},
        "targets": {"type": "array", "items": {
            "type": "object",
            "required": ["id", "name", "weight", "source", "outcome", "at_risk", "criteria"],
            "properties": {"id": {"type": "string"}, "name": _TEXT, "weight": {"type": "number"},
                           "source": {"type": "string"}, "note": _TEXT_OR_NULL, "outcome": _OUTCOME,
                           "at_risk": {"type": "boolean"}, "criteria": {"type": "array", "items": _CRITERION}}}},
        "findings": {"type": "array", "description": "latest non-OK results (untrusted text)", "items": {
            "type": "object", "properties": {k: {"type": ["string", "null"]} for k in
                                             ("id", "kind", "target", "status", "reason", "summary", "hint")}}},
        "outages": {"description": "outage events of the period, oldest first; null without history",
                    "anyOf": [{"type": "array", "items": _OUTAGE}, {"type": "null"}]},
        "outage_summary": {"anyOf": [{"type": "null"}, {
            "type": "object", "required": ["count", "seconds", "longest_seconds", "ongoing", "power"],
            "properties": {"count": {"type": "integer", "minimum": 0}, "seconds": {"type": "number", "minimum": 0},
                           "longest_seconds": {"type": "number", "minimum": 0},
                           "ongoing": {"type": "integer", "minimum": 0}, "power": {"type": "integer", "minimum": 0}}}]},
        "power_events": {"description": "periods a UPS ran on battery (worst CRIT: its battery went low); null without history",
                         "anyOf": [{"type": "array", "items": _OUTAGE_CHECK}, {"type": "null"}]},
    },
}

ROLLUP_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "dxagent.rollup/1",
    "title": "dxagent province readiness roll-up",
    "type": "object",
    "required": ["schema", "schema_version", "generated_at", "source", "profile", "counts", "mean_score", "targets",
                 "sites", "previous"],
    "properties": {
        "schema": {"const": "dxagent.rollup"},
        "schema_version": {"const": 1},
        "generated_at": {"type": "number"},
        "source": {"type": "string"},
        "province": {"type": ["string", "null"]},
        "profile": {"type": "object", "required": ["id", "name"]},
        "counts": {"type": "object", "required": ["sites", "with_data", "no_data"]},
        "mean_score": _NUM_OR_NULL,
        "targets": {"type": "array", "items": {
            "type": "object", "required": ["id", "name", "met", "not_met", "unknown", "share", "share_delta"],
            "properties": {"id": {"type": "string"}, "name": _TEXT, "met": {"type": "integer"},
                           "not_met": {"type": "integer"}, "unknown": {"type": "integer"}, "share": _NUM_OR_NULL,
                           "share_delta": _NUM_OR_NULL}}},
        "sites": {"type": "array", "items": {
            "type": "object", "required": ["site", "score", "rank", "not_met", "unknown", "problem"],
            "properties": {"site": {"type": "string"}, "score": _NUM_OR_NULL, "rank": {"type": ["integer", "null"]},
                           "score_delta": _NUM_OR_NULL, "not_met": {"type": "array", "items": {"type": "string"}},
                           "outages": {"type": ["integer", "null"], "description": "outage events in the site's "
                                       "report period; null when unknown (snapshot, Prometheus)"},
                           "outage_seconds": _NUM_OR_NULL,
                           "unknown": {"type": "array", "items": {"type": "string"}},
                           "problem": {"type": ["string", "null"]}}}},
        "previous": {"type": ["object", "null"]},
    },
}

"""Pure IF-MIB logic for the `snmp` kind: table rows → interfaces, selection, counter rates.

No I/O and no pysnmp here, so counter wraps, agent restarts and filters are unit-tested with
plain numbers. Rates come from two polls: the previous snapshot lives in the check's
`ctx.state` (a JSON-like dict), so the first run after start reports totals only.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "COLUMNS", "IDENTITY", "DETAIL", "FALLBACK", "needs_fallback", "Interface", "Rates", "interfaces_from_table", "select", "counter_delta",
    "compute_rates", "snapshot", "uptime_restarted", "clean_text",
]

IF_TABLE = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IF_X_TABLE = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)

# Columns walked in one multi-column GETBULK pass (numeric: Debian ships no MIB files).
COLUMNS: dict[str, tuple[int, ...]] = {
    "descr": (*IF_TABLE, 2),
    "speed": (*IF_TABLE, 5),
    "admin": (*IF_TABLE, 7),
    "oper": (*IF_TABLE, 8),
    "in_octets32": (*IF_TABLE, 10),
    "in_discards": (*IF_TABLE, 13),
    "in_errors": (*IF_TABLE, 14),
    "out_octets32": (*IF_TABLE, 16),
    "out_discards": (*IF_TABLE, 19),
    "out_errors": (*IF_TABLE, 20),
    "name": (*IF_X_TABLE, 1),
    "in_octets64": (*IF_X_TABLE, 6),
    "out_octets64": (*IF_X_TABLE, 10),
    "high_speed": (*IF_X_TABLE, 15),
    "alias": (*IF_X_TABLE, 18),
}

# Read in this order: IDENTITY first when filters may narrow the rows (then only the chosen rows'
# DETAIL columns are fetched with GET), FALLBACK only for rows lacking 64-bit counters or ifHighSpeed.
IDENTITY = ("descr", "name", "admin", "oper", "high_speed")
DETAIL = ("in_octets64", "out_octets64", "in_errors", "out_errors", "in_discards", "out_discards", "alias")
FALLBACK = ("in_octets32", "out_octets32", "speed")

# ifOperStatus values (RFC 2863).
OPER_STATUS = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent", 7: "lowerLayerDown"}
COUNTERS = ("in_octets", "out_octets", "in_errors", "out_errors", "in_discards", "out_discards")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_text(raw: Any, limit: int = 255) -> str:
    """Device-supplied text (untrusted): decoded, control characters removed, length bounded."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ("" if raw is None else str(raw))
    return _CONTROL.sub(" ", text).strip()[:limit]


@dataclasses.dataclass(frozen=True)
class Interface:
    """One IF-MIB row, in plain values. `counters` holds the octet/error/discard counters read,
    `widths` their size in bits (64 for ifHC*, else 32) for wrap handling."""

    index: int
    name: str
    descr: str
    alias: str
    admin_up: bool | None
    oper_status: str
    speed_bps: float | None
    counters: Mapping[str, int]
    widths: Mapping[str, int]

    @property
    def oper_up(self) -> bool:
        return self.oper_status == "up"


def interfaces_from_table(table: Mapping[str, Mapping[tuple[int, ...], Any]]) -> list[Interface]:
    """Rows keyed by ifIndex (from ifDescr, which every agent has) → Interfaces, ordered by index."""
    out: list[Interface] = []
    for idx in sorted(table.get("descr", {})):
        if len(idx) != 1:
            continue

        def col(name: str, idx: tuple[int, ...] = idx) -> Any:
            return table.get(name, {}).get(idx)

        descr = clean_text(col("descr"), 128)
        name = clean_text(col("name"), 64) or descr[:64] or f"if{idx[0]}"
        counters: dict[str, int] = {}
        widths: dict[str, int] = {}
        for key in ("in_octets", "out_octets"):
            hc, low = col(key + "64"), col(key + "32")
            if isinstance(hc, int):
                counters[key], widths[key] = hc, 64
            elif isinstance(low, int):
                counters[key], widths[key] = low, 32
        for key in ("in_errors", "out_errors", "in_discards", "out_discards"):
            if isinstance(col(key), int):
                counters[key], widths[key] = col(key), 32
        admin = col("admin")
        out.append(Interface(
            index=idx[0], name=name, descr=descr, alias=clean_text(col("alias"), 128),
            admin_up=None if not isinstance(admin, int) else admin == 1,
            oper_status=OPER_STATUS.get(col("oper"), "unknown") if isinstance(col("oper"), int) else "unknown",
            speed_bps=_speed(col("high_speed"), col("speed")),
            counters=counters, widths=widths,
        ))
    return out


def _speed(high_speed: Any, speed: Any) -> float | None:
    """ifHighSpeed (Mb/s) when set, else ifSpeed (b/s) unless saturated at 2^32-1; 0 = unknown."""
    if isinstance(high_speed, int) and high_speed > 0:
        return high_speed * 1e6
    if isinstance(speed, int) and 0 < speed < 2**32 - 1:
        return float(speed)
    return None


def select(ifaces: list[Interface], *, names: tuple[str, ...] = (), include: str | None = None,
           exclude: str | None = None, oper_up_only: bool = False,
           limit: int = 64) -> tuple[list[Interface], list[str], int]:
    """Apply the config's filters → (chosen, explicit names not found, rows dropped by `limit`).

    An explicit name matches ifName or ifDescr exactly; regexes must match the whole ifName.
    """
    chosen: list[Interface] = []
    missing: list[str] = []
    if names:
        by_name = {}
        for i in ifaces:
            by_name.setdefault(i.descr, i)
            by_name.setdefault(i.name, i)
        for n in names:
            if n in by_name and by_name[n] not in chosen:
                chosen.append(by_name[n])
            elif n not in by_name:
                missing.append(n)
    else:
        chosen = list(ifaces)
    if include:
        chosen = [i for i in chosen if re.fullmatch(include, i.name)]
    if exclude:
        chosen = [i for i in chosen if not re.fullmatch(exclude, i.name)]
    if oper_up_only:
        chosen = [i for i in chosen if i.oper_up]
    dropped = max(0, len(chosen) - limit)
    return chosen[:limit], missing, dropped


def needs_fallback(table: Mapping[str, Mapping[tuple[int, ...], Any]], rows: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Rows missing a 64-bit octet counter or ifHighSpeed: their 32-bit columns must be read."""
    def has(col: str, row: tuple[int, ...]) -> bool:
        return isinstance(table.get(col, {}).get(row), int)

    return [r for r in rows if not (has("in_octets64", r) and has("out_octets64", r) and has("high_speed", r))]


def counter_delta(prev: int, cur: int, bits: int, max_delta: float | None = None) -> int | None:
    """Increase of a counter between two reads, allowing one wrap at 2^bits.

    A decrease is a wrap only if the wrapped increase is plausible: at most what the link could
    carry (`max_delta`) or, with no speed known, less than half the counter's range. Otherwise the
    counter was reset (agent restart, interface re-created) and there is no rate: None.
    """
    if cur >= prev:
        return cur - prev
    wrapped = cur + 2**bits - prev
    limit = max_delta if max_delta is not None else 2 ** (bits - 1)
    return wrapped if wrapped <= limit else None


@dataclasses.dataclass(frozen=True)
class Rates:
    """Per-second rates for one interface; None where no rate could be computed this run."""

    receive_bps: float | None = None
    transmit_bps: float | None = None
    in_errors: float | None = None
    out_errors: float | None = None
    in_discards: float | None = None
    out_discards: float | None = None

    def utilization(self, speed_bps: float | None) -> tuple[float | None, float | None]:
        if not speed_bps:
            return None, None
        return (None if self.receive_bps is None else self.receive_bps / speed_bps,
                None if self.transmit_bps is None else self.transmit_bps / speed_bps)


def snapshot(ifaces: list[Interface], now: float, uptime_ticks: int | None) -> dict[str, Any]:
    """What the next run needs to compute rates (kept in ctx.state; JSON-compatible)."""
    return {
        "time": now, "uptime": uptime_ticks,
        "ifaces": {str(i.index): {"name": i.name, "counters": dict(i.counters), "widths": dict(i.widths)} for i in ifaces},
    }


def uptime_restarted(prev_ticks: int | None, cur_ticks: int | None, elapsed_s: float) -> bool:
    """Did sysUpTime go backwards, other than by its own wrap after 497 days (2^32 centiseconds)?"""
    if prev_ticks is None or cur_ticks is None or cur_ticks >= prev_ticks:
        return False
    expected = prev_ticks + elapsed_s * 100
    return expected < 2**32 - 1000  # far from the wrap point: a real restart


def compute_rates(prev: Mapping[str, Any] | None, ifaces: list[Interface], now: float,
                  restarted: bool) -> dict[int, Rates]:
    """Rates per ifIndex against the previous snapshot; empty on the first run or after a restart.

    An interface whose name changed under the same ifIndex (re-indexed after a reload) gets no rate.
    """
    if not prev or restarted:
        return {}
    elapsed = now - float(prev.get("time", now))
    if elapsed <= 0:
        return {}
    out: dict[int, Rates] = {}
    for i in ifaces:
        old = prev.get("ifaces", {}).get(str(i.index))
        if not old or old.get("name") != i.name:
            continue
        values: dict[str, float | None] = {}
        for key in COUNTERS:
            if key not in i.counters or key not in old["counters"] or old["widths"].get(key) != i.widths[key]:
                values[key] = None
                continue
            max_delta = i.speed_bps / 8 * elapsed * 1.5 if key.endswith("octets") and i.speed_bps else None
            d = counter_delta(int(old["counters"][key]), i.counters[key], i.widths[key], max_delta)
            values[key] = None if d is None else d / elapsed
        out[i.index] = Rates(
            receive_bps=None if values["in_octets"] is None else values["in_octets"] * 8,
            transmit_bps=None if values["out_octets"] is None else values["out_octets"] * 8,
            in_errors=values["in_errors"], out_errors=values["out_errors"],
            in_discards=values["in_discards"], out_discards=values["out_discards"],
        )
    return out

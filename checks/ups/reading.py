"""What a UPS says, whatever the source: NUT variables or UPS-MIB/XUPS-MIB values → one `Reading`.

Pure functions, unit-tested without a device. Values are in base units (ratios 0–1, seconds, volts,
degrees Celsius); a value the device does not give stays None and produces no metric.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal

__all__ = ["Reading", "from_nut", "from_mibs", "UPS_MIB", "XUPS_MIB", "SelfTest"]

SelfTest = Literal["passed", "warning", "failed", "none", "in_progress", "unknown"]


@dataclasses.dataclass(frozen=True)
class Reading:
    """One look at a UPS. `flags` keeps the device's own status words for the details."""

    on_battery: bool
    low_battery: bool = False
    bypass: bool = False
    fault: str | None = None             # a short fault word: overload, replace-battery, alarm, off, forced-shutdown
    charge_ratio: float | None = None
    runtime_seconds: float | None = None
    load_ratio: float | None = None
    input_volts: float | None = None
    output_volts: float | None = None
    temperature_celsius: float | None = None
    self_test: SelfTest = "unknown"
    manufacturer: str = ""
    model: str = ""
    flags: tuple[str, ...] = ()

    @property
    def on_mains(self) -> bool:
        return not self.on_battery and not self.bypass and self.fault not in ("off", "forced-shutdown")


def _num(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def _pct(value: str | None) -> float | None:
    number = _num(value)
    return None if number is None else number / 100


# ----------------------------------------------------------------------------- NUT

# ups.status words (NUT's docs/developer-guide, "status data"): the ones that change our verdict.
_NUT_FAULTS = {"FSD": "forced-shutdown", "OFF": "off", "OVER": "overload", "RB": "replace-battery", "ALARM": "alarm"}
_NUT_TEST = {"done and passed": "passed", "done and warning": "warning", "done and error": "failed",
             "no test initiated": "none", "in progress": "in_progress", "aborted": "none"}


def from_nut(variables: Mapping[str, str]) -> Reading:
    """NUT variables (`upsc NAME` output as a mapping) → Reading. `ups.status` is required."""
    words = tuple(variables.get("ups.status", "").split())
    if not words:
        raise ValueError("the UPS gives no ups.status")
    fault = next((name for word, name in _NUT_FAULTS.items() if word in words), None)
    test = variables.get("ups.test.result", "").strip().lower()
    self_test: SelfTest = "unknown"
    for prefix, value in _NUT_TEST.items():
        if test.startswith(prefix):
            self_test = value  # type: ignore[assignment]
            break
    else:
        if "fail" in test or "error" in test:
            self_test = "failed"
    return Reading(
        on_battery="OB" in words,
        low_battery="LB" in words,
        bypass="BYPASS" in words,
        fault=fault,
        charge_ratio=_pct(variables.get("battery.charge")),
        runtime_seconds=_num(variables.get("battery.runtime")),
        load_ratio=_pct(variables.get("ups.load")),
        input_volts=_num(variables.get("input.voltage")),
        output_volts=_num(variables.get("output.voltage")),
        temperature_celsius=_num(variables.get("battery.temperature")),
        self_test=self_test,
        manufacturer=variables.get("ups.mfr", variables.get("device.mfr", "")),
        model=variables.get("ups.model", variables.get("device.model", "")),
        flags=words,
    )


# ----------------------------------------------------------------------------- SNMP MIBs

# UPS-MIB (RFC 1628), under 1.3.6.1.2.1.33; table columns read at line/row 1.
UPS_MIB: dict[str, str] = {
    "manufacturer": "1.3.6.1.2.1.33.1.1.1.0",      # upsIdentManufacturer
    "model": "1.3.6.1.2.1.33.1.1.2.0",             # upsIdentModel
    "battery_status": "1.3.6.1.2.1.33.1.2.1.0",    # upsBatteryStatus: unknown(1) normal(2) low(3) depleted(4)
    "seconds_on_battery": "1.3.6.1.2.1.33.1.2.2.0",  # upsSecondsOnBattery
    "minutes_remaining": "1.3.6.1.2.1.33.1.2.3.0",   # upsEstimatedMinutesRemaining
    "charge_percent": "1.3.6.1.2.1.33.1.2.4.0",    # upsEstimatedChargeRemaining
    "temperature": "1.3.6.1.2.1.33.1.2.7.0",       # upsBatteryTemperature (°C)
    "input_volts": "1.3.6.1.2.1.33.1.3.3.1.3.1",   # upsInputVoltage.1 (RMS V)
    "output_source": "1.3.6.1.2.1.33.1.4.1.0",     # upsOutputSource: normal(3) bypass(4) battery(5) booster(6) reducer(7)
    "output_volts": "1.3.6.1.2.1.33.1.4.4.1.2.1",  # upsOutputVoltage.1
    "load_percent": "1.3.6.1.2.1.33.1.4.4.1.5.1",  # upsOutputPercentLoad.1
    "alarms": "1.3.6.1.2.1.33.1.6.1.0",            # upsAlarmsPresent
    "test_result": "1.3.6.1.2.1.33.1.7.3.0",       # upsTestResultsSummary
}
# XUPS-MIB (Eaton/Powerware), under 1.3.6.1.4.1.534.1.
XUPS_MIB: dict[str, str] = {
    "manufacturer": "1.3.6.1.4.1.534.1.1.1.0",     # xupsIdentManufacturer
    "model": "1.3.6.1.4.1.534.1.1.2.0",            # xupsIdentModel
    "seconds_remaining": "1.3.6.1.4.1.534.1.2.1.0",  # xupsBatTimeRemaining (s)
    "charge_percent": "1.3.6.1.4.1.534.1.2.4.0",   # xupsBatCapacity
    "abm_status": "1.3.6.1.4.1.534.1.2.5.0",       # xupsBatteryAbmStatus: charging(1) discharging(2) floating(3) resting(4)
    "input_volts": "1.3.6.1.4.1.534.1.3.4.1.2.1",  # xupsInputVoltage.1
    "load_percent": "1.3.6.1.4.1.534.1.4.1.0",     # xupsOutputLoad
    "output_volts": "1.3.6.1.4.1.534.1.4.4.1.2.1",  # xupsOutputVoltage.1
    "output_source": "1.3.6.1.4.1.534.1.4.5.0",    # xupsOutputSource: normal(3) bypass(4) battery(5) …
    "temperature": "1.3.6.1.4.1.534.1.6.1.0",      # xupsEnvAmbientTemp (°C)
    "test_result": "1.3.6.1.4.1.534.1.8.2.0",      # xupsTestBatteryStatus: passed(2) failed(3) inProgress(4)
}
_SOURCE_BYPASS = {4, 11}       # bypass, maintenanceBypass (XUPS)
_SOURCE_BATTERY = {5}
_SOURCE_NONE = {2}
_UPS_TEST = {1: "passed", 2: "warning", 3: "failed", 4: "none", 5: "in_progress", 6: "none"}
_XUPS_TEST = {2: "passed", 3: "failed", 4: "in_progress"}


def _int(values: Mapping[str, int | str | None], key: str) -> int | None:
    value = values.get(key)
    if value is None or isinstance(value, str):
        return None
    return int(value)


def from_mibs(ups: Mapping[str, int | str | None], xups: Mapping[str, int | str | None]) -> Reading:
    """UPS-MIB and XUPS-MIB values by the keys of `UPS_MIB`/`XUPS_MIB` (None: not answered) → Reading.

    UPS-MIB wins where both answer; XUPS-MIB fills what the standard MIB leaves out.
    """
    if all(v is None for v in ups.values()) and all(v is None for v in xups.values()):
        raise ValueError("the device answers neither UPS-MIB nor XUPS-MIB")
    source = _int(ups, "output_source") or _int(xups, "output_source")
    battery_status = _int(ups, "battery_status")
    on_battery = source in _SOURCE_BATTERY or (source is None and (_int(ups, "seconds_on_battery") or 0) > 0) \
        or (source is None and _int(xups, "abm_status") == 2)
    minutes = _int(ups, "minutes_remaining")
    runtime = minutes * 60.0 if minutes is not None else None
    if runtime is None and _int(xups, "seconds_remaining") is not None:
        runtime = float(_int(xups, "seconds_remaining") or 0)
    charge = _int(ups, "charge_percent")
    charge = charge if charge is not None else _int(xups, "charge_percent")
    load = _int(ups, "load_percent")
    load = load if load is not None else _int(xups, "load_percent")
    test_ups, test_xups = _int(ups, "test_result"), _int(xups, "test_result")
    self_test = _UPS_TEST.get(test_ups or 0) or _XUPS_TEST.get(test_xups or 0) or "unknown"
    fault = None
    if source in _SOURCE_NONE:
        fault = "off"
    elif (_int(ups, "alarms") or 0) > 0 and not on_battery:
        fault = "alarm"
    flags = tuple(f"{k}={v}" for k, v in (("output_source", source), ("battery_status", battery_status)) if v is not None)

    def first(key: str) -> float | None:
        value = _int(ups, key)
        return float(value) if value is not None else (float(v) if (v := _int(xups, key)) is not None else None)

    def text(key: str) -> str:
        value = ups.get(key) or xups.get(key) or ""
        return value if isinstance(value, str) else str(value)

    return Reading(
        on_battery=on_battery,
        low_battery=battery_status in (3, 4),
        bypass=source in _SOURCE_BYPASS,
        fault=fault,
        charge_ratio=charge / 100 if charge is not None else None,
        runtime_seconds=runtime,
        load_ratio=load / 100 if load is not None else None,
        input_volts=first("input_volts"),
        output_volts=first("output_volts"),
        temperature_celsius=first("temperature"),
        self_test=self_test,  # type: ignore[arg-type]
        manufacturer=text("manufacturer").strip(),
        model=text("model").strip(),
        flags=flags,
    )

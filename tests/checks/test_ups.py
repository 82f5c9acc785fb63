"""`ups` kind: judging (pure), NUT's variables and the MIBs parsed, and a real upsd + dummy-ups."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dxagent.checks import ups
from dxagent.checks.ups.reading import Reading, from_mibs, from_nut
from dxagent.config import ConfigError, load_text
from dxagent.model import Reason, Result, Status
from dxagent.probe import ProbeContext
from tests.nut import NutServer, running_upsd
from tests.snmpd import skip_unless_snmpd
from tests.upsmib import LOW_BATTERY_MIB, ON_BATTERY_MIB, ON_MAINS_MIB, XUPS_MIB_VALUES, UpsCard, running_ups_card


def cfg(**kw: object) -> ups.Config:
    return ups.Config(id="ups", **kw)  # type: ignore[arg-type]


def run(config: ups.Config, timeout: float = 3.0) -> Result:
    return asyncio.run(ups.probe(config, ProbeContext(check_id=config.id, kind="ups", timeout=timeout)))


# ----------------------------------------------------------------------------- pure


def test_nut_variables_to_reading() -> None:
    r = from_nut({"ups.status": "OB DISCHRG LB", "battery.charge": "18", "battery.runtime": "240", "ups.load": "41",
                  "input.voltage": "0.0", "output.voltage": "229.1", "battery.temperature": "30.2",
                  "ups.test.result": "Done and error", "ups.mfr": "Eaton", "ups.model": "5E 1100i"})
    assert r.on_battery and r.low_battery and not r.bypass and r.fault is None and not r.on_mains
    assert (r.charge_ratio, r.runtime_seconds, r.load_ratio) == (0.18, 240.0, 0.41)
    assert (r.input_volts, r.output_volts, r.temperature_celsius) == (0.0, 229.1, 30.2)
    assert r.self_test == "failed" and r.model == "5E 1100i"
    assert from_nut({"ups.status": "OL BYPASS"}).bypass
    assert from_nut({"ups.status": "OL RB"}).fault == "replace-battery"
    assert from_nut({"ups.status": "OL CHRG", "battery.charge": "n/a"}).charge_ratio is None
    with pytest.raises(ValueError, match=r"ups\.status"):
        from_nut({"battery.charge": "100"})


def test_mibs_to_reading_upsmib_first_xups_fills() -> None:
    on_battery = from_mibs({"output_source": 5, "battery_status": 2, "minutes_remaining": 12, "charge_percent": 80,
                            "load_percent": None, "input_volts": 0, "output_volts": 230, "temperature": None,
                            "test_result": 1, "manufacturer": "APC", "model": "Smart-UPS"},
                           {"load_percent": 35, "temperature": 27, "seconds_remaining": 999})
    assert on_battery.on_battery and not on_battery.low_battery
    assert on_battery.runtime_seconds == 720.0   # UPS-MIB's minutes win over XUPS's seconds
    assert on_battery.load_ratio == 0.35 and on_battery.temperature_celsius == 27.0  # filled from XUPS-MIB
    assert on_battery.self_test == "passed" and on_battery.manufacturer == "APC"
    low = from_mibs({"output_source": 5, "battery_status": 3}, {})
    assert low.low_battery
    xups_only = from_mibs({k: None for k in ("output_source", "battery_status")},
                          {"output_source": 3, "seconds_remaining": 1500, "charge_percent": 100, "test_result": 3})
    assert xups_only.on_mains and xups_only.runtime_seconds == 1500.0 and xups_only.self_test == "failed"
    assert from_mibs({"output_source": 4}, {}).bypass
    with pytest.raises(ValueError, match="neither UPS-MIB nor XUPS-MIB"):
        from_mibs({"output_source": None}, {"output_source": None})


@pytest.mark.parametrize(("reading", "status", "reason", "words"), [
    (Reading(on_battery=False, charge_ratio=1.0, runtime_seconds=1800), Status.OK, None, "on mains"),
    (Reading(on_battery=True, charge_ratio=0.9, runtime_seconds=1500), Status.WARN, Reason.DOWN, "on battery"),
    (Reading(on_battery=True, low_battery=True, runtime_seconds=600), Status.CRIT, Reason.THRESHOLD, "battery LOW"),
    (Reading(on_battery=True, runtime_seconds=200), Status.CRIT, Reason.THRESHOLD, "battery LOW"),
    (Reading(on_battery=False, runtime_seconds=120), Status.CRIT, Reason.THRESHOLD, "would last only 2m00s (limit 5m00s)"),
    (Reading(on_battery=False, charge_ratio=0.3, runtime_seconds=900), Status.WARN, Reason.THRESHOLD, "charge 30% below 50%"),
    (Reading(on_battery=False, bypass=True), Status.WARN, Reason.DOWN, "bypass"),
    (Reading(on_battery=False, fault="overload"), Status.WARN, Reason.CONTENT, "overload"),
    (Reading(on_battery=False, self_test="failed"), Status.WARN, Reason.CONTENT, "self-test FAILED"),
    (Reading(on_battery=True, fault="forced-shutdown"), Status.CRIT, Reason.DOWN, "FSD"),
])
def test_judge(reading: Reading, status: Status, reason: Reason | None, words: str) -> None:
    verdict = ups.judge(cfg(), reading)
    assert (verdict.status, verdict.reason) == (status, reason)
    assert words in verdict.summary.en
    if status != Status.OK:
        assert verdict.hint is not None and verdict.hint.en and verdict.hint.vi


def test_judge_uses_configured_thresholds() -> None:
    strict = cfg(thresholds={"runtime": {"warn": "20m", "crit": "10m"}, "charge": {"warn": "90%", "crit": "40%"}})
    assert ups.judge(strict, Reading(on_battery=False, charge_ratio=1.0, runtime_seconds=900)).status == Status.WARN
    assert ups.judge(strict, Reading(on_battery=False, charge_ratio=0.3, runtime_seconds=3000)).status == Status.CRIT
    hint = ups.judge(cfg(), Reading(on_battery=True, runtime_seconds=1260)).hint
    assert hint is not None and "21m00s" in hint.en and "21m00s" in hint.vi


BAD = [
    ("  - {id: u, kind: ups, source: snmp, ups: dummy}\n", "source snmp does not use ups"),
    ("  - {id: u, kind: ups, username: mon}\n", "username and password go together"),
    ("  - {id: u, kind: ups, ups: 'bad name'}\n", "ups"),
    ("  - {id: u, kind: ups, thresholds: {runtime: {crit: 10m, warn: 5m}}}\n", "crit must not be above warn"),
    ("  - {id: u, kind: ups, port: 70000}\n", "port"),
]


@pytest.mark.parametrize(("entry", "message"), BAD)
def test_bad_config_names_line_and_field(entry: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_text("checks:\n" + entry, "agent.yml")
    text = str(err.value)
    assert "agent.yml:2:" in text and message in text, text


def test_password_never_echoed_in_config_errors() -> None:
    with pytest.raises(ConfigError) as err:
        load_text("checks:\n  - {id: u, kind: ups, source: snmp, username: mon, password: hunter2-secret}\n", "a.yml")
    assert "hunter2-secret" not in str(err.value)


# ----------------------------------------------------------------------------- real NUT


@pytest.fixture
def nut(tmp_path: Path) -> Iterator[NutServer]:
    with running_upsd(tmp_path, users={"monuser": "s3cret-nut-pw"}) as server:
        yield server


def _until(config: ups.Config, status: Status, deadline_s: float, interval: float) -> tuple[Result, float]:
    """Run the check every `interval` s until it gives `status` → (result, seconds it took)."""
    t0 = time.monotonic()
    while True:
        result = run(config)
        if result.status == status:
            return result, time.monotonic() - t0
        assert time.monotonic() - t0 < deadline_s, f"still {result.status.name} ({result.summary.en}) after {deadline_s}s"
        time.sleep(interval)


@pytest.mark.slow
def test_follows_the_dummy_ups_from_mains_to_battery_to_low_and_back(nut: NutServer) -> None:
    """Each state within one check interval (2 s) plus the driver's poll (1 s)."""
    config = cfg(host=nut.host, port=nut.port, ups=nut.ups, interval="2s", timeout="1s")
    result, _ = _until(config, Status.OK, 10, 0.5)
    assert result.target == f"dummy@127.0.0.1:{nut.port}"
    samples = {s.name: s.value for s in result.samples}
    assert samples["ups_on_mains"] == 1 and samples["ups_on_battery"] == 0 and samples["ups_up"] == 1
    assert samples["ups_battery_runtime_seconds"] == 1800 and samples["ups_load_ratio"] == pytest.approx(0.3)
    assert samples["ups_input_voltage_volts"] == 229.5 and samples["ups_battery_temperature_celsius"] == 28.5
    assert samples["ups_self_test_passed"] == 1
    assert result.details["model"] == "Test 1000"
    steps = [("OB DISCHRG", {"battery__charge": 90, "battery__runtime": 1500, "input__voltage": 0}, Status.WARN, "on battery"),
             ("OB DISCHRG LB", {"battery__charge": 15, "battery__runtime": 200}, Status.CRIT, "battery LOW"),
             ("OL CHRG", {"battery__charge": 100}, Status.OK, "on mains")]
    for words, values, status, summary in steps:
        nut.set_state(words, **values)
        result, took = _until(config, status, 2 + 1 + 1.5, 0.25)
        assert summary in result.summary.en, result.summary.en
        assert took <= 2 + 1 + 1.5
    assert result.hint is None


def test_unknown_ups_names_the_ones_served(nut: NutServer) -> None:
    result = run(cfg(host=nut.host, port=nut.port, ups="server-room"))
    assert result.status == Status.CRIT and result.reason == Reason.CONFIG
    assert result.hint is not None and "dummy" in result.hint.en and f"127.0.0.1:{nut.port}" in result.hint.en
    assert "server-room" in result.hint.vi


def test_without_ups_name_takes_the_only_one(nut: NutServer) -> None:
    result = run(cfg(host=nut.host, port=nut.port))
    assert result.status == Status.OK and result.details["ups"] == "dummy"


def test_nothing_listening_on_loopback_is_unknown_with_a_hint() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run(cfg(host="127.0.0.1", port=port))
    assert result.status == Status.UNKNOWN and result.reason == Reason.CONNECT
    assert result.hint is not None and "nut-server" in result.hint.en and f"127.0.0.1:{port}" in result.hint.vi
    assert {s.name: s.value for s in result.samples} == {"ups_up": 0}


def test_a_silent_server_costs_at_most_the_timeout() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])   # accept and never answer
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        t0 = time.monotonic()
        result = run(cfg(host="127.0.0.1", port=listener.getsockname()[1], ups="dummy"), timeout=1.5)
        took = time.monotonic() - t0
    finally:
        stop.set()
        thread.join()
        listener.close()
        for conn in held:
            conn.close()
    assert result.status == Status.CRIT and result.reason == Reason.TIMEOUT
    assert took < 1.5 + 0.5, took
    assert result.hint is not None and "3493" not in result.hint.en


def test_check_only_ups_without_nut_gives_one_clear_line(tmp_path: Path) -> None:
    """The built-in default's `ups` check on a machine without NUT: one UNKNOWN line with a hint."""
    from tests import netns

    netns.skip_unless_available()
    with netns.NetLab() as lab:
        host = lab.lan().add_host(default_route=False)
        proc = lab.run_in(host, "env", "NO_COLOR=1", "DXAGENT_CONFIG=builtin", sys.executable, "-m", "dxagent", "check",
                          "--only", "ups", "--format", "json", "--lang", "vi", check=False)
        table = lab.run_in(host, "env", "NO_COLOR=1", "DXAGENT_CONFIG=builtin", sys.executable, "-m", "dxagent", "check",
                           "--only", "ups", "--lang", "en", check=False)
    assert "Traceback" not in proc.stderr + table.stderr
    doc = json.loads(proc.stdout)
    (only,) = doc["results"]
    assert only["kind"] == "ups" and only["status"] == "UNKNOWN" and proc.returncode == 3
    assert "nut-server" in only["hint"] and "localhost:3493" in only["hint"] and "cài" in only["hint"]
    assert table.returncode == 3 and "localhost:3493" in table.stdout and "nut-server" in table.stdout


def test_credentials_are_sent_but_never_shown(nut: NutServer, monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """upsd takes USERNAME/PASSWORD before reading (it checks them only at LOGIN, which a monitor must
    not do); the password comes from a secret and never reaches a result or a log line, even at DEBUG."""
    monkeypatch.setenv("DX_TEST_NUT_PW", "s3cret-nut-pw")
    caplog.set_level("DEBUG")
    loaded = load_text(f"checks:\n  - {{id: u, kind: ups, host: 127.0.0.1, port: {nut.port}, ups: dummy, username: monuser, "
                       "password: {env: DX_TEST_NUT_PW}}\n", "a.yml")
    result = run(loaded.checks[0])  # type: ignore[arg-type]
    assert result.status == Status.OK, result.summary.en
    assert "s3cret-nut-pw" not in json.dumps([result.to_dict("en"), result.to_dict("vi")], ensure_ascii=False)
    assert "s3cret-nut-pw" not in caplog.text


# ----------------------------------------------------------------------------- real SNMP card (snmpd)


def _snmp_cfg(card: UpsCard, **snmp: object) -> ups.Config:
    access = {"version": "v2c", "community": {"env": "DX_TEST_UPS_COMMUNITY"}, "request_timeout": "500ms",
              "request_retries": 1, **snmp}
    text = json.dumps({"checks": [{"id": "ups-card", "kind": "ups", "source": "snmp", "host": card.host, "port": card.port,
                                   "snmp": access, "timeout": "3s", "interval": "10s"}]})
    return load_text(text, "card.yml").checks[0]  # type: ignore[return-value]


@pytest.fixture
def card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[UpsCard]:
    skip_unless_snmpd()
    with running_ups_card(tmp_path, ON_MAINS_MIB) as agent:
        monkeypatch.setenv("DX_TEST_UPS_COMMUNITY", agent.agent.community)
        yield agent


def test_snmp_card_on_mains_then_on_battery_then_low(card: UpsCard) -> None:
    config = _snmp_cfg(card)
    mains = run(config)
    assert mains.status == Status.OK, mains.summary.en
    samples = {s.name: s.value for s in mains.samples}
    assert samples["ups_on_mains"] == 1 and samples["ups_battery_runtime_seconds"] == 42 * 60
    assert samples["ups_input_voltage_volts"] == 231 and samples["ups_load_ratio"] == pytest.approx(0.24)
    assert samples["ups_self_test_passed"] == 1 and mains.details["model"] == "5PX 1500"
    assert "ups_battery_temperature_celsius" in samples
    card.set_values(ON_BATTERY_MIB)
    battery = run(config)
    assert (battery.status, battery.reason) == (Status.WARN, Reason.DOWN) and "on battery" in battery.summary.en
    assert {s.name: s.value for s in battery.samples}["ups_input_voltage_volts"] == 0
    card.set_values(LOW_BATTERY_MIB)
    low = run(config)
    assert (low.status, low.reason) == (Status.CRIT, Reason.THRESHOLD) and "battery LOW" in low.summary.en
    assert low.hint is not None and "3m00s" in low.hint.en


def test_snmp_card_with_xups_mib_fills_what_ups_mib_lacks(card: UpsCard) -> None:
    card.set_values({**{k: v for k, v in ON_MAINS_MIB.items() if not k.startswith("1.3.6.1.2.1.33.1.4.4.1.5")},
                     **XUPS_MIB_VALUES})
    result = run(_snmp_cfg(card))
    samples = {s.name: s.value for s in result.samples}
    assert samples["ups_load_ratio"] == pytest.approx(0.37)  # xupsOutputLoad
    assert samples["ups_battery_runtime_seconds"] == 42 * 60  # UPS-MIB wins where both answer


def test_snmp_card_xups_mib_alone(card: UpsCard) -> None:
    card.set_values(XUPS_MIB_VALUES)
    result = run(_snmp_cfg(card))
    assert result.status == Status.OK and result.details["manufacturer"] == "EATON"
    assert {s.name: s.value for s in result.samples}["ups_battery_runtime_seconds"] == 1620


def test_snmp_device_without_ups_mib(card: UpsCard) -> None:
    card.set_values({})
    result = run(_snmp_cfg(card))
    assert (result.status, result.reason) == (Status.CRIT, Reason.CONTENT)
    assert result.hint is not None and "UPS-MIB" in result.hint.en and f"{card.host}:{card.port}" in result.hint.vi


def test_snmp_v3_auth_priv_and_a_wrong_key(card: UpsCard, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DX_TEST_UPS_AUTH", card.agent.auth_key)
    monkeypatch.setenv("DX_TEST_UPS_PRIV", card.agent.priv_key)
    v3 = {"version": "v3", "community": None, "user": card.agent.user, "auth_key": {"env": "DX_TEST_UPS_AUTH"},
          "priv_key": {"env": "DX_TEST_UPS_PRIV"}}
    assert run(_snmp_cfg(card, **v3)).status == Status.OK
    monkeypatch.setenv("DX_TEST_UPS_AUTH", "not-the-right-key")
    wrong = run(_snmp_cfg(card, **v3))
    assert wrong.status == Status.CRIT and wrong.reason in (Reason.AUTH, Reason.TIMEOUT)
    assert "not-the-right-key" not in json.dumps([wrong.to_dict("en"), wrong.to_dict("vi")], ensure_ascii=False)


def test_silent_snmp_card_fails_within_its_request_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DX_TEST_UPS_COMMUNITY", "public-test")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        text = json.dumps({"checks": [{"id": "u", "kind": "ups", "source": "snmp", "host": "127.0.0.1",
                                       "port": silent.getsockname()[1], "timeout": "3s",
                                       "snmp": {"version": "v2c", "community": {"env": "DX_TEST_UPS_COMMUNITY"},
                                                "request_timeout": "400ms", "request_retries": 1}}]})
        t0 = time.monotonic()
        result = run(load_text(text, "a.yml").checks[0], timeout=3.0)  # type: ignore[arg-type]
        took = time.monotonic() - t0
    assert (result.status, result.reason) == (Status.CRIT, Reason.TIMEOUT)
    assert took < 0.4 * 2 + 0.6, took   # one request's budget: the UPS-MIB GET is the first to go unanswered
    assert result.hint is not None and "SNMP" in result.hint.en


def test_snmp_source_config_errors() -> None:
    for entry, message in [
        ("{id: u, kind: ups, source: snmp, host: 10.0.0.2}", "source snmp needs an `snmp:` block"),
        ("{id: u, kind: ups, source: nut, snmp: {version: v2c, community: {env: HOME}}}", "source nut does not use `snmp:`"),
        ("{id: u, kind: ups, source: snmp, host: 10.0.0.2, snmp: {version: v3, user: a}}", "security_level authPriv needs `auth_key`"),
        ("{id: u, kind: ups, source: snmp, host: 10.0.0.2, timeout: 1s, snmp: {version: v2c, community: {env: HOME}, "
         "request_timeout: 1s}}", "must not exceed timeout"),
    ]:
        with pytest.raises(ConfigError) as err:
            load_text(f"checks:\n  - {entry}\n", "u.yml")
        assert "u.yml:2:" in str(err.value) and message in str(err.value), str(err.value)

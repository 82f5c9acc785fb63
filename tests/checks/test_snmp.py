"""The `snmp` kind: pure counter/rate/filter logic, config rules, and a real Net-SNMP agent.

Agent tests run Debian's snmpd on a loopback port (tests/snmpd.py) and compare what we read with
`snmpbulkwalk -On` run on the same agent just before and after our probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dxagent.checks import snmp
from dxagent.checks.snmp import ifmib as ifmib
from dxagent.checks.snmp import session
from dxagent.config import ConfigError, load_text
from dxagent.model import Reason, Result, Status
from dxagent.probe import ProbeContext, probe_budget
from dxagent.runner import Runner
from tests.snmpd import SnmpAgent, running_snmpd, skip_unless_snmpd, snmpd_agent  # noqa: F401 (fixture)

HC_IN = "1.3.6.1.2.1.31.1.1.1.6"
HC_OUT = "1.3.6.1.2.1.31.1.1.1.10"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
RATES = {"snmp_interface_receive_bytes_per_second", "snmp_interface_transmit_bytes_per_second",
         "snmp_interface_utilization_ratio", "snmp_interface_errors_per_second", "snmp_interface_discards_per_second"}


# ---------------------------------------------------------------- pure: counters and rates

def test_counter_delta_plain_and_wraps() -> None:
    assert ifmib.counter_delta(100, 250, 32) == 150
    assert ifmib.counter_delta(2**32 - 10, 5, 32) == 15
    assert ifmib.counter_delta(2**64 - 100, 50, 64) == 150
    # a 64-bit counter falling far is a reset, not a wrap
    assert ifmib.counter_delta(10**12, 5, 64) is None
    # with a link speed known, an implausible 32-bit "wrap" is a reset too
    assert ifmib.counter_delta(3_000_000_000, 100, 32, max_delta=1_000_000) is None
    assert ifmib.counter_delta(2**32 - 500, 100, 32, max_delta=1_000_000) == 600


def _iface(index: int = 1, name: str = "ge-0/0/0", *, admin: bool | None = True, oper: str = "up",
           speed: float | None = 1e9, bits: int = 64, **counters: int) -> ifmib.Interface:
    base = dict.fromkeys(ifmib.COUNTERS, 0)
    base.update(counters)
    widths = {k: (bits if k.endswith("octets") else 32) for k in base}
    return ifmib.Interface(index, name, name, "", admin, oper, speed, base, widths)


def test_rates_first_run_then_deltas() -> None:
    i0 = _iface(in_octets=1_000, out_octets=2_000, in_errors=3)
    assert ifmib.compute_rates(None, [i0], 100.0, False) == {}
    snap = ifmib.snapshot([i0], 100.0, 5000)
    i1 = _iface(in_octets=1_000 + 12_500_000, out_octets=2_000 + 1_250_000, in_errors=13, in_discards=20)
    r = ifmib.compute_rates(snap, [i1], 110.0, False)[1]
    assert r.receive_bps == pytest.approx(10_000_000)   # 12.5 MB in 10 s = 10 Mb/s
    assert r.transmit_bps == pytest.approx(1_000_000)
    assert r.in_errors == pytest.approx(1.0)
    assert r.in_discards == pytest.approx(2.0)
    assert r.utilization(1e9) == (pytest.approx(0.01), pytest.approx(0.001))


def test_rates_across_32_and_64_bit_wraps() -> None:
    snap32 = ifmib.snapshot([_iface(bits=32, speed=None, in_octets=2**32 - 1_000)], 0.0, 100)
    r32 = ifmib.compute_rates(snap32, [_iface(bits=32, speed=None, in_octets=1_500)], 10.0, False)[1]
    assert r32.receive_bps == pytest.approx(2_500 * 8 / 10)
    snap64 = ifmib.snapshot([_iface(out_octets=2**64 - 4_000)], 0.0, 100)
    r64 = ifmib.compute_rates(snap64, [_iface(out_octets=6_000)], 10.0, False)[1]
    assert r64.transmit_bps == pytest.approx(10_000 * 8 / 10)


def test_no_rates_after_agent_restart_or_reindex() -> None:
    snap = ifmib.snapshot([_iface(in_octets=5_000_000)], 0.0, 900_000)
    assert ifmib.uptime_restarted(900_000, 1_200, 60.0)
    assert ifmib.compute_rates(snap, [_iface(in_octets=10)], 60.0, True) == {}
    # same ifIndex, another interface: no rate rather than a nonsense one
    assert ifmib.compute_rates(snap, [_iface(name="vlan20", in_octets=6_000_000)], 60.0, False) == {}
    # a counter that fell (reset) on a known-speed link gives no rate for that counter only
    r = ifmib.compute_rates(snap, [_iface(in_octets=10, out_octets=800)], 60.0, False)[1]
    assert r.receive_bps is None and r.transmit_bps == pytest.approx(800 * 8 / 60)


def test_uptime_wrap_is_not_a_restart() -> None:
    assert not ifmib.uptime_restarted(2**32 - 3_000, 2_000, 60.0)   # 497-day TimeTicks wrap
    assert not ifmib.uptime_restarted(1_000, 7_000, 60.0)
    assert not ifmib.uptime_restarted(None, 7_000, 60.0)


def test_interfaces_from_table_prefers_hc_and_high_speed() -> None:
    table = {
        "descr": {(1,): b"GigabitEthernet0/1", (2,): b"Vlan\x0710"},
        "name": {(1,): b"Gi0/1"},
        "admin": {(1,): 1, (2,): 2}, "oper": {(1,): 1, (2,): 7},
        "in_octets64": {(1,): 2**40}, "in_octets32": {(1,): 7, (2,): 9}, "out_octets32": {(2,): 11},
        "high_speed": {(1,): 1000, (2,): 0}, "speed": {(1,): 2**32 - 1, (2,): 100_000_000},
        "in_errors": {(1,): 4},
    }
    gi, vlan = ifmib.interfaces_from_table(table)
    assert (gi.name, gi.descr, gi.counters["in_octets"], gi.widths["in_octets"]) == ("Gi0/1", "GigabitEthernet0/1", 2**40, 64)
    assert gi.speed_bps == 1e9 and gi.oper_up and gi.admin_up
    assert (vlan.name, vlan.counters["in_octets"], vlan.widths["in_octets"]) == ("Vlan 10", 9, 32)
    assert vlan.speed_bps == 100e6 and vlan.oper_status == "lowerLayerDown" and vlan.admin_up is False
    assert "out_octets" not in gi.counters and vlan.counters["out_octets"] == 11


def test_fallback_columns_only_for_rows_without_hc_counters() -> None:
    table = {"in_octets64": {(1,): 5, (2,): 7}, "out_octets64": {(1,): 5}, "high_speed": {(1,): 1000, (2,): 100},
             "descr": {(1,): b"a", (2,): b"b", (3,): b"c"}}
    assert ifmib.needs_fallback(table, [(1,), (2,), (3,)]) == [(2,), (3,)]
    assert set(ifmib.IDENTITY + ifmib.DETAIL + ifmib.FALLBACK) == set(ifmib.COLUMNS)


def test_select_filters() -> None:
    ifs = [_iface(i, n, oper=o) for i, n, o in
           [(1, "Gi0/1", "up"), (2, "Gi0/2", "down"), (3, "Gi0/10", "up"), (4, "Vlan1", "up"), (5, "lo", "up")]]
    chosen, missing, dropped = ifmib.select(ifs, include=r"Gi0/\d+", exclude=r"Gi0/1\d")
    assert [i.name for i in chosen] == ["Gi0/1", "Gi0/2"] and not missing and dropped == 0
    chosen, _, _ = ifmib.select(ifs, include=r"Gi0/1")      # whole-name match: not Gi0/10
    assert [i.name for i in chosen] == ["Gi0/1"]
    chosen, _, _ = ifmib.select(ifs, oper_up_only=True, exclude="lo")
    assert [i.name for i in chosen] == ["Gi0/1", "Gi0/10", "Vlan1"]
    chosen, missing, _ = ifmib.select(ifs, names=("Vlan1", "Gi0/1", "Te1/1"))
    assert [i.name for i in chosen] == ["Vlan1", "Gi0/1"] and missing == ["Te1/1"]
    chosen, _, dropped = ifmib.select(ifs, limit=2)
    assert len(chosen) == 2 and dropped == 3


def test_judge() -> None:
    th = snmp.Thresholds(errors={"warn": 1.0}, discards={"crit": 50})
    assert snmp.judge(_iface(admin=False, oper="down"), None, th)[0] == Status.OK
    assert snmp.judge(_iface(oper="down"), None, th)[:2] == (Status.CRIT, Reason.DOWN)
    assert snmp.judge(_iface(oper="down"), None, snmp.Thresholds(oper_down="warn"))[0] == Status.WARN
    assert snmp.judge(_iface(oper="dormant"), None, th)[0] == Status.WARN
    busy = ifmib.Rates(receive_bps=0.9e9, transmit_bps=0.1e9, in_errors=0.0, out_errors=0.0)
    assert snmp.judge(_iface(), busy, th) == (Status.WARN, Reason.THRESHOLD, ["utilization"])
    full = ifmib.Rates(receive_bps=0.1e9, transmit_bps=0.99e9)
    assert snmp.judge(_iface(), full, th)[0] == Status.CRIT
    errs = ifmib.Rates(receive_bps=1e6, transmit_bps=1e6, in_errors=0.0, out_errors=2.5, in_discards=60.0)
    assert snmp.judge(_iface(), errs, th) == (Status.CRIT, Reason.THRESHOLD, ["errors", "discards"])
    assert snmp.judge(_iface(speed=None), busy, th)[0] == Status.OK   # no speed, no utilization
    at_warn = ifmib.Rates(receive_bps=0.8e9, transmit_bps=0.1e9, in_errors=1.0, out_errors=0.0)
    assert snmp.judge(_iface(), at_warn, th) == (Status.OK, None, [])   # exactly at a limit is OK


def test_thresholds_nested_shape_and_defaults() -> None:
    th = _load("    version: v2c\n    community: abc\n    thresholds: {utilization: {warn: 70%}, errors: {crit: 5}}\n").thresholds
    assert (th.utilization.warn, th.utilization.crit) == (0.7, 0.95)   # a limit left out keeps its default
    assert (th.errors.warn, th.errors.crit) == (1.0, 5.0) and th.oper_down == "crit"


# ---------------------------------------------------------------- config rules

def _load(body: str) -> snmp.Config:
    cfg = load_text("checks:\n  - id: sw\n    kind: snmp\n    host: 127.0.0.1\n" + body).checks[0]
    assert isinstance(cfg, snmp.Config)
    return cfg


@pytest.mark.parametrize("body, message", [
    ("    version: v2c\n", "version v2c needs `community`"),
    ("    version: v2c\n    community: abc\n    user: u\n", "remove user"),
    ("    version: v3\n    community: abc\n", "does not use `community`"),
    ("    version: v3\n    user: u\n    auth_key: abcdefgh\n", "authPriv needs `priv_key`"),
    ("    version: v3\n    user: u\n    security_level: noAuthNoPriv\n    auth_key: abcdefgh\n", "does not use `auth_key`"),
    ("    version: v3\n    user: u\n    security_level: authNoPriv\n    auth_key: s3cr3t\n", "at least 8 characters"),
    ("    version: v3\n    user: u\n    auth_key: abcdefgh\n    priv_key: abcdefgh\n    priv_protocol: AES512\n",
     "priv_protocol"),
    ("    version: v2c\n    community: abc\n    include: 'Gi(0'\n", "invalid regular expression"),
    ("    version: v2c\n    community: abc\n    request_timeout: 3s\n    request_retries: 3\n    timeout: 10s\n",
     "request_timeout × (request_retries + 1)"),
    ("    version: v2c\n    community: abc\n    thresholds: {utilization: {warn: 90%, crit: 50%}}\n",
     "checks[0].thresholds.utilization: warn must not be above crit"),
    ("    version: v2c\n    community: abc\n    thresholds: {utilization_warn: 0.9}\n",
     "`utilization_warn` is now `utilization: {warn: …}`"),
])
def test_config_errors_name_the_line_and_field(body: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(body)
    text = str(err.value)
    assert message in text and "<string>:" in text and "checks[0]" in text
    assert "s3cr3t" not in text


def test_config_defaults_fail_fast_and_target_label() -> None:
    cfg = _load("    version: v2c\n    community: {env: PATH}\n")
    assert cfg.request_timeout * (cfg.request_retries + 1) <= 3.0   # a silent agent fails in < 3 s
    assert cfg.target_label() == "127.0.0.1" and "PATH" not in repr(cfg.credentials())
    assert snmp.Config(id="x", version="v2c", community="c", host="::1", port=1161).target_label() == "[::1]:1161"


def test_example_validates_and_pysnmp_is_not_imported_by_the_module() -> None:
    load_text("checks:\n" + snmp.EXAMPLE)
    code = "import sys, dxagent.checks.snmp, dxagent.checks.snmp.session; print('pysnmp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


# ---------------------------------------------------------------- against a real snmpd

def _cfg(agent: SnmpAgent, version: str = "v2c", **extra: object) -> snmp.Config:
    fields: dict[str, object] = {"id": "sw", "host": agent.host, "port": agent.port, "version": version}
    if version == "v2c":
        fields["community"] = agent.community
    else:
        fields.update(user=agent.user, auth_key=agent.auth_key, priv_key=agent.priv_key)
    fields.update(extra)
    return snmp.Config.model_validate(fields)


def _run(cfg: snmp.Config, state: dict[str, object] | None = None) -> list[Result]:
    ctx = ProbeContext(cfg.id, "snmp", state={} if state is None else state, timeout=probe_budget(cfg.timeout))
    return asyncio.run(snmp.probe(cfg, ctx))


def _walk(agent: SnmpAgent, oid: str) -> dict[int, str]:
    out = subprocess.run(["snmpbulkwalk", "-On", "-m", "", "-Oq", *agent.net_snmp_args("v2c"),
                          agent.target(), oid], capture_output=True, text=True, timeout=30, check=True).stdout
    rows = {}
    for line in out.splitlines():
        name, _, value = line.partition(" ")
        rows[int(name.rsplit(".", 1)[1])] = value.strip().strip('"')
    return rows


def _samples(r: Result) -> dict[str, float]:
    return {s.name + json.dumps(dict(s.labels), sort_keys=True): s.value for s in r.samples}


@pytest.fixture(scope="module")
def agent(snmpd_agent: SnmpAgent) -> SnmpAgent:  # noqa: F811 (the imported fixture)
    if not shutil.which("snmpbulkwalk"):
        pytest.skip("needs Net-SNMP's snmpbulkwalk (apt-get install snmp)")
    return snmpd_agent


def test_v2c_counters_match_snmpbulkwalk(agent: SnmpAgent) -> None:
    before_in, before_out = _walk(agent, HC_IN), _walk(agent, HC_OUT)
    results = _run(_cfg(agent, max_interfaces=1024))
    after_in, after_out, names = _walk(agent, HC_IN), _walk(agent, HC_OUT), _walk(agent, IF_NAME)
    device, *ifaces = results
    assert device.status == Status.OK and device.target == f"127.0.0.1:{agent.port}"
    assert _samples(device)["snmp_up{}"] == 1.0 and device.details["uptime_seconds"] > 0
    assert device.details["sys_object_id"].startswith("1.3.6.1.4.1.8072")   # Net-SNMP's enterprise
    assert device.details["interfaces_total"] == len(names) == len(ifaces)
    by_name = {r.details["name"]: r for r in ifaces}
    for index, name in names.items():
        r = by_name[name]
        assert r.target == f"127.0.0.1:{agent.port}/{name}" and r.details["index"] == index
        got = _samples(r)
        label = json.dumps({"interface": name})
        # counters only grow: ours must lie between the two walks around our probe
        assert int(before_in[index]) <= got["snmp_interface_receive_bytes_total" + label] <= int(after_in[index])
        assert int(before_out[index]) <= got["snmp_interface_transmit_bytes_total" + label] <= int(after_out[index])
    assert "lo" in by_name and by_name["lo"].status == Status.OK


def test_v3_authpriv_two_runs_give_rates(agent: SnmpAgent) -> None:
    cfg = _cfg(agent, "v3", interfaces=("lo",))
    state: dict[str, object] = {}
    first = _run(cfg, state)
    assert [r.status for r in first] == [Status.OK, Status.OK]
    assert not any(s.name in RATES for s in first[1].samples)
    assert "next run" in first[1].summary.en
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x" * 1000, ("127.0.0.1", agent.port))
    time.sleep(0.2)
    second = _run(cfg, state)
    got = _samples(second[1])
    lo = json.dumps({"interface": "lo"})
    assert "snmp_interface_receive_bytes_per_second" + lo in got and got["snmp_interface_receive_bytes_per_second" + lo] >= 0
    assert "snmp_interface_errors_per_second" + json.dumps({"direction": "receive", "interface": "lo"}) in got
    assert second[0].details["rates"] == "ok"
    assert agent.auth_key not in json.dumps([r.to_dict() for r in first + second])


def test_wrong_community_times_out_honestly(agent: SnmpAgent) -> None:
    cfg = _cfg(agent, community="not-the-community", request_timeout="300ms", request_retries=1)
    t0 = time.monotonic()
    [r] = _run(cfg)
    assert time.monotonic() - t0 < 0.3 * 2 + 1.0
    assert (r.status, r.reason) == (Status.CRIT, Reason.TIMEOUT)
    assert "wrong community" in r.summary.en and "sai community" in r.summary.vi
    assert _samples(r)["snmp_up{}"] == 0.0
    assert "not-the-community" not in json.dumps(r.to_dict()) + json.dumps(r.to_dict("vi"))


@pytest.mark.parametrize("change, words", [
    ({"auth_key": "wrong-auth-key"}, "digest"),
    ({"user": "nobody"}, "unknown user"),
])
def test_wrong_v3_credentials_are_auth_failures(agent: SnmpAgent, change: dict[str, str], words: str) -> None:
    [r] = _run(_cfg(agent, "v3", **change))
    assert (r.status, r.reason) == (Status.CRIT, Reason.AUTH)
    assert words in r.summary.en and r.hint is not None
    assert "wrong-auth-key" not in json.dumps(r.to_dict()) and agent.priv_key not in json.dumps(r.to_dict())


def test_wrong_priv_key_is_a_silent_timeout_said_so(agent: SnmpAgent) -> None:
    [r] = _run(_cfg(agent, "v3", priv_key="wrong-priv-key", request_timeout="300ms"))
    assert (r.status, r.reason) == (Status.CRIT, Reason.TIMEOUT)
    assert "privacy key" in r.summary.en and "wrong-priv-key" not in json.dumps(r.to_dict())


def test_lower_security_level_than_configured_is_permission(agent: SnmpAgent) -> None:
    [r] = _run(_cfg(agent, "v3", security_level="authNoPriv", priv_key=None))
    assert (r.status, r.reason) == (Status.CRIT, Reason.PERMISSION)
    assert "authorizationError" in r.summary.en


def test_missing_named_interface_is_critical(agent: SnmpAgent) -> None:
    device, lo, missing = _run(_cfg(agent, interfaces=("lo", "ge-9/9/9")))
    assert device.status == Status.OK and lo.details["name"] == "lo"
    assert (missing.status, missing.reason, missing.target) == (Status.CRIT, Reason.CONFIG, f"127.0.0.1:{agent.port}/ge-9/9/9")
    assert "lo" in missing.details["known"]


@pytest.mark.parametrize("version", ["v2c", "v3"])
def test_silent_agent_fails_within_request_budget(version: str) -> None:
    """A UDP socket that never answers: CRIT timeout within request_timeout × (request_retries + 1).

    The engine is built first, as in the daemon where it exists from the first probe on; the
    bound is on the probe (v3 included, whose engine discovery is the request that goes unanswered).
    """
    fields: dict[str, object] = ({"community": "x"} if version == "v2c" else
                                 {"user": "u", "auth_key": "silent-auth", "priv_key": "silent-priv"})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        cfg = snmp.Config(id="mute", host="127.0.0.1", port=port, version=version, request_timeout=0.4,
                          request_retries=2, **fields)  # type: ignore[arg-type]

        async def run() -> tuple[list[Result], float]:
            session.engine()
            t0 = time.monotonic()
            results = await snmp.probe(cfg, ProbeContext("mute", "snmp", timeout=probe_budget(cfg.timeout)))
            return results, time.monotonic() - t0

        [r], elapsed = asyncio.run(run())
        sent = 0
        silent.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while silent.recv(4096):
                sent += 1
    assert (r.status, r.reason) == (Status.CRIT, Reason.TIMEOUT)
    assert "no answer from the SNMP agent in 1.2 s" in r.summary.en
    assert sent == 3                                  # the request and its 2 retries arrived, unanswered
    assert 0.4 * 3 - 0.1 <= elapsed <= 0.4 * 3 + 0.25, elapsed   # the bound, plus scheduling on a busy machine


def test_unresolvable_host_is_dns() -> None:
    [r] = _run(snmp.Config(id="x", host="no-such-host.invalid", version="v2c", community="x"))
    assert (r.status, r.reason) == (Status.CRIT, Reason.DNS)


@pytest.fixture
def own_agent(tmp_path: Path) -> Iterator[SnmpAgent]:
    skip_unless_snmpd()
    with running_snmpd(tmp_path / "a") as a:
        yield a


def test_agent_restart_is_detected_and_skips_rates(own_agent: SnmpAgent, tmp_path: Path) -> None:
    cfg = _cfg(own_agent, interfaces=("lo",))
    state: dict[str, object] = {}
    _run(cfg, state)
    time.sleep(1.2)   # sysUpTime counts in centiseconds: let the first agent age
    assert _run(cfg, state)[0].details["uptime_seconds"] >= 1.0
    own_agent.stop()
    with running_snmpd(tmp_path / "b", port=own_agent.port):
        device, lo = _run(cfg, state)
    assert (device.status, device.reason) == (Status.WARN, Reason.DOWN)
    assert device.details["restarted"] and device.details["previous_uptime_seconds"] >= 1.0
    assert "restarted" in device.summary.en and "khởi động lại" in device.summary.vi
    assert not any(s.name in RATES for s in lo.samples)


def test_through_the_runner_from_yaml(agent: SnmpAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DX_TEST_SNMP_AUTH", agent.auth_key)
    monkeypatch.setenv("DX_TEST_SNMP_PRIV", agent.priv_key)
    cfg = load_text(f"""checks:
  - id: router
    kind: snmp
    host: 127.0.0.1
    port: {agent.port}
    version: v3
    user: {agent.user}
    auth_key: {{env: DX_TEST_SNMP_AUTH}}
    priv_key: {{env: DX_TEST_SNMP_PRIV}}
    include: "lo"
""")
    results = asyncio.run(Runner().run_all(cfg.checks))
    assert [(r.status, r.target) for r in results] == [(Status.OK, f"127.0.0.1:{agent.port}"),
                                                       (Status.OK, f"127.0.0.1:{agent.port}/lo")]
    assert all(set(s.name for s in r.samples) <= set(snmp.METRICS) for r in results)


# ---------------------------------------------------------------- hints name what the check used

def test_v2c_silence_hint_names_host_port_and_where_the_community_comes_from(
        agent: SnmpAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DX_TEST_WRONG_COMMUNITY", "not-the-community")
    cfg = load_text(f"""checks:
  - id: sw
    kind: snmp
    host: 127.0.0.1
    port: {agent.port}
    version: v2c
    community: {{env: DX_TEST_WRONG_COMMUNITY}}
    request_timeout: 200ms
    request_retries: 0
""").checks[0]
    [r] = _run(cfg)  # type: ignore[arg-type]
    assert r.reason == Reason.TIMEOUT and r.hint is not None
    for text in (r.hint.en, r.hint.vi):
        assert "env DX_TEST_WRONG_COMMUNITY" in text and "ping 127.0.0.1" in text
    assert f"UDP port {agent.port} to 127.0.0.1" in r.hint.en and f"cổng UDP {agent.port} tới 127.0.0.1" in r.hint.vi
    assert "not-the-community" not in json.dumps(r.to_dict()) + json.dumps(r.to_dict("vi"))


@pytest.mark.parametrize("change, words", [
    ({"user": "nobody"}, ["`nobody`", "user"]),
    ({"auth_key": "wrong-auth-key"}, ["`dxtest`", "auth_protocol (SHA)"]),
])
def test_v3_auth_hints_name_the_user_and_protocol(agent: SnmpAgent, change: dict[str, str], words: list[str]) -> None:
    [r] = _run(_cfg(agent, "v3", **change))
    assert r.reason == Reason.AUTH and r.hint is not None
    assert all(w in r.hint.en for w in words) and words[0] in r.hint.vi
    assert "wrong-auth-key" not in json.dumps(r.to_dict()) + json.dumps(r.to_dict("vi"))


def test_interface_hints_name_the_port_the_value_and_the_limit() -> None:
    from dxagent.checks.snmp.results import interface_result

    th = snmp.Thresholds(utilization={"warn": "80%", "crit": "95%"}, errors={"warn": 1.0})
    ctx = ProbeContext("sw", "snmp")
    busy = ifmib.Rates(receive_bps=0.9e9, transmit_bps=0.1e9, in_errors=0.0, out_errors=0.0)
    status, reason, problems = snmp.judge(_iface(name="Gi0/1"), busy, th)
    r = interface_result(ctx, "sw", _iface(name="Gi0/1"), busy, status, reason, problems, th)
    assert r.hint is not None and "Gi0/1 carries 90% of its 1.0 Gb/s (limit 80%)" in r.hint.en
    assert "Gi0/1" in r.hint.vi and "90%" in r.hint.vi and "80%" in r.hint.vi
    noisy = ifmib.Rates(receive_bps=1e6, transmit_bps=1e6, in_errors=0.0, out_errors=2.5)
    status, reason, problems = snmp.judge(_iface(name="Gi0/2"), noisy, th)
    r = interface_result(ctx, "sw", _iface(name="Gi0/2"), noisy, status, reason, problems, th)
    assert r.hint is not None and "Gi0/2: 2.50 errors/s (limit 1/s)" in r.hint.en and "2.50 lỗi/giây" in r.hint.vi
    status, reason, problems = snmp.judge(_iface(name="Gi0/3", oper="down"), None, th)
    r = interface_result(ctx, "sw", _iface(name="Gi0/3", oper="down"), None, status, reason, problems, th)
    assert r.hint is not None and "Port Gi0/3" in r.hint.en and "Cổng Gi0/3" in r.hint.vi

"""Acceptance (issue 18): the uplink goes down 30 s after the UPS went on battery; the report says "power".

A real `dxagent run` watches a dummy UPS through NUT's upsd and a "DC" host in a namespace over a
veth. The test moves the UPS to battery, cuts the link 30 s later by dropping the DC host's
traffic with nftables, restores both, and reads the site report: one power event, one link
outage, marked as caused by power. A link cut with the UPS on mains is not.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import netns
from tests.nut import NutServer, running_upsd
from tests.promtools import dxagent_run

pytestmark = pytest.mark.slow

INTERVAL, TIMEOUT = 2.0, 1.0
PORT = 8443
@pytest.fixture
def lab() -> Iterator[netns.NetLab]:
    netns.skip_unless_available()
    with netns.NetLab() as lab:
        yield lab


@pytest.fixture
def nut(tmp_path: Path) -> Iterator[NutServer]:
    with running_upsd(tmp_path) as server:
        yield server


def _cut(lab: netns.NetLab, dc: netns.Host, seconds: float) -> tuple[float, float]:
    lab.cut(dc)
    cut_at = time.time()
    time.sleep(seconds)
    lab.restore(dc)
    return cut_at, time.time()


def test_uplink_cut_30s_after_the_ups_went_on_battery_is_marked_power(lab: netns.NetLab, nut: NutServer,
                                                                      tmp_path: Path) -> None:
    dc = lab.lan().add_host()
    server = lab.tcp_listener(dc, PORT)
    state = tmp_path / "state"
    cfg = tmp_path / "dxagent.yml"
    cfg.write_text(f"""\
site: {{id: t-power, name: "Xã Mất Điện", province: test, level: commune}}
state_dir: {state}
checks:
  - {{id: ups, kind: ups, host: 127.0.0.1, port: {nut.port}, ups: {nut.ups}, interval: {INTERVAL:g}s, timeout: {TIMEOUT:g}s}}
  - {{id: dc-tcp, kind: tcp, host: "{dc.v4}", port: {PORT}, interval: {INTERVAL:g}s, timeout: {TIMEOUT:g}s, groups: [tslcd]}}
""", encoding="utf-8")
    try:
        with dxagent_run(cfg) as agent:
            time.sleep(4 * INTERVAL)
            first_cut = _cut(lab, dc, 10)              # a cut on mains: not power
            time.sleep(4 * INTERVAL)
            nut.set_state("OB DISCHRG", battery__charge=80, battery__runtime=1200, input__voltage=0)
            on_battery_at = time.time()
            time.sleep(30)
            power_cut = _cut(lab, dc, 15)               # the uplink goes 30 s after the mains
            time.sleep(2 * INTERVAL)
            nut.set_state("OL CHRG", battery__charge=85)
            mains_back_at = time.time()
            time.sleep(4 * INTERVAL)
            assert agent.stop() == 0
    finally:
        server.kill()
        server.wait(5)

    since, until = first_cut[0] - 30, time.time()
    done = subprocess.run([sys.executable, "-m", "dxagent", "report", "-c", str(cfg), "--history", str(state / "history.sqlite"),
                           "--until", repr(until), "--period", f"{round(until - since)}s", "--format", "json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    tolerance = INTERVAL + TIMEOUT + 1.0   # plus the dummy driver's 1 s poll

    (power,) = doc["power_events"]
    assert power["check"] == "ups" and power["worst"] == "WARN"
    assert abs(power["start"] - on_battery_at) <= tolerance, power["start"] - on_battery_at
    assert power["end"] is not None and abs(power["end"] - mains_back_at) <= tolerance, power["end"] - mains_back_at

    mains, during_power = doc["outages"]
    assert abs(mains["start"] - first_cut[0]) <= tolerance and mains["cause"] is None
    assert abs(during_power["start"] - power_cut[0]) <= tolerance, during_power["start"] - power_cut[0]
    assert during_power["cause"] == "power" and during_power["link"] == dc.v4
    assert doc["outage_summary"]["power"] == 1

    for lang, word in (("vi", "mất điện"), ("en", "power failure")):
        html = subprocess.run([sys.executable, "-m", "dxagent", "report", "-c", str(cfg), "--history",
                               str(state / "history.sqlite"), "--until", repr(until), "--period",
                               f"{round(until - since)}s", "--format", "html", "--lang", lang],
                              capture_output=True, text=True, timeout=60)
        assert html.returncode == 0 and word in html.stdout and 'id="power"' in html.stdout

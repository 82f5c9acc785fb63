"""Acceptance (issue 16): a 90 s cut of the link to a "DC" host, seen by a real `dxagent run`.

A namespace plays the provincial data centre (ping + a TCP service) behind a veth; the daemon
checks it every 5 s (timeout 2 s). The link is cut by dropping every packet arriving at the DC
host with nftables (not `ip link set down`, which would send the traffic out of the default
route), then restored 90 s later. The history's outages, the report's availability for a 180 s
window around the cut and the report's outage list must match the truth within one interval
(+ timeout): the precision the schedule allows, no more.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dxagent.history import History
from dxagent.history.outages import outages
from tests import netns
from tests.promtools import dxagent_run

pytestmark = pytest.mark.slow

INTERVAL, TIMEOUT, CUT = 5.0, 2.0, 90.0
BEFORE, AFTER = 45.0, 45.0  # the report window: 45 s before the cut, the cut, 45 s after
TOLERANCE = INTERVAL + TIMEOUT
PORT = 8443

@pytest.fixture
def lab() -> Iterator[netns.NetLab]:
    netns.skip_unless_available()
    with netns.NetLab() as lab:
        yield lab


def _config(path: Path, state: Path, dc: str) -> Path:
    path.write_text(f"""\
site: {{id: t-outage, name: "Xã Thử Cắt", province: test, level: commune}}
state_dir: {state}
checks:
  - {{id: dc-ping, kind: ping, targets: ["{dc}"], count: 3, packet_interval: 200ms, packet_timeout: 1s,
     interval: {INTERVAL:g}s, timeout: {TIMEOUT:g}s, groups: [tslcd]}}
  - {{id: dc-tcp, kind: tcp, host: "{dc}", port: {PORT}, interval: {INTERVAL:g}s, timeout: {TIMEOUT:g}s,
     groups: [tslcd]}}
""", encoding="utf-8")
    return path


def _report(cfg: Path, history: Path, until: float, period: str) -> dict:  # type: ignore[type-arg]
    done = subprocess.run([sys.executable, "-m", "dxagent", "report", "-c", str(cfg), "--history", str(history),
                           "--until", repr(until), "--period", period, "--format", "json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_90s_cut_is_one_outage_of_the_right_length(lab: netns.NetLab, tmp_path: Path) -> None:
    lan = lab.lan()
    dc = lan.add_host()
    server = lab.tcp_listener(dc, PORT)
    try:
        state = tmp_path / "state"
        cfg = _config(tmp_path / "dxagent.yml", state, dc.v4)
        with dxagent_run(cfg) as agent:
            time.sleep(BEFORE + 2 * INTERVAL)  # a full window of OK before the cut
            lab.cut(dc)
            cut_at = time.time()
            time.sleep(CUT)
            lab.restore(dc)
            restored_at = time.time()
            time.sleep(AFTER + 2 * INTERVAL)  # the window's end and the run after it are recorded
            assert agent.stop() == 0
    finally:
        server.kill()
        server.wait(5)

    since, until = cut_at - BEFORE, restored_at + AFTER
    history = state / "history.sqlite"
    h = History.open(history)
    try:
        for check in ("dc-ping", "dc-tcp"):
            found = outages(h, since, until, [check])
            assert len(found) == 1, (check, found)
            o = found[0]
            assert o.target.startswith(dc.v4)
            assert abs(o.start - cut_at) <= TOLERANCE, (check, o.start - cut_at)
            assert o.end is not None and abs(o.end - restored_at) <= TOLERANCE, (check, o.end - restored_at)
            assert o.reason == {"dc-ping": "down", "dc-tcp": "timeout"}[check]  # no reply / no SYN-ACK
    finally:
        h.close()

    doc = _report(cfg, history, until, f"{round(until - since)}s")
    window = until - since
    truth = 1 - (restored_at - cut_at) / window
    (net01,) = next(t for t in doc["targets"] if t["id"] == "NET-01")["criteria"]
    assert net01["window_seconds"] == pytest.approx(window, abs=1)  # the period shortened the 30-day window
    keys = net01["evidence"]["checks"]
    assert {k["check"] for k in keys} == {"dc-ping", "dc-tcp"}
    for k in keys:
        assert k["value"] is not None, k
        assert abs(k["value"] - truth) <= INTERVAL / window, (k["check"], k["value"], truth, k["seconds"])
        assert k["seconds"]["nodata"] <= 1.0, k  # every result is credited for its interval

    events = doc["outages"]
    assert len(events) == 1, events
    (event,) = events
    assert event["link"] == dc.v4
    assert {c["check"] for c in event["checks"]} == {"dc-ping", "dc-tcp"}
    assert abs(event["seconds"] - CUT) <= TOLERANCE, event
    assert event["ongoing"] is False and event["cause"] is None
    assert doc["outage_summary"]["count"] == 1
    print(f"cut {restored_at - cut_at:.1f}s; event {event['seconds']:.1f}s from {event['start'] - cut_at:+.1f}s "
          f"to {event['end'] - restored_at:+.1f}s; availability {[k['value'] for k in keys]} vs truth {truth:.4f}")

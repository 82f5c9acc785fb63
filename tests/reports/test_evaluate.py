"""Golden tests of the plan02 evaluation over hand-built histories in a real History file.

The numbers are worked out by hand in each test's docstring: results every 600 s; a result covers
[ts, next ts) while the agent is alive, and the agent's liveness ends at its last result, so the
last step of every alive span contributes no measured time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dxagent.model import Status
from dxagent.reports.data import CheckInfo, SnapshotData, StoreData
from dxagent.reports.evaluate import MET, NOT_MET, UNKNOWN, evaluate, percentile
from dxagent.reports.profile import load_profile
from dxagent.reports.site import document
from tests.reports.histories import DAY, INTERVAL, T0, Site, no_samples, ok, result

PLAN = load_profile("plan02")
UNTIL = T0 + 30 * DAY


def target(ev, tid):  # type: ignore[no-untyped-def]
    return next(tr for tr in ev.targets if tr.target.id == tid)


def crit_between(lo: int, hi: int):  # type: ignore[no-untyped-def]
    """CRIT for steps lo <= i < hi (step i at T0 + i*600)."""
    return lambda ts: Status.CRIT if lo <= round((ts - T0) / INTERVAL) < hi else Status.OK


def dc_site(tmp_path: Path, status, alive=lambda ts: True) -> Site:  # type: ignore[no-untyped-def]
    site = Site(tmp_path)
    site.steps(T0, UNTIL, [("dc-ping", "ping", "10.20.0.1", status, no_samples)], alive=alive,
               groups={"dc-ping": ("tslcd",)})
    return site


def net01(site: Site):  # type: ignore[no-untyped-def]
    data = StoreData(site.history, list(site.checks.values()), staff=None)
    ev = evaluate(PLAN, data, UNTIL)
    return ev, target(ev, "NET-01").criteria[0]


def test_outage_inside_the_window_fails_net01(tmp_path: Path) -> None:
    """4 h down (24 steps) of 4,319 measured steps: 1 - 14,400/2,591,400 = 0.99444 < 0.995."""
    site = dc_site(tmp_path, crit_between(1000, 1024))
    ev, c = net01(site)
    assert c.value == pytest.approx(1 - 14_400 / 2_591_400, abs=1e-9)
    assert c.outcome == NOT_MET and target(ev, "NET-01").outcome == NOT_MET
    secs = c.keys[0].seconds
    assert secs is not None and secs["CRIT"] == pytest.approx(14_400) and secs["OK"] == pytest.approx(2_577_000)
    site.close()


def test_shorter_outage_meets_net01(tmp_path: Path) -> None:
    """3.5 h down (21 steps): 1 - 12,600/2,591,400 = 0.995138 ≥ 0.995."""
    site = dc_site(tmp_path, crit_between(1000, 1021))
    _, c = net01(site)
    assert c.value == pytest.approx(1 - 12_600 / 2_591_400, abs=1e-9)
    assert c.outcome == MET
    site.close()


@pytest.mark.parametrize(("offset", "outcome"), [(243, MET), (242, NOT_MET)])
def test_availability_exactly_at_the_threshold_is_met(tmp_path: Path, offset: int, outcome: str) -> None:
    """21 CRIT steps + one extra CRIT result `offset` s into an OK step: down = 12,600 + (600 - offset).

    offset 243 → down 12,957 → 2,578,443 / 2,591,400 = 0.995 exactly (met: ≥); offset 242 → one second more.
    """
    site = dc_site(tmp_path, crit_between(1000, 1021))
    site.history.record([result("dc-ping", "ping", "10.20.0.1", T0 + 2000 * INTERVAL + offset, Status.CRIT)],
                        {"dc-ping": INTERVAL})
    _, c = net01(site)
    assert c.keys[0].seconds is not None
    assert c.keys[0].seconds["CRIT"] == pytest.approx(12_600 + 600 - offset)
    assert c.outcome == outcome
    site.close()


def test_agent_down_is_a_gap_not_an_outage(tmp_path: Path) -> None:
    """Agent stopped on days 10–15 and the link was down 2 h (12 steps) while it ran.

    Alive spans: 1,440 steps then 2,160 steps, each losing its last step → 3,598 × 600 = 2,158,800 s measured,
    availability 1 - 7,200/2,158,800 = 0.99666 (met). Counting the 5 days as down would give 0.83.
    """
    down = (T0 + 10 * DAY, T0 + 15 * DAY)
    site = dc_site(tmp_path, crit_between(3000, 3012), alive=lambda ts: not down[0] <= ts < down[1])
    ev, c = net01(site)
    assert c.value == pytest.approx(1 - 7_200 / 2_158_800, abs=1e-9)
    assert c.outcome == MET
    secs = c.keys[0].seconds
    assert secs is not None and secs["nodata"] == pytest.approx(30 * DAY - 2_158_800)
    assert ev.alive_seconds == pytest.approx(2_158_800)
    doc = document(ev, {"id": "x"})
    assert doc["agent_alive_seconds"] == pytest.approx(2_158_800)
    site.close()


def test_too_little_history_is_unknown_not_met(tmp_path: Path) -> None:
    """The agent ran only the last 10 days: 33 % of the 30-day window < min_coverage 50 % → unknown."""
    site = dc_site(tmp_path, ok, alive=lambda ts: ts >= T0 + 20 * DAY)
    ev, c = net01(site)
    assert c.outcome == UNKNOWN and c.value is None
    assert c.why is not None and "33" in c.why.en and "need 50%" in c.why.en and "dữ liệu" in c.why.vi
    assert target(ev, "NET-01").outcome == UNKNOWN
    site.close()


@pytest.mark.parametrize(("slow", "outcome", "p95"), [(50, MET, 0.05), (51, NOT_MET, 0.2)])
def test_p95_rtt_boundary(tmp_path: Path, slow: int, outcome: str, p95: float) -> None:
    """NET-04 over 7 days = 1,008 steps; nearest-rank p95 is the 958th value.

    `slow` steps at 200 ms, one at exactly 50 ms, the rest 10 ms: with 50 slow the 958th is 50 ms (met,
    ≤ is inclusive); with 51 slow it is 200 ms.
    """
    start = UNTIL - 7 * DAY

    def rtt(ts: float) -> dict[str, float]:
        j = round((ts - start) / INTERVAL)
        value = 0.2 if j < slow else 0.05 if j == slow else 0.01
        return {'ping_rtt_seconds{stat="avg"}': value, "ping_loss_ratio": 0.0, "ping_jitter_seconds": 0.002}

    site = Site(tmp_path)
    site.steps(start, UNTIL, [("dc-ping", "ping", "10.20.0.1", ok, rtt)], groups={"dc-ping": ("tslcd",)})
    ev = evaluate(PLAN, StoreData(site.history, list(site.checks.values()), None), UNTIL)
    c = target(ev, "NET-04").criteria[0]
    assert c.value == pytest.approx(p95) and c.outcome == outcome
    assert len(c.keys[0].series or []) > 10  # the latency trend for the chart
    assert target(ev, "NET-04").criteria[1].outcome == MET  # loss 0
    site.close()


def test_percentile_is_nearest_rank() -> None:
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95) == 10
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90) == 9
    assert percentile([7], 95) == 7


def snap(*results, staff=None):  # type: ignore[no-untyped-def]
    return {"generated_at": UNTIL, "site": {"id": "s", "staff": staff},
            "results": [r.to_dict() for r in results]}


def test_missing_checks_are_unknown_and_score_counts_them_as_not_met() -> None:
    data = SnapshotData(snap(result("tls-a", "tls", "a:443", UNTIL, Status.OK,
                                    {"tls_chain_earliest_not_after_timestamp_seconds": UNTIL + 200 * 86400, "tls_verified": 1}),
                             result("portal-dvc", "http", "https://dichvucong.gov.vn/", UNTIL, Status.OK)),
                        checks=[CheckInfo("tls-a", "tls"), CheckInfo("tls-b", "tls")])
    ev = evaluate(PLAN, data, UNTIL)
    tls = target(ev, "TLS-01")
    assert tls.outcome == UNKNOWN  # tls-b has no data: a known good value must not hide it
    assert "1 of 2" in (tls.criteria[1].why.en if tls.criteria[1].why else "")
    assert target(ev, "NET-01").outcome == UNKNOWN
    assert target(ev, "NET-01").criteria[0].why is not None
    assert "no configured check" in target(ev, "NET-01").criteria[0].why.en
    assert ev.score == 0.0 and ev.known_weight == 0.0
    assert "snapshot" in (target(ev, "SVC-01").criteria[0].why.en if target(ev, "SVC-01").criteria[0].why else "")


def test_a_known_failure_is_not_met_even_when_others_lack_data() -> None:
    data = SnapshotData(snap(result("tls-a", "tls", "a:443", UNTIL, Status.CRIT,
                                    {"tls_chain_earliest_not_after_timestamp_seconds": UNTIL + 3 * 86400, "tls_verified": 1})),
                        checks=[CheckInfo("tls-a", "tls"), CheckInfo("tls-b", "tls")])
    tls = target(evaluate(PLAN, data, UNTIL), "TLS-01")
    assert tls.outcome == NOT_MET and tls.criteria[1].value == 3


@pytest.mark.parametrize(("days", "outcome", "at_risk"), [(7, MET, True), (6.99, NOT_MET, False),
                                                           (30, MET, False), (29.5, MET, True)])
def test_days_left_boundaries(days: float, outcome: str, at_risk: bool) -> None:
    data = SnapshotData(snap(result("tls-a", "tls", "a:443", UNTIL, Status.OK,
                                    {"tls_chain_earliest_not_after_timestamp_seconds": UNTIL + days * 86400, "tls_verified": 1})))
    tls = target(evaluate(PLAN, data, UNTIL), "TLS-01")
    assert (tls.outcome, tls.at_risk) == (outcome, at_risk)


def test_signing_certificates_per_staff() -> None:
    """SIG-01: valid certificates ÷ staff. A 'no file matched' result carries no days sample: it is not
    counted as a certificate, and it leaves the days-left criterion without data (unknown), honestly."""
    certs = [result(f"sig{i}", "certfile", f"/srv/chungthu/{i}.p12", UNTIL, Status.OK, {"certfile_not_after_timestamp_seconds": UNTIL + 300 * 86400})
             for i in range(3)]
    for staff, outcome in ((3, MET), (4, NOT_MET)):
        sig = target(evaluate(PLAN, SnapshotData(snap(*certs, staff=staff)), UNTIL), "SIG-01")
        assert sig.criteria[0].value == pytest.approx(3 / staff)
        assert sig.outcome == outcome
    nomatch = result("sig-empty", "certfile", "/srv/empty/*.p12", UNTIL, Status.WARN)
    sig = target(evaluate(PLAN, SnapshotData(snap(*certs, nomatch, staff=3)), UNTIL), "SIG-01")
    assert sig.criteria[0].value == pytest.approx(1.0) and sig.criteria[1].outcome == UNKNOWN
    sig = target(evaluate(PLAN, SnapshotData(snap(*certs)), UNTIL), "SIG-01")
    assert sig.outcome == UNKNOWN and sig.criteria[0].why is not None and "site.staff" in sig.criteria[0].why.en


@pytest.mark.parametrize(("offset", "outcome"), [(-1.0, MET), (0.3, MET), (-1.2, NOT_MET)])
def test_clock_offset_is_compared_in_absolute_value(offset: float, outcome: str) -> None:
    data = SnapshotData(snap(result("clock", "clock", "ntp", UNTIL, Status.OK, {"clock_offset_seconds": offset}),
                             result("tsa", "http", "https://tsa.ca.gov.vn", UNTIL, Status.OK)))
    assert target(evaluate(PLAN, data, UNTIL), "SIG-02").outcome == outcome


def test_bandwidth_best_of_alternatives_with_warn_band() -> None:
    """NET-02: SNMP speed 1 Gbps but no throughput check: 'best' needs one known value ≥ 100 Mbps."""
    for speed, outcome, risk in ((1e9, MET, False), (150e6, MET, True), (50e6, NOT_MET, False)):
        data = SnapshotData(snap(result("uplink-router", "snmp", "192.0.2.1 ge0", UNTIL, Status.OK,
                                        {'snmp_interface_speed_bytes_per_second{interface="ge0"}': speed / 8})))
        net = target(evaluate(PLAN, data, UNTIL), "NET-02")
        assert (net.outcome, net.at_risk) == (outcome, risk)


def test_stale_latest_result_is_no_data(tmp_path: Path) -> None:
    """A latest result older than 3 intervals (and 15 min) is not 'current state'."""
    site = Site(tmp_path)
    site.steps(UNTIL - DAY, UNTIL - 3 * 3600, [("gateway", "ping", "10.0.0.1", ok, no_samples)])
    ev = evaluate(PLAN, StoreData(site.history, list(site.checks.values()), None), UNTIL)
    assert target(ev, "LAN-01").criteria[0].outcome == UNKNOWN
    ev = evaluate(PLAN, StoreData(site.history, list(site.checks.values()), None), UNTIL - 3 * 3600 + 60)
    assert target(ev, "LAN-01").criteria[0].outcome == MET
    site.close()

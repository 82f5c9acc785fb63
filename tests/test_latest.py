"""Latest: replacement per check, retain after reload, config order, and atomic snapshots under threads."""

from __future__ import annotations

import threading

import pytest

from dxagent.latest import Latest
from dxagent.model import Result, Status, t


def r(check: str, target: str, status: Status = Status.OK, gen: int = 0) -> Result:
    return Result(check, "tcp", target, status, t("gen {g}", "lần {g}", g=gen), started=float(gen))


def keys(snapshot: tuple[Result, ...]) -> list[tuple[str, str]]:
    return [(x.check_id, x.target) for x in snapshot]


def test_update_replaces_all_results_of_a_check() -> None:
    latest = Latest(["a", "b"])
    latest.update([r("a", "x"), r("a", "y"), r("b", "z")])
    latest.update([r("a", "y", Status.CRIT)])  # target x no longer in a's config: gone
    assert keys(latest.snapshot()) == [("a", "y"), ("b", "z")]
    assert latest.get("a")[0].status == Status.CRIT
    assert latest.get("missing") == ()
    latest.update([])  # nothing to change
    assert len(latest) == 2


def test_snapshot_in_config_order_and_unknown_ids_last() -> None:
    latest = Latest(["c", "a", "b"])
    latest.update([r("zz", "1")])
    latest.update([r("b", "1")])
    latest.update([r("a", "1"), r("a", "2")])
    latest.update([r("c", "1")])
    assert keys(latest.snapshot()) == [("c", "1"), ("a", "1"), ("a", "2"), ("b", "1"), ("zz", "1")]
    assert latest.check_ids() == ("c", "a", "b", "zz")


def test_retain_drops_removed_checks_and_sets_order() -> None:
    latest = Latest(["a", "b", "c"])
    latest.update([r("a", "1"), r("b", "1"), r("c", "1")])
    latest.retain(["c", "a"])
    assert keys(latest.snapshot()) == [("c", "1"), ("a", "1")]
    assert latest.get("b") == ()
    latest.update([r("b", "1")])  # a check added later without an order entry goes last
    assert latest.check_ids() == ("c", "a", "b")


def test_snapshot_is_immutable() -> None:
    latest = Latest()
    latest.update([r("a", "1")])
    snap = latest.snapshot()
    assert isinstance(snap, tuple)
    latest.update([r("a", "2")])
    assert keys(snap) == [("a", "1")]  # an old snapshot never changes under its reader
    with pytest.raises(TypeError):
        latest._state.by_check["a"] = ()  # type: ignore[index]


def test_readers_never_see_half_an_update() -> None:
    """One writer swaps whole generations of 3 checks × 20 targets; readers check each snapshot is whole."""
    checks = ["a", "b", "c"]
    latest = Latest(checks)
    latest.update([r(c, str(i), gen=0) for c in checks for i in range(20)])
    stop = threading.Event()
    problems: list[str] = []
    seen = [0]

    def reader() -> None:
        while not stop.is_set():
            snap = latest.snapshot()
            gens = {x.started for x in snap}
            if len(snap) != 60 or len(gens) != 1:
                problems.append(f"{len(snap)} results, generations {sorted(gens)}")
                return
            seen[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for th in threads:
        th.start()
    for gen in range(1, 2000):
        latest.update([r(c, str(i), gen=gen) for c in checks for i in range(20)])
    stop.set()
    for th in threads:
        th.join()
    assert not problems, problems[:3]
    assert seen[0] > 0
    assert {x.started for x in latest.snapshot()} == {1999.0}

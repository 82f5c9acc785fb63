"""The runner: timeouts, the crash barrier, retries, concurrency and selection."""

from __future__ import annotations

import asyncio
import time

import pytest

from dxagent import aio
from dxagent.config import load_text
from dxagent.model import Reason, Status
from dxagent.runner import Runner, SelectionError, select

pytestmark = pytest.mark.usefixtures("fake_kinds")


def checks_of(*items: str) -> tuple:
    return load_text("checks:\n" + "".join(items)).checks


def fake(id_: str, mode: str, **extra: object) -> str:
    lines = f"  - id: {id_}\n    kind: fake\n    mode: {mode}\n"
    return lines + "".join(f"    {k}: {v}\n" for k, v in extra.items())


def test_sleeping_probe_stops_at_timeout_while_others_complete() -> None:
    cfgs = checks_of(fake("slow", "sleep", seconds=3600, timeout="300ms"), fake("quick", "ok"), fake("bad", "crit"))
    t0 = time.monotonic()
    results = aio.run(Runner().run_all(cfgs))
    elapsed = time.monotonic() - t0
    by_id = {r.check_id: r for r in results}
    assert by_id["slow"].status == Status.CRIT and by_id["slow"].reason == Reason.TIMEOUT
    assert "300ms" in by_id["slow"].summary.en
    assert by_id["quick"].status == Status.OK and by_id["bad"].status == Status.CRIT
    assert 0.3 <= by_id["slow"].duration < 1.0
    assert elapsed < 2.0  # bounded wait: the slow check cost only its timeout


def test_blocking_thread_and_stubborn_probe_cannot_stall_the_run() -> None:
    cfgs = checks_of(fake("block", "block", seconds=5, timeout="300ms"), fake("stubborn", "stubborn", seconds=5, timeout="300ms"),
                     fake("ok", "ok"))
    t0 = time.monotonic()
    results = aio.run(Runner().run_all(cfgs))
    assert time.monotonic() - t0 < 2.0
    assert [r.status for r in results] == [Status.CRIT, Status.CRIT, Status.OK]


def test_exception_becomes_unknown_with_reason() -> None:
    (r,) = aio.run(Runner().run_all(checks_of(fake("boom", "raise"))))
    assert r.status == Status.UNKNOWN and r.reason == Reason.INTERNAL
    assert "RuntimeError: boom" in r.summary.en and r.hint is not None
    assert r.target == "fake-raise"


def test_probe_returning_nothing_is_an_internal_error() -> None:
    (r,) = aio.run(Runner().run_all(checks_of(fake("empty", "none"))))
    assert r.status == Status.UNKNOWN and r.reason == Reason.INTERNAL


def test_many_results_from_one_check() -> None:
    results = aio.run(Runner().run_all(checks_of(fake("m", "many"))))
    assert [(r.target, r.status) for r in results] == [("a", Status.OK), ("b", Status.WARN)]


def test_retries_confirm_failures() -> None:
    runner = Runner()
    (r,) = aio.run(runner.run_all(checks_of(fake("f", "flaky", fail_times=1, retries=2, retry_delay="10ms"))))
    assert r.status == Status.OK and r.attempts == 2
    runner = Runner()
    (r,) = aio.run(runner.run_all(checks_of(fake("f", "flaky", fail_times=5, retries=2, retry_delay="10ms"))))
    assert r.status == Status.CRIT and r.attempts == 3


def test_warn_is_not_retried() -> None:
    (r,) = aio.run(Runner().run_all(checks_of(fake("w", "warn", retries=3))))
    assert r.status == Status.WARN and r.attempts == 1


def test_concurrency_is_bounded() -> None:
    cfgs = checks_of(*(fake(f"s{i}", "sleep", seconds=0.2) for i in range(4)))
    t0 = time.monotonic()
    aio.run(Runner(concurrency=2).run_all(cfgs))
    assert time.monotonic() - t0 >= 0.4  # two waves of two


def test_state_survives_between_runs() -> None:
    runner = Runner()
    cfgs = checks_of(fake("f", "flaky", fail_times=1))
    assert aio.run(runner.run_all(cfgs))[0].status == Status.CRIT
    assert aio.run(runner.run_all(cfgs))[0].status == Status.OK


def test_select_by_id_kind_group_and_unknown() -> None:
    cfgs = checks_of(fake("a", "ok"), fake("b", "ok", groups="[meeting]"), fake("c", "ok", enabled="false"))
    assert [c.id for c in select(cfgs, ())] == ["a", "b"]
    assert [c.id for c in select(cfgs, ("meeting",))] == ["b"]
    assert [c.id for c in select(cfgs, ("fake",))] == ["a", "b"]
    with pytest.raises(SelectionError, match="nothing-here"):
        select(cfgs, ("nothing-here",))


async def test_runner_inside_running_loop() -> None:
    results = await Runner().run_all(checks_of(fake("a", "ok")))
    assert results[0].status == Status.OK
    await asyncio.sleep(0)


def test_blocking_pool_reuses_threads_and_bounds_them() -> None:
    import concurrent.futures
    import threading

    from dxagent.probe import DaemonExecutor

    pool = DaemonExecutor(max_workers=3, idle_seconds=0.2)
    names = {pool.submit(lambda: threading.get_ident()).result(timeout=5) for _ in range(50)}
    assert len(names) == 1  # sequential calls reuse one worker
    gate = threading.Event()
    futures = [pool.submit(gate.wait, 5) for _ in range(6)]
    time.sleep(0.2)
    assert pool.threads == 3  # bounded: the other three wait for a free worker
    gate.set()
    assert all(f.result(timeout=5) for f in concurrent.futures.as_completed(futures, timeout=5))
    time.sleep(0.6)
    assert pool.threads == 0  # idle workers leave
    assert pool.submit(lambda: 42).result(timeout=5) == 42

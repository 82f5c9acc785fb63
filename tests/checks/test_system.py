"""`system`: measured values agree with independent sources; judging is pure."""

from __future__ import annotations

import os
import shutil

from dxagent import aio
from dxagent.checks.system import Config, advice, collect, judge
from dxagent.model import Reason, Status
from dxagent.runner import Runner


def cfg(**fields: object) -> Config:
    return Config.model_validate({"id": "s", "kind": "system", "cpu_sample": 0.1, **fields})


def test_collect_matches_independent_sources() -> None:
    m = collect(cfg())
    with open("/proc/meminfo") as f:
        meminfo = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
    assert m["mem_total"] == meminfo["MemTotal"]
    assert m["cores"] == os.cpu_count()
    root = next(fs for fs in m["filesystems"] if fs["mount"] == "/")
    usage = shutil.disk_usage("/")
    assert root["size"] == usage.total
    assert abs(root["free"] - usage.free) < 64 * 2**20  # free space moves a little between the calls
    assert 0 <= m["cpu"] <= 1 and m["uptime"] > 0


def test_probe_reports_samples() -> None:
    (r,) = aio.run(Runner().run_all([cfg()]))
    names = {s.name for s in r.samples}
    assert {"system_memory_used_ratio", "system_filesystem_used_ratio", "system_uptime_seconds"} <= names
    assert r.target == "localhost" and r.status in (Status.OK, Status.WARN, Status.CRIT)


def fake_measure(**over: object) -> dict:
    m = {"cpu": 0.1, "cores": 2, "load1": 0.5, "mem_used_ratio": 0.5, "swap_used_ratio": 0.0,
         "filesystems": [{"mount": "/", "used_ratio": 0.5}]}
    m.update(over)
    return m


def test_judge_levels() -> None:
    c = cfg()
    assert judge(c, fake_measure()) == (Status.OK, [])
    status, problems = judge(c, fake_measure(filesystems=[{"mount": "/var", "used_ratio": 0.96}], mem_used_ratio=0.91))
    assert status == Status.CRIT
    assert problems[0].en == "disk /var 96% full" and "bộ nhớ" in problems[1].vi
    status, _ = judge(c, fake_measure(load1=5.0))  # 2.5 per core
    assert status == Status.WARN


def test_advice_names_each_value_its_limit_and_the_action() -> None:
    c = cfg()
    assert advice(c, fake_measure()) is None
    hint = advice(c, fake_measure(filesystems=[{"mount": "/var", "used_ratio": 0.96}], mem_used_ratio=0.91))
    assert hint is not None
    assert hint.en.startswith("Free space on /var (96% full, limit 95%)") and "memory 91% used (limit 90%)" in hint.en
    assert "/var (đầy 96%, ngưỡng 95%)" in hint.vi and "bộ nhớ dùng 91% (ngưỡng 90%)" in hint.vi
    load = advice(c, fake_measure(load1=5.0))
    assert load is not None and "Load 2.5 per core (limit 2)" in load.en and "`top`" in load.vi


def test_judge_boundary_is_ok() -> None:
    c = cfg(thresholds={"memory_used": {"warn": "90%", "crit": 0.97}})
    assert c.thresholds.memory_used.warn == 0.9
    assert judge(c, fake_measure(mem_used_ratio=0.9))[0] == Status.OK
    assert judge(c, fake_measure(mem_used_ratio=0.91))[0] == Status.WARN


def test_ignore_mounts_and_thresholds_in_result() -> None:
    c = cfg(ignore_mounts=["/*"], thresholds={"filesystem_used": {"warn": 0.0, "crit": 0.0}})
    (r,) = aio.run(Runner().run_all([c]))
    assert not any(s.name == "system_filesystem_used_ratio" and dict(s.labels).get("mount") == "/" for s in r.samples)
    # only the filesystem limit can fire: the machine's own load, CPU, memory and swap must not decide
    quiet = {name: {"warn": None, "crit": None} for name in ("cpu_usage", "load_per_core", "memory_used", "swap_used")}
    c = cfg(thresholds={"filesystem_used": {"warn": 0.0}, **quiet})
    (r,) = aio.run(Runner().run_all([c]))
    assert r.status == Status.WARN and r.reason == Reason.THRESHOLD, r.summary.en


def test_warn_above_crit_is_rejected() -> None:
    import pytest

    from dxagent.config import ConfigError, load_text

    with pytest.raises(ConfigError, match="warn must not be above crit"):
        load_text("checks:\n  - id: s\n    kind: system\n    thresholds: {memory_used: {warn: 0.9, crit: 0.5}}\n")

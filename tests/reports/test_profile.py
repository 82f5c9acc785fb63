"""Readiness profiles: the shipped plan02 encodes every target with its source; bad files get file:line:field."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dxagent.config import ConfigError
from dxagent.reports.cli import report
from dxagent.reports.profile import builtin_profiles, load_profile, load_profile_text

PLAN02_IDS = ["NET-01", "NET-02", "NET-03", "NET-04", "LAN-01", "SVC-01", "SVC-02", "TLS-01", "SIG-01", "SIG-02",
              "WS-01", "WS-02", "SEC-01", "VC-01", "PWR-01"]


def test_plan02_has_every_row_of_the_plan_with_sources() -> None:
    prof = load_profile("plan02")
    assert "plan02" in builtin_profiles()
    assert [t.id for t in prof.targets] == PLAN02_IDS
    for t in prof.targets:
        assert len(t.source) > 10, t.id
        assert any(ch in t.name.vi for ch in "ạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹđĐăâêôơư"), t.id
    net01 = prof.target("NET-01").criteria[0]
    assert (net01.measure, net01.window, net01.threshold) == ("availability", 30 * 86400, 0.995)
    net02 = prof.target("NET-02").criteria[0]
    assert (net02.threshold * 8, net02.warn * 8) == (100e6, 200e6)  # bytes/s in the profile, Mbps in the plan
    tls = prof.target("TLS-01").criteria[1]
    assert (tls.threshold, tls.warn) == (7, 30)
    svc = prof.target("SVC-01").criteria
    assert (svc[0].window, svc[0].threshold, svc[1].threshold) == (7 * 86400, 0.99, 3)
    assert prof.target("SIG-02").criteria[1].absolute
    on_mains, runtime = prof.target("PWR-01").criteria
    assert (on_mains.sample, on_mains.threshold) == (("ups_on_mains",), 1)
    assert (runtime.measure, runtime.percentile, runtime.threshold) == ("percentile", 0, 600)  # the lowest, 10 min
    assert "eng" in prof.target("PWR-01").source


BASE = """\
id: p
name: {vi: "Thử", en: "Test"}
source: "test source"
targets:
  - id: A-01
    name: {vi: "Một", en: "One"}
    source: "somewhere"
    select: {kinds: [ping]}
    criteria:
"""


@pytest.mark.parametrize(("criterion", "line", "field", "message"), [
    ('      - {label: {vi: a, en: a}, measure: speed, compare: ">=", threshold: 1}', 10,
     "targets[0].criteria[0].measure", "Input should be"),
    ('      - {label: {vi: a, en: a}, measure: availability, compare: ">=", threshold: 99.5}', 10,
     "targets[0].criteria[0]", "ratio between 0 and 1"),
    ('      - {label: {vi: a, en: a}, measure: percentile, compare: "<=", threshold: 1}', 10,
     "targets[0].criteria[0]", "needs `sample`"),
    ('      - {label: {vi: a, en: a}, measure: value, sample: ["x{a=1}"], compare: "<=", threshold: 1}', 10,
     "targets[0].criteria[0].sample", "invalid sample selector"),
    ('      - {label: {vi: a, en: a}, measure: days_left, sample: [d], compare: ">=", threshold: 7, warn: 3}', 10,
     "targets[0].criteria[0]", "warn must be stricter"),
    ('      - {label: {vi: a, en: a}, measure: state, compare: "=>", threshold: 1}', 10,
     "targets[0].criteria[0].compare", "Input should be"),
    ('      - {label: {vi: a, en: a}, measure: state, compare: ">=", threshold: 1, colour: red}', 10,
     "targets[0].criteria[0].colour", "unknown field"),
    ('      - {label: {vi: a}, measure: state, compare: ">=", threshold: 1}', 10,
     "targets[0].criteria[0].label.en", "Field required"),
])
def test_bad_criteria_name_file_line_field(criterion: str, line: int, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_profile_text(BASE + criterion + "\n", "prov.yml")
    text = str(info.value)
    assert f"prov.yml:{line}: {field}: " in text and message in text, text


def test_profile_level_errors() -> None:
    dup = BASE + '      - {label: {vi: a, en: a}, measure: state, compare: ">=", threshold: 1}\n'
    dup += dup[dup.index("  - id: A-01"):]
    with pytest.raises(ConfigError, match="duplicate target id 'A-01'"):
        load_profile_text(dup, "d.yml")
    with pytest.raises(ConfigError, match=r"d.yml:3: .*duplicate key 'name'"):
        load_profile_text("id: p\nname: {vi: a, en: a}\nname: x\n", "d.yml")
    with pytest.raises(ConfigError, match="no `select`"):
        load_profile_text(BASE.replace("    select: {kinds: [ping]}\n", "")
                          + '      - {label: {vi: a, en: a}, measure: state, compare: ">=", threshold: 1}\n', "d.yml")
    with pytest.raises(ConfigError, match="no such profile"):
        load_profile("plan99")


def test_province_profile_extends_plan02(tmp_path: Path) -> None:
    custom = tmp_path / "ha-noi.yml"
    custom.write_text("""\
extends: plan02
id: plan02-ha-noi
version: "2025.1-hn"
drop: [WS-02]
targets:
  - id: NET-01
    name: {vi: "Kết nối mạng TSLCD cấp II", en: "Dedicated-network link"}
    weight: 4
    source: "Hà Nội: cam kết 99,9% với nhà mạng"
    select: {kinds: [ping], groups: [tslcd]}
    criteria:
      - {label: {vi: "Khả dụng", en: "Availability"}, measure: availability, window: 30d, compare: ">=", threshold: 0.999}
  - id: HN-01
    name: {vi: "Camera an ninh", en: "Security cameras"}
    source: "Hà Nội"
    select: {kinds: [tcp], groups: [camera]}
    criteria:
      - {label: {vi: "Truy cập được", en: "Reachable"}, measure: state, compare: ">=", threshold: 1}
""", encoding="utf-8")
    prof = load_profile(custom)
    ids = [t.id for t in prof.targets]
    assert ids[0] == "NET-01" and "WS-02" not in ids and ids[-1] == "HN-01" and len(ids) == 15
    assert prof.target("NET-01").criteria[0].threshold == 0.999 and prof.target("NET-01").weight == 4
    assert prof.name.vi.startswith("Sẵn sàng")  # inherited
    bad = tmp_path / "bad.yml"
    bad.write_text("extends: plan02\nid: x\ndrop: [NOPE-1]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.yml:3: drop: not a target of plan02: NOPE-1"):
        load_profile(bad)
    bad.write_text("extends: plan02\nid: x\ntargets:\n  - id: NET-01\n    weight: -1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.yml:5: targets\[0\].weight: Input should be greater than 0"):
        load_profile(bad)


def test_cli_profile_check(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(report, ["profile", "plan02"])
    assert res.exit_code == 0 and "15 targets" in res.output and "NET-01" in res.output
    bad = tmp_path / "p.yml"
    bad.write_text(BASE + '      - {label: {vi: a, en: a}, measure: state, compare: ">=", threshold: 2}\n')
    res = runner.invoke(report, ["profile", str(bad)])
    assert res.exit_code == 2
    assert f"{bad}:10: targets[0].criteria[0]: threshold of a 'state' measure is a ratio" in res.output

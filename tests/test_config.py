"""Config loading: every error class names file, line and field; good files load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dxagent.config import ConfigError, load, load_default, load_text
from dxagent.config.doc import reference_markdown, sample_text
from dxagent.config.types import Secret, format_duration, parse_duration

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
site: {id: hn-test, name: Test, province: ha-noi, staff: 10}
checks:
  - id: web
    kind: tcp
    host: 127.0.0.1
    port: 80
    interval: 5m
    timeout: 1500ms
"""

# (yaml text, expected line, expected field, fragment of the message)
BAD = [
    ("site: {id: x}\nfoo: 1\n", 2, "foo", "unknown field"),
    ("site:\n  id: x\n  colour: red\n", 3, "site.colour", "unknown field"),
    ("site:\n  id: x\n  staff: many\n", 3, "site.staff", "valid integer"),
    ("site:\n  id: Bad Id\n", 2, "site.id", "lowercase"),
    ("checks:\n  - id: a\n    kind: tcp\n    host: h\n    port: 1\n  - id: a\n    kind: tcp\n    host: h\n    port: 2\n",
     6, "checks[1].id", "duplicate check id 'a'"),
    ("checks:\n  - id: a\n    kind: telepathy\n", 3, "checks[0].kind", "unknown kind 'telepathy'"),
    ("checks:\n  - id: a\n    host: h\n", 2, "checks[0].kind", "missing"),
    ("checks:\n  - id: a\n    kind: tcp\n    host: h\n    port: 1\n    interval: 5 minutes\n", 6, "checks[0].interval",
     "invalid duration"),
    ("checks:\n  - id: a\n    kind: tcp\n    host: h\n    port: 1\n    timeout: -3s\n", 6, "checks[0].timeout", "invalid duration"),
    ("checks:\n  - id: a\n    kind: tcp\n    host: h\n    port: 70000\n", 5, "checks[0].port", "less than or equal to 65535"),
    ("checks:\n  - id: a\n    kind: tcp\n    host: h\n    port: 1\n    bogus: 1\n", 6, "checks[0].bogus", "unknown field"),
    ("checks:\n  - id: a\n    kind: tcp\n    host: h\n", 2, "checks[0].port", "Field required"),
    ("checks:\n  - id: a\n    kind: tcp\n    host: h\n    port: 1\n    interval: 5s\n    timeout: 10s\n", 2, "checks[0]",
     "must not exceed interval"),
    ("checks:\n  - id: a\n    kind: dns\n    name: x\n    record_type: MX\n", 2, "checks[0]", "needs `server`"),
    ("checks:\n  - id: a\n    kind: tcp\n    host: h\n    port: 1\n    thresholds: {warn: fast}\n", 6, "checks[0].thresholds.warn",
     "invalid duration 'fast'"),
    ("checks: {a: 1}\n", 1, "checks", "expected a list"),
    ("- just\n- a list\n", 1, "", "must be a YAML mapping"),
    ("site: {id: x\n", 2, "", "invalid YAML"),
    ("site: {id: x}\nsite: {id: y}\n", 2, "", "duplicate key 'site'"),
    ("lang: fr\n", 1, "lang", "'vi' or 'en'"),
]


@pytest.mark.parametrize(("text", "line", "field", "fragment"), BAD)
def test_bad_config_names_line_and_field(text: str, line: int, field: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(text, "site.yml")
    problems = info.value.problems
    assert any(p.line == line and p.field == field and fragment in p.message for p in problems), problems
    assert all(p.file == "site.yml" for p in problems)
    assert str(info.value).startswith(f"site.yml:{problems[0].line}")


def test_all_problems_reported_at_once() -> None:
    text = "site: {id: x, foo: 1}\nchecks:\n  - id: a\n    kind: tcp\n    host: h\n    port: 0\n  - id: b\n    kind: nope\n"
    with pytest.raises(ConfigError) as info:
        load_text(text, "f.yml")
    fields = {p.field for p in info.value.problems}
    assert {"site.foo", "checks[0].port", "checks[1].kind"} <= fields


def test_good_config_loads() -> None:
    cfg = load_text(GOOD, "good.yml")
    assert cfg.site.id == "hn-test" and cfg.site.staff == 10
    (check,) = cfg.checks
    assert check.kind == "tcp" and check.interval == 300 and check.timeout == 1.5
    assert cfg.source == "good.yml"


def test_config_is_frozen() -> None:
    cfg = load_text(GOOD)
    with pytest.raises(Exception, match="frozen"):
        cfg.site.id = "other"  # type: ignore[misc]


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "missing.yml")
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path)
    bad = tmp_path / "latin1.yml"
    bad.write_bytes(b"site: {name: \xe0}\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(bad)


def test_empty_file_is_an_empty_config(tmp_path: Path) -> None:
    p = tmp_path / "empty.yml"
    p.write_text("")
    assert load(p).checks == ()


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("6h", 21600), ("1h30m", 5400), ("250ms", 0.25),
                                               ("7d", 604800), (12, 12), ("1.5s", 1.5)])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_format_duration_round_trips() -> None:
    for s in (0.25, 1, 30, 90, 300, 3600, 86400, 604800):
        assert parse_duration(format_duration(s)) == s


def test_secret_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DX_TEST_SECRET", "s3cr3t-env")
    f = tmp_path / "pw"
    f.write_text("s3cr3t-file\n")
    assert Secret._validate({"env": "DX_TEST_SECRET"}).reveal() == "s3cr3t-env"
    secret = Secret._validate({"file": str(f)})
    assert secret.reveal() == "s3cr3t-file"
    assert "s3cr3t" not in repr(secret) and "s3cr3t" not in str(secret)


def test_secret_errors_name_the_field_not_the_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import Field

    from dxagent.config import Model

    class WithSecret(Model):
        password: Secret = Field(description="x")

    monkeypatch.delenv("DX_MISSING", raising=False)
    with pytest.raises(Exception, match="environment variable DX_MISSING is not set"):
        WithSecret.model_validate({"password": {"env": "DX_MISSING"}})
    with pytest.raises(Exception, match="cannot read secret file"):
        WithSecret.model_validate({"password": {"file": str(tmp_path / "nope")}})
    dumped = WithSecret.model_validate({"password": "hunter2"}).model_dump_json()
    assert "hunter2" not in dumped


def test_default_config_loads() -> None:
    cfg = load_default()
    kinds = {c.kind for c in cfg.checks}
    assert {"system", "dns"} <= kinds


def test_sample_config_loads_and_covers_every_kind(tmp_path: Path) -> None:
    from dxagent import checks

    cfg = load_text(sample_text(), "sample.yml")
    assert {c.kind for c in cfg.checks} == set(checks.KINDS)


def test_config_reference_is_current() -> None:
    doc = ROOT / "docs" / "config-reference.md"
    assert doc.read_text(encoding="utf-8") == reference_markdown(), (
        "docs/config-reference.md is stale: run `python -m dxagent.config.doc docs/config-reference.md`"
    )


def test_config_check_cli_exit_code_and_no_traceback(tmp_path: Path) -> None:
    p = tmp_path / "bad.yml"
    p.write_text("site:\n  id: x\n  foo: 1\n")
    proc = subprocess.run([sys.executable, "-m", "dxagent", "config", "check", str(p)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 2
    assert f"{p}:3: site.foo: unknown field" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("template", ["commune", "province"])
def test_site_templates_load(template: str) -> None:
    import importlib.resources

    text = importlib.resources.files("dxagent.defaults").joinpath(f"{template}.yml").read_text(encoding="utf-8")
    cfg = load_text(text, f"{template}.yml")
    assert cfg.site.level == template
    assert any(c.enabled for c in cfg.checks) and any(not c.enabled for c in cfg.checks)


def test_disabled_check_does_not_resolve_its_secrets(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-secret"
    base = ("checks:\n  - id: r\n    kind: snmp\n    host: 127.0.0.1\n    version: v2c\n"
            f"    community: {{file: {missing}}}\n")
    cfg = load_text(base + "    enabled: false\n")
    assert not cfg.checks[0].enabled
    with pytest.raises(ConfigError, match="cannot read secret file"):
        load_text(base)


def test_unexpected_validator_failure_is_a_problem_not_a_traceback(fake_kinds: None) -> None:
    with pytest.raises(ConfigError) as info:
        load_text("checks:\n  - id: x\n    kind: fake\n    mode: ok\n    explode_in_validator: true\n")
    (problem,) = info.value.problems
    assert problem.line == 2 and "cannot validate this fake check: RuntimeError" in problem.message


def test_readiness_profile_is_checked_at_load(tmp_path: Path) -> None:
    assert load_text("readiness: {profile: plan02}\n").readiness.profile == "plan02"
    with pytest.raises(ConfigError) as info:
        load_text(f"readiness:\n  profile: {tmp_path / 'nope.yml'}\n")
    (problem,) = info.value.problems
    assert problem.line == 2 and problem.field == "readiness" and "is not usable" in problem.message
    assert not load_text(f"readiness: {{enabled: false, profile: {tmp_path / 'nope.yml'}}}\n").readiness.enabled


def test_every_kind_has_a_docs_page() -> None:
    from dxagent import checks

    missing = [k for k in checks.KINDS if not (ROOT / "docs" / "checks" / f"{k}.md").exists()]
    assert not missing, f"docs/checks/<kind>.md missing for {missing}"


def test_secret_values_never_reach_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    """pydantic keeps each error's input; problems are built from loc/msg/type only, so none shows."""
    monkeypatch.delenv("DX_NOT_SET", raising=False)
    text = ("checks:\n  - id: r\n    kind: snmp\n    host: 127.0.0.1\n    version: v2c\n"
            "    community: {env: DX_NOT_SET, file: hunter2-community}\n"
            "  - id: w\n    kind: http\n    url: http://127.0.0.1/\n    bearer_token: [hunter2-token]\n"
            "    headers: {X-Key: [hunter2-header]}\n")
    with pytest.raises(ConfigError) as info:
        load_text(text, "s.yml")
    shown = str(info.value)
    assert "hunter2" not in shown, shown
    by_field = {p.field: p for p in info.value.problems}
    assert by_field["checks[0].community"].line == 6
    assert by_field["checks[0].community"].message == "expected a secret reference {env: NAME} or {file: PATH}"
    assert by_field["checks[1].bearer_token"].line == 10


def test_readiness_profile_problem_comes_with_the_others(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(f"site: {{id: Bad}}\nreadiness:\n  profile: {tmp_path / 'nope.yml'}\n")
    assert [(p.line, p.field) for p in info.value.problems] == [(1, "site.id"), (3, "readiness")]


def _imports(path: Path) -> set[str]:
    """Every dxagent module a file imports, at the top or inside a function."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dxagent"):
            found |= {f"{node.module}.{a.name}" if node.module in ("dxagent", "dxagent.config")
                      else node.module for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("dxagent")}
    return found


def test_config_modules_import_top_down() -> None:
    """Each module of dxagent.config imports only those below it; only the loader and the doc reach
    the check kinds and the reports (which import config.types/problems/yamlsrc, never the loader)."""
    order = ["types", "yamlsrc", "problems", "check", "sections", "toplevel", "load", "doc"]
    folder = ROOT / "agent" / "config"
    assert sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__") == sorted(order)
    for i, name in enumerate(order):
        below = {f"dxagent.config.{m}" for m in order[:i]}
        outside = {"dxagent.checks", "dxagent.reports.profile"} if name in ("load", "doc") else set()
        assert _imports(folder / f"{name}.py") <= below | outside, name
    # The loader reaches reports.profile (which uses limits): they must not import the package back.
    for user in ("reports/profile.py", "agent/limits.py", "agent/daemon/webconfig.py"):
        config_imports = {m for m in _imports(ROOT / user) if m.startswith("dxagent.config")}
        assert config_imports <= {f"dxagent.config.{m}" for m in ("types", "yamlsrc", "problems", "check")}, user

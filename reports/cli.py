"""`dxagent report` (site readiness report) and `dxagent report rollup` (province roll-up).

Only this module prints. Unusable input (bad profile, unreadable history, Prometheus unreachable)
exits 2 with one clear line per problem on stderr.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from dxagent.config import ConfigError
from dxagent.config.types import parse_duration

__all__ = ["report"]

SITE_FORMATS = ("html", "md", "json", "csv")
ROLLUP_FORMATS = ("html", "md", "json", "csv", "xlsx")


def _fail(message: str) -> None:
    click.echo(f"dxagent: {message}", err=True)
    sys.exit(2)


def _profile(ref: str) -> Any:
    from dxagent.reports.profile import load_profile

    try:
        return load_profile(ref)
    except ConfigError as exc:
        click.echo(f"dxagent: the profile has {len(exc.problems)} problem(s):", err=True)
        for p in exc.problems:
            click.echo(f"  {p}", err=True)
        sys.exit(2)


def _duration(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except Exception as exc:  # PydanticCustomError carries the message
        _fail(f"{option}: {exc}")
        raise


def _write(output: Path | None, data: str | bytes) -> None:
    if output is None or str(output) == "-":
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            click.echo(data, nl=False)
        return
    tmp = output.with_name(output.name + ".tmp")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
        tmp.replace(output)  # atomic: a reader never sees half a report
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror or exc}")


def _lang(lang: str | None, fmt: str) -> str:
    """Vietnamese by default for HTML and XLSX (what offices read); else $LANG decides."""
    from dxagent.i18n import detect_lang

    if lang:
        return lang
    return "vi" if fmt in ("html", "xlsx") else detect_lang(None)


def _json(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=1, allow_nan=False) + "\n"


@click.group("report", invoke_without_command=True)
@click.option("--config", "-c", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Agent config (site identity, check groups, state_dir); default as for `dxagent check`.")
@click.option("--history", "history_path", type=click.Path(path_type=Path, dir_okay=False),
              help="History file (default: <state_dir>/history.sqlite).")
@click.option("--snapshot", "snapshot_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Latest results snapshot JSON (default: <state_dir>/snapshot.json when present).")
@click.option("--profile", default="plan02", show_default=True, help="Built-in profile name or profile YAML file.")
@click.option("--period", help="Report period, e.g. 7d or 30d (default: the profile's).")
@click.option("--until", "until", type=float, help="End of the period as a Unix time (default: now).")
@click.option("--format", "fmt", type=click.Choice(SITE_FORMATS), default="html", show_default=True)
@click.option("--lang", type=click.Choice(("vi", "en")), help="Language (default: vi for HTML, else from $LANG).")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE (default: stdout).")
@click.pass_context
def report(ctx: click.Context, config_path: Path | None, history_path: Path | None, snapshot_path: Path | None,
           profile: str, period: str | None, until: float | None, fmt: str, lang: str | None,
           output: Path | None) -> None:
    """Site readiness report against a profile (default plan02): HTML, Markdown, JSON or CSV."""
    if ctx.invoked_subcommand is not None:
        return
    from dxagent.cli import resolve_config
    from dxagent.reports import site

    prof = _profile(profile)
    cfg = resolve_config(config_path)
    state = Path(cfg.state_dir)
    if history_path is None and (state / "history.sqlite").exists():
        history_path = state / "history.sqlite"
    if snapshot_path is None:
        snap_cfg = getattr(cfg, "snapshot", None)
        default_snap = getattr(snap_cfg, "path", None) or state / "snapshot.json"
        if Path(default_snap).exists():
            snapshot_path = Path(default_snap)
    if history_path is None and snapshot_path is None:
        _fail(f"no history or snapshot found under {state}: give --history or --snapshot "
              "(is `dxagent run` running with this config?)")
    try:
        doc = site.build(prof, until=until or time.time(), period=_duration(period, "--period"), cfg=cfg,
                         history_path=history_path, snapshot_path=snapshot_path)
    except ValueError as exc:
        _fail(str(exc))
    _write(output, render_site(doc, fmt, _lang(lang, fmt)))


def render_site(doc: Any, fmt: str, lang: str) -> str:
    from dxagent.reports import render_text

    if fmt == "json":
        return _json(doc)
    if fmt == "md":
        return render_text.site_markdown(doc, lang)
    if fmt == "csv":
        return render_text.site_csv(doc, lang)
    from dxagent.reports.render_html import render_site as html

    return html(doc, lang)


@report.command("rollup")
@click.argument("folder", required=False, type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--prometheus", metavar="URL", help="Read the fleet from this Prometheus server's HTTP API.")
@click.option("--province", help="Only sites of this province (label/field `province`).")
@click.option("--profile", default="plan02", show_default=True, help="Profile for target names and snapshots.")
@click.option("--previous", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="An earlier roll-up JSON: adds the change of each share and score.")
@click.option("--expect", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="File of expected site ids (one per line or first CSV column): missing ones are listed.")
@click.option("--at", "at", type=float, help="Prometheus evaluation time as a Unix time (default: now).")
@click.option("--lookback", default="7d", show_default=True, help="Prometheus: sites seen within this are listed.")
@click.option("--format", "fmt", type=click.Choice(ROLLUP_FORMATS), default="html", show_default=True)
@click.option("--lang", type=click.Choice(("vi", "en")), help="Language (default: vi for HTML/XLSX).")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE (default: stdout).")
def rollup_cmd(folder: Path | None, prometheus: str | None, province: str | None, profile: str,
               previous: Path | None, expect: Path | None, at: float | None, lookback: str, fmt: str,
               lang: str | None, output: Path | None) -> None:
    """Province roll-up from a FOLDER of site reports/snapshots, or from --prometheus URL."""
    from dxagent.reports import rollup as ru

    if (folder is None) == (prometheus is None):
        _fail("give either a FOLDER of site JSON files or --prometheus URL (not both)")
    if fmt == "xlsx" and output is None and sys.stdout.isatty():
        _fail("XLSX is binary: give --output FILE.xlsx")
    prof = _profile(profile)
    prev = None
    if previous is not None:
        try:
            prev = json.loads(previous.read_text(encoding="utf-8"))
            if prev.get("schema") != ru.ROLLUP_SCHEMA:
                raise ValueError("not a dxagent roll-up JSON")
        except (OSError, ValueError) as exc:
            _fail(f"--previous {previous}: {exc}")
    expected = ru.read_expected(expect) if expect is not None else []
    if prometheus is not None:
        from dxagent.reports.promsource import PrometheusError, records_from_prometheus

        _duration(lookback, "--lookback")
        try:
            records = list(records_from_prometheus(prometheus, province=province, at=at, lookback=lookback))
        except PrometheusError as exc:
            _fail(str(exc))
        source = f"prometheus {prometheus}"
    else:
        assert folder is not None
        records = ru.records_from_dir(folder, prof)  # type: ignore[assignment]
        source = f"files {folder}"
    doc = ru.rollup(records, prof, source=source, province=province, expected=expected, previous=prev)
    lang = _lang(lang, fmt)
    if fmt == "json":
        _write(output, _json(doc))
    elif fmt == "md":
        from dxagent.reports.render_text import rollup_markdown

        _write(output, rollup_markdown(doc, lang))
    elif fmt == "csv":
        from dxagent.reports.render_text import rollup_csv

        _write(output, rollup_csv(doc, lang))
    elif fmt == "xlsx":
        from dxagent.reports.render_xlsx import rollup_xlsx

        _write(output, rollup_xlsx(doc, lang))
    else:
        from dxagent.reports.render_html import render_rollup

        _write(output, render_rollup(doc, lang))


@report.command("profile")
@click.argument("ref", default="plan02")
def profile_cmd(ref: str) -> None:
    """Validate a profile (file or built-in name) and list its targets; exit 2 on problems."""
    prof = _profile(ref)
    click.echo(f"{prof.origin}: OK, profile {prof.id} v{prof.version}, {len(prof.targets)} targets")
    for t in prof.targets:
        click.echo(f"  {t.id:<8} w={t.weight:<4g} {t.name.en} / {t.name.vi}")


@report.command("schema")
@click.argument("which", type=click.Choice(("site", "rollup")), default="site")
def schema_cmd(which: str) -> None:
    """Print the JSON Schema of the site report or roll-up JSON."""
    from dxagent.reports.schema import ROLLUP_SCHEMA, SITE_SCHEMA

    click.echo(_json(SITE_SCHEMA if which == "site" else ROLLUP_SCHEMA), nl=False)

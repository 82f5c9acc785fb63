"""The `dxagent` command line: `check`, `config`, and the lazily loaded daemon/report commands.

Only this layer prints. Exit codes follow Nagios for `check` (worst status, 0–3) and use 2
for unusable input (bad config, bad option), always with the reason on stderr.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from dxagent import __version__, aio
from dxagent.config import Config, ConfigError, resolve
from dxagent.i18n import LANGS, detect_lang, word
from dxagent.render import exit_code, table, to_json
from dxagent.runner import Runner, SelectionError, select

__all__ = ["cli", "main", "resolve_config"]

# Subcommands living in their own modules, imported only when used (memory of `run`).
LAZY_COMMANDS: dict[str, str] = {
    "run": "dxagent.daemon.cli:run",
    "reload": "dxagent.daemon.cli:reload",
    "report": "dxagent.reports.cli:report",
    "inventory": "dxagent.inventory_cli:inventory",
    "alerts": "dxagent.alerts.cli:alerts",
}


class LazyGroup(click.Group):
    """A click group whose listed subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        available = [n for n, ref in LAZY_COMMANDS.items() if _module_exists(ref.split(":")[0])]
        return sorted([*super().list_commands(ctx), *available])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS and _module_exists(LAZY_COMMANDS[name].split(":")[0]):
            mod, attr = LAZY_COMMANDS[name].split(":")
            return getattr(importlib.import_module(mod), attr)  # type: ignore[no-any-return]
        return super().get_command(ctx, name)


def _module_exists(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def fail(message: str, code: int = 2) -> None:
    """Print `dxagent: message` on stderr and exit with `code`."""
    click.echo(f"dxagent: {message}", err=True)
    sys.exit(code)


def report_config_error(exc: ConfigError) -> None:
    click.echo(f"dxagent: the configuration has {len(exc.problems)} problem(s):", err=True)
    for p in exc.problems:
        click.echo(f"  {p}", err=True)
    sys.exit(2)


def resolve_config(path: Path | None) -> Config:
    """`dxagent.config.resolve`, with config errors printed and exit code 2."""
    try:
        return resolve(path)
    except ConfigError as exc:
        report_config_error(exc)
        raise  # unreachable


config_option = click.option(
    "--config", "-c", "config_path", type=click.Path(path_type=Path, dir_okay=False),
    help="Config file, or `builtin` for the built-in default (default: $DXAGENT_CONFIG, /etc/dxagent/dxagent.yml, else built-in).",
)
lang_option = click.option("--lang", type=click.Choice(LANGS), help="Language of messages (vi or en).")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dxagent")
def cli() -> None:
    """dxagent: health and conformance monitoring for commune and provincial IT."""


@cli.command()
@config_option
@click.option("--only", multiple=True, metavar="ID|KIND|GROUP", help="Run only these checks (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@lang_option
@click.option("--no-color", is_flag=True, help="No colours (also off when output is not a terminal or $NO_COLOR is set).")
@click.option("-v", "--verbose", is_flag=True, help="Show details and samples under each result.")
def check(config_path: Path | None, only: tuple[str, ...], fmt: str, lang: str | None, no_color: bool, verbose: bool) -> None:
    """Run the checks once, print the results and exit with the worst status (0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN)."""
    cfg = resolve_config(config_path)
    lang = detect_lang(lang or cfg.lang)
    try:
        chosen = select(cfg.checks, only)
    except SelectionError as exc:
        fail(str(exc))
    if not chosen:
        fail(word("no_checks", lang), 3)
    runner = Runner(site=cfg.site, concurrency=cfg.concurrency)
    t0 = time.monotonic()
    results = aio.run(runner.run_all(chosen))
    elapsed = time.monotonic() - t0
    if fmt == "json":
        click.echo(to_json(results, cfg.site, lang))
    else:
        colour = not no_color and sys.stdout.isatty() and "NO_COLOR" not in os.environ
        click.echo(table(results, lang, colour=colour, verbose=verbose, elapsed=elapsed))
    sys.stdout.flush()
    sys.exit(exit_code(results))


@cli.group("config")
def config_group() -> None:
    """Validate, create and document configuration files."""


@config_group.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path, dir_okay=False))
def config_check(path: Path | None) -> None:
    """Validate a config file (default: the one `dxagent check` would use); exit 2 on problems."""
    cfg = resolve_config(path)
    kinds = sorted({c.kind for c in cfg.checks})
    click.echo(f"{cfg.source}: OK, site {cfg.site.id}, {len(cfg.checks)} checks ({', '.join(kinds) or 'none'})")


@config_group.command("init")
@click.argument("path", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--template", type=click.Choice(["full", "commune", "province"]), default="full", show_default=True,
              help="full: every kind, commented; commune/province: a ready starting point for that kind of site.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def config_init(path: Path | None, template: str, force: bool) -> None:
    """Write a commented sample config to PATH (or print it)."""
    import importlib.resources

    from dxagent.config.doc import sample_text

    if template == "full":
        text = sample_text()
    else:
        text = importlib.resources.files("dxagent.defaults").joinpath(f"{template}.yml").read_text(encoding="utf-8")
    if path is None:
        click.echo(text, nl=False)
        return
    if path.exists() and not force:
        fail(f"{path} exists; use --force to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")
    click.echo(f"wrote {path}")


@config_group.command("reference")
def config_reference() -> None:
    """Print the config reference (Markdown) generated from the model."""
    from dxagent.config.doc import reference_markdown

    click.echo(reference_markdown(), nl=False)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="dxagent")

"""`dxagent alerts`: write the Prometheus rules, Alertmanager example and Grafana dashboards for ops.

The files are the package data the tests ran against (promtool, amtool, a real Prometheus), so
what ops deploy is what was verified. Only this module prints.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

__all__ = ["alerts", "export"]

_RUNBOOK = re.compile(r"(runbook_url: '?)docs/runbooks/")


@click.group()
def alerts() -> None:
    """Early-warning files: Prometheus rules, Alertmanager routing, Grafana dashboards."""


@alerts.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--runbook-base", metavar="URL",
              help="Prefix for the runbook links (e.g. https://git.tinh.example/dxagent/-/blob/main/): "
                   "the rules then link docs/runbooks/*.md there instead of a relative path.")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def export(directory: Path, runbook_base: str | None, force: bool) -> None:
    """Write prometheus/ (prometheus.yml example, rules, promtool tests), alertmanager/ and grafana/ under DIRECTORY."""
    from dxagent.alerts import bundle

    files = bundle()
    if runbook_base is not None:
        if not re.match(r"^https?://\S+$", runbook_base):
            click.echo(f"dxagent: --runbook-base {runbook_base!r}: expected an http(s) URL", err=True)
            sys.exit(2)
        base = runbook_base.rstrip("/") + "/"
        # the rules and the promtool tests expecting their annotations
        files = {k: _RUNBOOK.sub(lambda m: f"{m.group(1)}{base}docs/runbooks/", v) if k.startswith("prometheus/") else v
                 for k, v in files.items()}
    existing = [rel for rel in files if (directory / rel).exists()]
    if existing and not force:
        click.echo(f"dxagent: {len(existing)} file(s) exist in {directory} (e.g. {existing[0]}); use --force to "
                   "overwrite", err=True)
        sys.exit(2)
    try:
        for rel, text in files.items():
            path = directory / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        click.echo(f"dxagent: cannot write to {directory}: {exc.strerror or exc}", err=True)
        sys.exit(2)
    groups: dict[str, int] = {}
    for rel in files:
        top = rel.split("/")[0]
        groups[top] = groups.get(top, 0) + 1
    click.echo(f"wrote {len(files)} files to {directory}: " + ", ".join(f"{k}/ ({n})" for k, n in sorted(groups.items())))
    click.echo(f"check them with: promtool check config {directory / 'prometheus' / 'prometheus.yml'}; "
               f"cd {directory / 'prometheus' / 'tests'} && promtool test rules *.yml; "
               f"amtool check-config {directory / 'alertmanager' / 'alertmanager.yml'}")

"""`dxagent run` and `dxagent reload`: the daemon's command line.

Kept apart from cli.py so that `dxagent check` never imports the scheduler, the HTTP server
or prometheus_client, and `run` imports only what the daemon needs (memory: see bench/).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import ssl
import sys
from pathlib import Path

import click

from dxagent.config import ConfigError
from dxagent.logsetup import FORMATS, LEVELS

__all__ = ["run", "reload"]

config_option = click.option(
    "--config", "-c", "config_path", type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (default: $DXAGENT_CONFIG, /etc/dxagent/dxagent.yml, else the built-in default).",
)


def _problems(exc: ConfigError) -> None:
    click.echo(f"dxagent: the configuration has {len(exc.problems)} problem(s):", err=True)
    for p in exc.problems:
        click.echo(f"  {p}", err=True)


@click.command()
@config_option
@click.option("--listen", metavar="ADDR:PORT", help="Override server.listen (e.g. 127.0.0.1:10190; port 0 = no listener).")
@click.option("--log-level", type=click.Choice(LEVELS), default="info", show_default=True)
@click.option("--log-format", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text: one line per event (journald-friendly); json: one JSON object per line.")
def run(config_path: Path | None, listen: str | None, log_level: str, log_format: str) -> None:
    """Run the checks on their schedules and serve /metrics, /healthz and the JSON API.

    SIGHUP (or `dxagent reload`) re-reads the config; SIGTERM/SIGINT stop cleanly (exit 0).
    """
    from dxagent import logsetup
    from dxagent.daemon import Daemon, load_config
    from dxagent.daemon.server import parse_listen
    from dxagent.daemon.webconfig import WebConfig, load_web_config

    logsetup.setup(log_level, log_format)
    try:
        cfg = load_config(config_path)
        web = load_web_config(cfg.server.web_config_file) if cfg.server.web_config_file else WebConfig()
    except ConfigError as exc:
        _problems(exc)
        sys.exit(2)
    if listen is not None:
        try:
            parse_listen(listen)
        except ValueError:
            click.echo(f"dxagent: --listen {listen!r}: expected ADDRESS:PORT", err=True)
            sys.exit(2)
    daemon = Daemon(cfg, config_path, listen=listen, web=web)
    loop = asyncio.new_event_loop()
    try:
        code = loop.run_until_complete(daemon.run())
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
    sys.exit(code)


@click.command()
@config_option
@click.option("--pid", type=int, help="Send SIGHUP to this process instead of calling the HTTP endpoint.")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for the answer.")
def reload(config_path: Path | None, pid: int | None, timeout: float) -> None:
    """Ask the running daemon to re-read its config; prints the problems if the new file is rejected.

    Calls POST /-/reload on the loopback address of the configured port (the endpoint answers
    loopback peers only), or signals --pid. Exit 0 reloaded, 1 rejected, 2 daemon not reachable.
    """
    if pid is not None:
        try:
            os.kill(pid, signal.SIGHUP)
        except OSError as exc:
            click.echo(f"dxagent: cannot signal process {pid}: {exc.strerror}", err=True)
            sys.exit(2)
        click.echo(f"sent SIGHUP to {pid}; the daemon logs the outcome")
        return
    from dxagent.daemon import load_config
    from dxagent.daemon.server import parse_listen

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        _problems(exc)
        sys.exit(1)
    host, port = parse_listen(cfg.server.listen)
    if port == 0:
        click.echo("dxagent: the listener is disabled (port 0); use --pid to send SIGHUP", err=True)
        sys.exit(2)
    target = "::1" if host and ":" in host else "127.0.0.1"
    conn: http.client.HTTPConnection
    if cfg.server.web_config_file and _uses_tls(cfg.server.web_config_file):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False  # our own process on loopback; the certificate names the public host
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(target, port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(target, port, timeout=timeout)
    try:
        conn.request("POST", "/-/reload", headers={"Content-Length": "0"})
        resp = conn.getresponse()
        raw = resp.read()
    except OSError as exc:
        click.echo(f"dxagent: no daemon answers on {target}:{port} ({exc.strerror or exc}); "
                   "is `dxagent run` running? (or use --pid)", err=True)
        sys.exit(2)
    finally:
        conn.close()
    try:
        doc = json.loads(raw)
    except ValueError:
        click.echo(f"dxagent: unexpected answer {resp.status} from {target}:{port}", err=True)
        sys.exit(2)
    if doc.get("ok"):
        click.echo(f"reloaded: {doc.get('checks')} checks")
        return
    click.echo("dxagent: the new configuration was rejected; the old one keeps running:", err=True)
    for line in doc.get("problems", []):
        click.echo(f"  {line}", err=True)
    sys.exit(1)


def _uses_tls(path: Path) -> bool:
    from dxagent.daemon.webconfig import load_web_config

    try:
        return load_web_config(path).tls_server_config is not None
    except ConfigError:
        return False

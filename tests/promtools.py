"""Real Prometheus-toolchain processes for tests: prometheus, pushgateway, promtool, and `dxagent run`.

Why: the exporter, push mode and the alert rules must be proven against the real Debian
binaries, not against our idea of them. Everything listens on 127.0.0.1 on a free port, keeps
its data in a temporary folder and is killed when the `with` block ends.

Import as `from tests.promtools import ...` (tests/ is a package).

API
---
`need(binary)` → path, or `pytest.skip` with the Debian package to install.
`free_port()` → a TCP port on 127.0.0.1 nobody listens on now.
`wait_http(url, timeout=10, ok=(200,), **kw)` → polls until the URL answers one of `ok`.
`http_get(url, *, auth=None, ca=None, headers=None, timeout=5)` → (status, headers, body bytes);
    `auth=(user, password)`, `ca=path` for https (hostname checks off: loopback tests).

`with prometheus(tmp_path, scrape_configs, *, scrape_interval="1s", rule_files=(), alertmanagers=(),
                 extra_args=()) as prom:`
    Starts `prometheus` with a generated prometheus.yml (`scrape_configs` is a list of dicts, as
    in prometheus.yml; files they name must exist). `prom.url`, `prom.port`, `prom.data_dir`,
    `prom.log()` (its stderr so far).
    `prom.query(expr)` → the `data.result` list of an instant query.
    `prom.wait_for(expr, predicate=bool, timeout=20)` → polls `query(expr)` until
        `predicate(result)` is true; returns the result or fails the test with the last answer
        and Prometheus' target health (the usual reason: scrape errors).
    `prom.targets()` → `data.activeTargets` of /api/v1/targets.
`with pushgateway(tmp_path, *, extra_args=()) as pgw:` → `pgw.url`, `pgw.metrics()` (text of
    its /metrics), `pgw.groups()` (JSON of /api/v1/metrics). Its persistence file lives in
    tmp_path (Debian's default, /var/lib/prometheus/pushgateway.data, would leak groups between runs).
`with alertmanager(tmp_path, config) as am:` (binary `prometheus-alertmanager`)
    `config` is a dict (written as alertmanager.yml) or the YAML text. Clustering off
    (`--cluster.listen-address=`), storage in tmp_path, 127.0.0.1 on a free port. `am.url`,
    `am.port`, `am.address` ("127.0.0.1:PORT", for `prometheus(alertmanagers=[...])`), `am.alerts()`
    (JSON of /api/v2/alerts), `am.log()`.
`promtool_check_metrics(text)` → (ok: bool, output: str) of `promtool check metrics`.
`with dxagent_run(config_path, *, listen=None, args=(), env=None) as agent:`
    Runs `python -m dxagent run -c CONFIG --listen 127.0.0.1:PORT --log-format json` and waits for
    /healthz to answer (any status). `agent.url`, `agent.port`, `agent.proc`, `agent.log()`
    (stderr lines so far), `agent.send(sig)`, `agent.stop(timeout=15)` → exit code.
    Pass `listen=` to choose the address (then waiting uses that port).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

__all__ = ["need", "free_port", "wait_http", "http_get", "prometheus", "pushgateway", "promtool_check_metrics",
           "dxagent_run", "Proc", "alertmanager"]

_PACKAGES = {"prometheus": "prometheus", "promtool": "prometheus", "prometheus-pushgateway": "prometheus-pushgateway",
             "prometheus-node-exporter": "prometheus-node-exporter",
             "prometheus-blackbox-exporter": "prometheus-blackbox-exporter",
             "prometheus-alertmanager": "prometheus-alertmanager", "amtool": "prometheus-alertmanager"}


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"needs {binary} (Debian package {_PACKAGES.get(binary, binary)})")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, *, auth: tuple[str, str] | None = None, ca: str | Path | None = None,
             headers: dict[str, str] | None = None, timeout: float = 5.0, method: str = "GET",
             ) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, method=method, headers=dict(headers or {}))
    if auth is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    ctx = None
    if url.startswith("https:"):
        ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
        ctx.check_hostname = False
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def wait_http(url: str, timeout: float = 10.0, ok: Sequence[int] = (200,), **kw: Any) -> tuple[int, bytes]:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, _, body = http_get(url, timeout=2, **kw)
            if status in ok:
                return status, body
            last = status
        except (OSError, ssl.SSLError) as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer {list(ok)} within {timeout} s (last: {last})")


class Proc:
    """A child process whose stderr is collected in the background."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd,
                                     text=True, errors="replace")
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._lines.append(line.rstrip("\n"))

    def log(self) -> list[str]:
        return list(self._lines)

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(2)
        return int(self.proc.returncode)


class Prometheus(Proc):
    def __init__(self, argv: list[str], port: int, data_dir: Path) -> None:
        super().__init__(argv)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.data_dir = data_dir

    def _api(self, path: str, **params: str) -> Any:
        status, _, body = http_get(f"{self.url}{path}?{urllib.parse.urlencode(params)}")
        doc = json.loads(body)
        if status != 200 or doc.get("status") != "success":
            raise AssertionError(f"Prometheus {path} {params}: {status} {doc}")
        return doc["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self._api("/api/v1/query", query=expr)["result"])

    def targets(self) -> list[dict[str, Any]]:
        return list(self._api("/api/v1/targets")["activeTargets"])

    def wait_for(self, expr: str, predicate: Callable[[list[dict[str, Any]]], bool] = bool,
                 timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            result = self.query(expr)
            if predicate(result):
                return result
            time.sleep(0.25)
        health = [(t.get("scrapeUrl"), t.get("health"), t.get("lastError")) for t in self.targets()]
        raise AssertionError(f"{expr}: condition not met in {timeout} s; last result {result}; targets {health}")


@contextlib.contextmanager
def prometheus(tmp_path: Path, scrape_configs: list[dict[str, Any]], *, scrape_interval: str = "1s",
               rule_files: Sequence[str | Path] = (), alertmanagers: Sequence[str] = (),
               extra_args: Sequence[str] = ()) -> Iterator[Prometheus]:
    binary = need("prometheus")
    folder = Path(tempfile.mkdtemp(prefix="prom-", dir=tmp_path))
    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval,
                   "scrape_timeout": scrape_interval},
        "scrape_configs": scrape_configs,
    }
    if rule_files:
        config["rule_files"] = [str(p) for p in rule_files]
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    argv = [binary, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn", *extra_args]
    proc = Prometheus(argv, port, folder / "data")
    try:
        wait_http(f"{proc.url}/-/ready", timeout=20)
        yield proc
    finally:
        proc.stop(10)


class Pushgateway(Proc):
    def __init__(self, argv: list[str], port: int) -> None:
        super().__init__(argv)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def metrics(self) -> str:
        return http_get(f"{self.url}/metrics")[2].decode()

    def groups(self) -> list[dict[str, Any]]:
        return list(json.loads(http_get(f"{self.url}/api/v1/metrics")[2])["data"])


@contextlib.contextmanager
def pushgateway(tmp_path: Path, *, extra_args: Sequence[str] = ()) -> Iterator[Pushgateway]:
    binary = need("prometheus-pushgateway")
    port = free_port()
    # Debian's build persists to /var/lib/prometheus/pushgateway.data by default: groups from
    # earlier runs would reappear. Keep the file in the test's own folder.
    data = Path(tempfile.mkdtemp(prefix="pgw-", dir=tmp_path)) / "pushgateway.data"
    proc = Pushgateway([binary, f"--web.listen-address=127.0.0.1:{port}", f"--persistence.file={data}",
                        "--log.level=warn", *extra_args], port)
    try:
        wait_http(f"{proc.url}/-/ready", timeout=15)
        yield proc
    finally:
        proc.stop(10)


def promtool_check_metrics(text: str | bytes) -> tuple[bool, str]:
    binary = need("promtool")
    data = text.encode() if isinstance(text, str) else text
    done = subprocess.run([binary, "check", "metrics"], input=data, capture_output=True, timeout=30)
    out = (done.stdout + done.stderr).decode("utf-8", "replace")
    return done.returncode == 0 and not out.strip(), out


class Agent(Proc):
    def __init__(self, argv: list[str], port: int, env: dict[str, str]) -> None:
        super().__init__(argv, env=env)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def dxagent_run(config: str | Path, *, listen: str | None = None, args: Sequence[str] = (),
                env: dict[str, str] | None = None, scheme: str = "http", ca: str | Path | None = None,
                auth: tuple[str, str] | None = None) -> Iterator[Agent]:
    port = int(listen.rpartition(":")[2]) if listen else free_port()
    listen = listen or f"127.0.0.1:{port}"
    argv = [sys.executable, "-m", "dxagent", "run", "-c", str(config), "--listen", listen,
            "--log-format", "json", *args]
    full_env = {**os.environ, **(env or {})}
    agent = Agent(argv, port, full_env)
    agent.url = f"{scheme}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if agent.proc.poll() is not None:
                raise AssertionError(f"dxagent run exited with {agent.proc.returncode}: {agent.log()}")
            try:
                http_get(f"{agent.url}/healthz", ca=ca, auth=auth, timeout=2)
                break
            except (OSError, ssl.SSLError):
                if time.monotonic() > deadline:
                    raise AssertionError(f"dxagent run did not answer on {listen}: {agent.log()}") from None
                time.sleep(0.1)
        yield agent
    finally:
        agent.stop(20)


class Alertmanager(Proc):
    def __init__(self, argv: list[str], port: int) -> None:
        super().__init__(argv)
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.url = f"http://{self.address}"

    def alerts(self) -> list[dict[str, Any]]:
        return list(json.loads(http_get(f"{self.url}/api/v2/alerts")[2]))


@contextlib.contextmanager
def alertmanager(tmp_path: Path, config: dict[str, Any] | str, *, extra_args: Sequence[str] = ()) -> Iterator[Alertmanager]:
    binary = need("prometheus-alertmanager")
    folder = Path(tempfile.mkdtemp(prefix="am-", dir=tmp_path))
    (folder / "alertmanager.yml").write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    port = free_port()
    # --cluster.listen-address= turns gossip off: otherwise it binds 0.0.0.0:9094 and looks for peers.
    argv = [binary, f"--config.file={folder / 'alertmanager.yml'}", f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn", *extra_args]
    proc = Alertmanager(argv, port)
    try:
        wait_http(f"{proc.url}/-/ready", timeout=15)
        yield proc
    finally:
        proc.stop(10)

"""A real NUT server for tests: Debian's `upsd` serving a `dummy-ups` UPS whose state is a file.

Why: the `ups` kind must be tested against NUT itself, not a mock. The recipe (see
../shared/LAB.md): a private config folder (ups.conf, upsd.conf, upsd.users), a state folder the
driver and upsd share, `/lib/nut/dummy-ups` then `/lib/nut/upsd` in the foreground (`-D`), and
the test rewrites the `.dev` file to move the UPS between states (`OL`, `OB`, `OB LB`).

    with running_upsd(tmp_path) as nut:      # 127.0.0.1:<free port>, UPS "dummy", state OL
        nut.set_state("OB", **{"battery.runtime": 240})
        nut.host, nut.port, nut.ups
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.snmpd import stop_process

__all__ = ["NutServer", "running_upsd", "skip_unless_nut", "available", "ON_MAINS"]

DRIVER = Path("/lib/nut/dummy-ups")
UPSD = Path("/lib/nut/upsd")
ON_MAINS: dict[str, str | float] = {
    "ups.status": "OL", "battery.charge": 100, "battery.runtime": 1800, "ups.load": 30,
    "input.voltage": 229.5, "output.voltage": 230.0, "battery.temperature": 28.5, "ups.test.result": "Done and passed",
    "ups.mfr": "Dummy", "ups.model": "Test 1000",
}


def available() -> bool:
    return DRIVER.exists() and UPSD.exists()


def skip_unless_nut() -> None:
    if not available():
        pytest.skip("NUT's upsd and dummy-ups driver are not installed (Debian package nut-server)")


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class NutServer:
    folder: Path
    port: int
    ups: str = "dummy"
    host: str = "127.0.0.1"
    procs: list[subprocess.Popen[bytes]] = dataclasses.field(default_factory=list)

    @property
    def dev_file(self) -> Path:
        return self.folder / f"{self.ups}.dev"

    def set_state(self, status: str, **values: str | float) -> None:
        """Rewrite the UPS's variables (atomically): ups.status and any other NUT variable."""
        merged = {**ON_MAINS, **{k.replace("__", "."): v for k, v in values.items()}, "ups.status": status}
        tmp = self.dev_file.with_suffix(".tmp")
        tmp.write_text("".join(f"{k}: {v}\n" for k, v in merged.items()), encoding="utf-8")
        tmp.replace(self.dev_file)

    def wait_for(self, name: str, value: str, timeout: float = 10.0) -> None:
        """Until upsd serves `name` = `value` and the whole file (the driver reads it after starting)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = subprocess.run(["upsc", f"{self.ups}@{self.host}:{self.port}"], capture_output=True, text=True, timeout=5)
            served = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
            if served.get(name) == value and all(k in served for k in ON_MAINS):
                return
            time.sleep(0.1)
        raise RuntimeError(f"upsd does not serve {name}={value} after {timeout}s")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            stop_process(proc)
        self.procs.clear()


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"upsd exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.1)
    raise RuntimeError("upsd did not listen in time")


@contextlib.contextmanager
def running_upsd(workdir: Path, users: Mapping[str, str] | None = None, initial: str = "OL") -> Iterator[NutServer]:
    """upsd + dummy-ups on 127.0.0.1:<free port>; `users` (name → password) go in upsd.users."""
    skip_unless_nut()
    folder = workdir / "nut"
    state = folder / "state"
    state.mkdir(parents=True)
    state.chmod(0o777)
    nut = NutServer(folder=folder, port=_free_tcp_port())
    nut.set_state(initial)
    (folder / "ups.conf").write_text(f'[{nut.ups}]\n  driver = dummy-ups\n  port = {nut.dev_file}\n  desc = "test UPS"\n'
                                     "  pollinterval = 1\n", encoding="utf-8")
    (folder / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {nut.port}\n", encoding="utf-8")
    (folder / "upsd.users").write_text("".join(f"[{name}]\n  password = {pw}\n  upsmon secondary\n"
                                               for name, pw in (users or {}).items()), encoding="utf-8")
    (folder / "upsd.users").chmod(0o600)
    env = {**os.environ, "NUT_CONFPATH": str(folder), "NUT_STATEPATH": str(state)}
    try:
        driver = subprocess.Popen([str(DRIVER), "-a", nut.ups, "-u", "root", "-D"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        nut.procs.append(driver)
        deadline = time.monotonic() + 10
        while not any(state.glob(f"dummy-ups-{nut.ups}*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        upsd = subprocess.Popen([str(UPSD), "-u", "root", "-D"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        nut.procs.append(upsd)
        _wait_port(nut.port, upsd)
        nut.wait_for("ups.status", str(initial))
        yield nut
    finally:
        nut.stop()

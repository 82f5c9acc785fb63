"""A real Net-SNMP agent (Debian `snmpd`) for tests: private config, loopback port, always stopped.

Why: the `snmp` kind (and discovery) must be tested against a real agent, not a mock, and the
traps are easy to fall into (see ../shared/LAB.md): the listen address belongs in the config file
only, `-m ""` because Debian ships no MIBs, and a persistent folder distinct from the config
folder, since snmpd rewrites `snmpd.conf` in its persistent folder on exit.

API::

    from tests.snmpd import SnmpAgent, start_snmpd, running_snmpd, skip_unless_snmpd

    with running_snmpd(tmp_path) as agent:            # 127.0.0.1:<free port>, v2c + v3 authPriv
        agent.host, agent.port                        # where it listens
        agent.community                               # v2c read-only community
        agent.user, agent.auth_key, agent.priv_key    # v3 user (SHA / AES, authPriv)
        agent.net_snmp_args("v3")                     # ["-v3", "-l", "authPriv", ...] for snmpget/snmpbulkwalk
        agent.target()                                # "127.0.0.1:PORT" for Net-SNMP tools

    # Inside a network namespace (bench, discovery): serves that namespace's interfaces.
    agent = start_snmpd(workdir, netns="ns-name", host="10.203.5.2", port=161)
    ...
    agent.stop()

`snmpd_agent` is a ready pytest fixture (module scope) that skips when snmpd is missing. Extra
snmpd.conf lines (views, sysName) go in `extra_config`; more v3 users in `users`:

    users = v3_user_matrix()                          # every auth × priv combination snmpd supports
    with running_snmpd(tmp_path, users=users) as agent: ...

    # pysnmp's command responder as the agent, for the protocols Net-SNMP lacks (3DES) and as a
    # second peer for the key extensions:
    with running_pysnmp_agent(users) as (host, port): ...
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

__all__ = ["SnmpAgent", "start_snmpd", "running_snmpd", "skip_unless_snmpd", "free_udp_port", "snmpd_agent",
           "V3User", "v3_user_matrix", "running_pysnmp_agent", "SNMPD_AUTH", "SNMPD_PRIV"]

SNMPD = shutil.which("snmpd") or "/usr/sbin/snmpd"

# dxagent's protocol spellings → Net-SNMP's (snmpd.conf createUser and the -a/-x options).
SNMPD_AUTH = {"MD5": "MD5", "SHA": "SHA", "SHA224": "SHA-224", "SHA256": "SHA-256", "SHA384": "SHA-384",
              "SHA512": "SHA-512"}
SNMPD_PRIV = {"DES": "DES", "AES": "AES", "AES192": "AES-192", "AES256": "AES-256", "AES192C": "AES192C",
              "AES256C": "AES256C"}   # Net-SNMP 5.9 has no 3DES: running_pysnmp_agent covers it


@dataclasses.dataclass(frozen=True)
class V3User:
    """One SNMPv3 user, protocols in dxagent's spelling (see SNMPD_AUTH/SNMPD_PRIV)."""

    name: str
    level: str = "authPriv"
    auth_protocol: str = "SHA"
    auth_key: str = "dxtest-auth-key"
    priv_protocol: str = "AES"
    priv_key: str = "dxtest-priv-key"

    def snmpd_lines(self) -> str:
        """createUser + rouser for snmpd.conf (the user may read everything at exactly its level)."""
        if self.level == "noAuthNoPriv":
            return f"createUser {self.name}\nrouser {self.name} noauth\n"
        line = f"createUser {self.name} {SNMPD_AUTH[self.auth_protocol]} {self.auth_key}"
        if self.level == "authNoPriv":
            return f"{line}\nrouser {self.name} auth\n"
        return f"{line} {SNMPD_PRIV[self.priv_protocol]} {self.priv_key}\nrouser {self.name} priv\n"


def v3_user_matrix() -> list[V3User]:
    """An authPriv user for every auth × priv pair snmpd supports, plus noAuthNoPriv and authNoPriv users."""
    users = [V3User(f"u-{a.lower()}-{p.lower()}", "authPriv", a, f"auth-{a}-pass", p, f"priv-{p}-pass")
             for a in SNMPD_AUTH for p in SNMPD_PRIV]
    users.append(V3User("u-noauth", "noAuthNoPriv"))
    users += [V3User(f"u-{a.lower()}-nopriv", "authNoPriv", a, f"auth-{a}-only") for a in ("MD5", "SHA512")]
    return users


def skip_unless_snmpd() -> None:
    """pytest.skip with the reason when the Debian snmpd/snmp packages are not installed."""
    if not Path(SNMPD).exists():
        pytest.skip("needs Net-SNMP's snmpd (apt-get install snmpd)")


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port that was free a moment ago (start_snmpd retries if another process takes it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class SnmpAgent:
    """A running snmpd; `stop()` ends it (also called by the context manager and the fixture)."""

    host: str
    port: int
    community: str
    user: str
    auth_key: str
    priv_key: str
    workdir: Path
    proc: subprocess.Popen[bytes]
    auth_protocol: str = "SHA"
    priv_protocol: str = "AES"
    netns: str | None = None

    def target(self) -> str:
        return f"udp6:[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def net_snmp_args(self, version: str = "v2c") -> list[str]:
        """Authentication options for Net-SNMP command-line tools (snmpget, snmpbulkwalk)."""
        if version == "v2c":
            return ["-v2c", "-c", self.community]
        return ["-v3", "-l", "authPriv", "-u", self.user, "-a", self.auth_protocol, "-A", self.auth_key,
                "-x", self.priv_protocol, "-X", self.priv_key]

    def log(self) -> str:
        return (self.workdir / "snmpd.log").read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 5 s, and reap: no test leaves an agent running."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def start_snmpd(workdir: Path, *, host: str = "127.0.0.1", port: int | None = None, netns: str | None = None,
                community: str = "dxtest-ro-community", user: str = "dxtest", auth_key: str = "dxtest-auth-key",
                priv_key: str = "dxtest-priv-key", extra_config: str = "", users: Sequence[V3User] = (),
                timeout: float = 10.0) -> SnmpAgent:
    """Start snmpd with its own config under `workdir` and wait until it serves requests.

    The v2c community and the v3 user are read-only; the agent listens on `host` only (loopback,
    or an address inside the namespace), so nothing outside the test can reach it. Raises
    RuntimeError with the agent's log if it does not come up.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    attempts = 3 if port is None else 1
    for attempt in range(attempts):
        chosen = port if port is not None else free_udp_port(host)
        conf_dir, persist = workdir / "conf", workdir / "persist"
        conf_dir.mkdir(exist_ok=True)
        persist.mkdir(exist_ok=True)
        proto = "udp6" if ":" in host else "udp"
        addr = f"[{host}]" if ":" in host else host
        (conf_dir / "snmpd.conf").write_text(
            f"agentAddress {proto}:{addr}:{chosen}\n"
            f"rocommunity {community} default\n"
            f"rocommunity6 {community} default\n"
            f"createUser {user} SHA {auth_key} AES {priv_key}\n"
            f"rouser {user} priv\n"
            "sysLocation dxagent test lab\n"
            + "".join(u.snmpd_lines() for u in users)
            + f"{extra_config}\n"
        )
        log = workdir / "snmpd.log"
        argv = [SNMPD, "-f", "-Lo", "-C", "-m", "", "-I", "-smux", "-c", str(conf_dir / "snmpd.conf")]
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SNMP_PERSISTENT_DIR": str(persist)})
        agent = SnmpAgent(host, chosen, community, user, auth_key, priv_key, workdir, proc, netns=netns)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if proc.poll() is not None or "Error opening specified endpoint" in text:
                break
            if "NET-SNMP version" in text:
                return agent
            time.sleep(0.05)
        agent.stop()
        if attempt == attempts - 1:
            raise RuntimeError(f"snmpd did not start on {host}:{chosen}:\n{log.read_text(errors='replace')[-2000:]}")
    raise AssertionError("unreachable")


@contextlib.contextmanager
def running_snmpd(workdir: Path, **kwargs: object) -> Iterator[SnmpAgent]:
    """`start_snmpd` as a context manager: the agent is stopped on exit, whatever happens."""
    agent = start_snmpd(workdir, **kwargs)  # type: ignore[arg-type]
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture(scope="module")
def snmpd_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpAgent]:
    """A loopback snmpd shared by a test module (v2c community + v3 SHA/AES authPriv user)."""
    skip_unless_snmpd()
    with running_snmpd(tmp_path_factory.mktemp("snmpd")) as agent:
        yield agent


_PYSNMP_AGENT = """
import json, sys
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import cmdrsp, context

host, port, users = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
AUTH = {"MD5": config.USM_AUTH_HMAC96_MD5, "SHA": config.USM_AUTH_HMAC96_SHA,
        "SHA224": config.USM_AUTH_HMAC128_SHA224, "SHA256": config.USM_AUTH_HMAC192_SHA256,
        "SHA384": config.USM_AUTH_HMAC256_SHA384, "SHA512": config.USM_AUTH_HMAC384_SHA512}
PRIV = {"DES": config.USM_PRIV_CBC56_DES, "3DES": config.USM_PRIV_CBC168_3DES, "AES": config.USM_PRIV_CFB128_AES,
        "AES192": config.USM_PRIV_CFB192_AES_BLUMENTHAL, "AES256": config.USM_PRIV_CFB256_AES_BLUMENTHAL,
        "AES192C": config.USM_PRIV_CFB192_AES, "AES256C": config.USM_PRIV_CFB256_AES}
e = engine.SnmpEngine()
config.add_transport(e, udp.DOMAIN_NAME, udp.UdpTransport().open_server_mode((host, port)))
for u in users:
    config.add_v3_user(e, u["name"], AUTH[u["auth_protocol"]], u["auth_key"], PRIV[u["priv_protocol"]], u["priv_key"])
    config.add_vacm_user(e, 3, u["name"], "authPriv", (1, 3, 6, 1, 2, 1), (1, 3, 6, 1, 2, 1))
ctx = context.SnmpContext(e)
cmdrsp.GetCommandResponder(e, ctx)
cmdrsp.NextCommandResponder(e, ctx)
cmdrsp.BulkCommandResponder(e, ctx)
e.transport_dispatcher.job_started(1)
print("ready", flush=True)
e.open_dispatcher()
"""


@contextlib.contextmanager
def running_pysnmp_agent(users: Sequence[V3User], host: str = "127.0.0.1") -> Iterator[tuple[str, int]]:
    """pysnmp's own command responder with `users` (authPriv), on loopback; stopped on exit.

    Why: an SNMPv3 agent for the protocols snmpd does not have (3DES), and a second opinion on
    the key extensions (Blumenthal and Reeder). Skips when pysnmp is not installed.
    """
    try:
        import pysnmp  # noqa: F401
    except ImportError:
        pytest.skip("needs pysnmp (the test extra) for an independent SNMPv3 agent")
    port = free_udp_port(host)
    spec = json.dumps([dataclasses.asdict(u) for u in users])
    proc = subprocess.Popen([sys.executable, "-c", _PYSNMP_AGENT, host, str(port), spec],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if b"ready" not in line:
            raise RuntimeError(f"pysnmp agent did not start: {line + proc.stdout.read(2000)!r}")
        out = proc.stdout
        threading.Thread(target=lambda: out.read(), daemon=True).start()   # drain: a chatty child never blocks
        time.sleep(0.1)   # open_dispatcher runs right after the print
        yield host, port
    finally:
        stop_process(proc)

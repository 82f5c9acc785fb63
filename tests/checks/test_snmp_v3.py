"""SNMP sessions (pysnmp) against real agents: every v3 protocol pair snmpd supports, pysnmp's own
agent for 3DES and the Reeder variants, each kind of wrong credential, one engine reused across
probes, an agent restart, IPv6.

Why: the config names these protocols and the results name these failures, so each combination
and each message is proven against real agents rather than assumed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from snmpd import SnmpAgent, V3User, running_pysnmp_agent, running_snmpd, skip_unless_snmpd, snmpd_agent, v3_user_matrix  # noqa: F401

from dxagent.checks import snmp
from dxagent.checks.snmp import access, session
from dxagent.checks.snmp.session import Credentials, SnmpError
from dxagent.model import Reason, Status
from dxagent.probe import ProbeContext

SYS_DESCR, SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 1, 0), (1, 3, 6, 1, 2, 1, 1, 5, 0)
IF_DESCR = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
USERS = v3_user_matrix()


def _creds(u: V3User, **change: Any) -> Credentials:
    return dataclasses.replace(Credentials(version="v3", user=u.name, level=u.level,  # type: ignore[arg-type]
                                           auth_protocol=u.auth_protocol, auth_key=u.auth_key,
                                           priv_protocol=u.priv_protocol, priv_key=u.priv_key), **change)


async def _read(host: str, port: int, creds: Credentials, timeout: float = 1.0,
                retries: int = 0) -> tuple[dict[tuple[int, ...], Any], dict[tuple[int, ...], Any], int]:
    s = await session.connect(host, port, creds, timeout=timeout, retries=retries)
    got = await s.get([SYS_DESCR, SYS_NAME])
    walked = await s.walk([IF_DESCR], max_repetitions=5)
    return got, walked[IF_DESCR], s.requests


def _fail(host: str, port: int, creds: Credentials, timeout: float = 0.3) -> SnmpError:
    """The error of a read that must fail; `.elapsed` is its time once the loop's engine exists."""
    async def read() -> None:
        session.engine()
        t0 = time.monotonic()
        try:
            await _read(host, port, creds, timeout)
        finally:
            elapsed.append(time.monotonic() - t0)

    elapsed: list[float] = []
    with pytest.raises(SnmpError) as err:
        asyncio.run(read())
    err.value.elapsed = elapsed[0]  # type: ignore[attr-defined]
    return err.value


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpAgent]:
    """One snmpd with a user for every protocol pair (plus noAuthNoPriv and authNoPriv users)."""
    skip_unless_snmpd()
    with running_snmpd(tmp_path_factory.mktemp("snmpd-v3"), users=USERS) as agent:
        yield agent


@pytest.mark.parametrize("user", USERS, ids=[u.name for u in USERS])
def test_every_protocol_pair_snmpd_supports(matrix: SnmpAgent, user: V3User) -> None:
    got, ifaces, _ = asyncio.run(_read(matrix.host, matrix.port, _creds(user)))
    assert got[SYS_DESCR].startswith(b"Linux") and got[SYS_NAME]
    assert b"lo" in ifaces.values()


@pytest.mark.parametrize("auth, priv", [("SHA", "3DES"), ("MD5", "3DES"), ("SHA512", "3DES"), ("MD5", "AES256C"),
                                        ("SHA", "AES192C"), ("SHA256", "AES256"), ("SHA384", "DES")])
def test_pysnmp_agent_as_independent_peer(auth: str, priv: str) -> None:
    user = V3User(f"p-{auth}-{priv}".lower(), "authPriv", auth, "pysnmp-auth-pass", priv, "pysnmp-priv-pass")
    with running_pysnmp_agent([user]) as (host, port):
        async def read() -> dict[tuple[int, ...], Any]:
            s = await session.connect(host, port, _creds(user), timeout=2.0, retries=1)
            got = await s.get([SYS_DESCR])
            table = await s.walk([(1, 3, 6, 1, 2, 1, 1)], max_repetitions=3)
            assert len(table[(1, 3, 6, 1, 2, 1, 1)]) >= 5
            return got

        assert asyncio.run(read())[SYS_DESCR].startswith(b"PySNMP engine")


def test_wrong_user_auth_key_priv_key_are_told_apart(matrix: SnmpAgent) -> None:
    user = next(u for u in USERS if u.name == "u-sha-aes")
    wrong_user = _fail(matrix.host, matrix.port, _creds(user, user="nobody"))
    wrong_auth = _fail(matrix.host, matrix.port, _creds(user, auth_key="wrong-auth-key"))
    wrong_auth_proto = _fail(matrix.host, matrix.port, _creds(user, auth_protocol="MD5"))
    wrong_priv = _fail(matrix.host, matrix.port, _creds(user, priv_key="wrong-priv-key"), timeout=0.3)
    assert wrong_priv.elapsed <= 0.3 + 0.25           # type: ignore[attr-defined]  (+ scheduling on a busy machine)
    assert (wrong_user.kind, wrong_user.detail) == ("auth", "unknown user name")
    assert (wrong_auth.kind, wrong_auth.detail) == ("auth", "wrong authentication key or protocol (digest mismatch)")
    assert wrong_auth_proto.detail == wrong_auth.detail
    # Net-SNMP drops what it cannot decrypt without a report: the check words that timeout for v3
    assert (wrong_priv.kind, wrong_priv.detail) == ("timeout", "no response")
    for err in (wrong_user, wrong_auth, wrong_priv):
        assert "wrong-" not in str(err) and user.auth_key not in str(err) and user.priv_key not in str(err)


def test_security_level_above_the_users_is_reported(matrix: SnmpAgent) -> None:
    noauth = next(u for u in USERS if u.level == "noAuthNoPriv")
    err = _fail(matrix.host, matrix.port, _creds(noauth, level="authNoPriv", auth_key="some-auth-key"))
    assert (err.kind, err.detail) == ("auth", "security level not supported for this user")


def test_probe_results_name_the_wrong_credential(matrix: SnmpAgent) -> None:
    user = next(u for u in USERS if u.name == "u-sha256-aes256")
    base = {"id": "r", "host": matrix.host, "port": matrix.port, "version": "v3", "user": user.name,
            "auth_protocol": "SHA256", "auth_key": user.auth_key, "priv_protocol": "AES256", "priv_key": user.priv_key,
            "request_timeout": 0.3, "request_retries": 0, "interfaces": ["lo"]}

    def run(**change: Any) -> list[Any]:
        cfg = snmp.Config.model_validate({**base, **change})
        return asyncio.run(snmp.probe(cfg, ProbeContext("r", "snmp", timeout=2.5)))

    device, lo = run()
    assert device.status == Status.OK and lo.details["name"] == "lo"
    summaries = {}
    for change in ({"user": "nobody"}, {"auth_key": "wrong-auth-key"}, {"priv_key": "wrong-priv-key"}):
        [r] = run(**change)
        assert r.status == Status.CRIT and r.hint is not None
        text = json.dumps(r.to_dict()) + json.dumps(r.to_dict("vi"))
        assert "wrong-" not in text and user.auth_key not in text and user.priv_key not in text
        summaries[next(iter(change))] = (r.reason, r.summary.en)
    assert summaries["user"][0] == summaries["auth_key"][0] == Reason.AUTH
    assert summaries["priv_key"][0] == Reason.TIMEOUT and "privacy key" in summaries["priv_key"][1]
    assert len({s for _, s in summaries.values()}) == 3


class _Relay:
    """A loopback UDP relay in front of an agent that counts the requests passing through: what
    the probe really sent, retries and v3 discovery included."""

    def __init__(self, agent: tuple[str, int]) -> None:
        self.agent, self.sent = agent, 0
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.port = self.front.getsockname()[1]

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.front.setblocking(False)
        back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        back.setblocking(False)
        with back:
            while True:
                data, client = await loop.sock_recvfrom(self.front, 65535)
                self.sent += 1
                await loop.sock_sendto(back, data, self.agent)
                reply = await asyncio.wait_for(loop.sock_recv(back, 65535), 2.0)
                await loop.sock_sendto(self.front, reply, client)


def test_one_engine_across_probes_discovers_once(matrix: SnmpAgent) -> None:
    """The second probe in the same loop reuses the engine: no discovery, only its own requests."""
    user = next(u for u in USERS if u.name == "u-sha-aes")
    relay = _Relay((matrix.host, matrix.port))

    async def two_probes() -> tuple[int, int, int, int, object, object]:
        task = asyncio.create_task(relay.run())
        try:
            _, _, first_requests = await _read("127.0.0.1", relay.port, _creds(user))
            first, engine = relay.sent, session.engine()
            _, _, second_requests = await _read("127.0.0.1", relay.port, _creds(user))
            return first, first_requests, relay.sent - first, second_requests, engine, session.engine()
        finally:
            task.cancel()
            relay.front.close()

    first, first_requests, second, second_requests, e1, e2 = asyncio.run(two_probes())
    assert e1 is e2
    assert first > first_requests                     # discovery (engine ID, boots, time) went first
    assert second == second_requests                  # the second probe sent only its own requests


async def _engine() -> object:
    return session.engine()


def test_agent_restart_is_followed(tmp_path: Path) -> None:
    """A device that reboots keeps its engine ID (routers derive it from a MAC address) and comes
    back with a new clock: the same engine, in the same loop, must carry on reading it."""
    skip_unless_snmpd()
    user = V3User("restarter", "authPriv", "SHA512", "restart-auth-pass", "AES", "restart-priv-pass")
    keep_id = "engineID dxagent-test-engine"
    with asyncio.Runner() as runner:
        with running_snmpd(tmp_path / "a", users=[user], extra_config=keep_id) as first:
            port = first.port
            time.sleep(1.5)                                   # let its clock run ahead of the next one
            got, _, _ = runner.run(_read(first.host, port, _creds(user)))
            assert got[SYS_NAME]
            engine = runner.run(_engine())
        with running_snmpd(tmp_path / "a", port=port, users=[user], extra_config=keep_id) as second:
            got, _, _ = runner.run(_read(second.host, port, _creds(user)))
            assert runner.run(_engine()) is engine
    assert got[SYS_NAME]


def test_agent_back_with_a_new_engine_id_is_read_again_in_the_same_probe(tmp_path: Path) -> None:
    """A replaced device, or an agent that does not keep its engine ID (snmpd without `engineID`),
    answers for an engine pysnmp has no user for; pysnmp alone would time out for 300 s. The
    session sees that answer, renews the engine and asks again: the read succeeds."""
    skip_unless_snmpd()
    user = V3User("replaced", "authPriv", "SHA", "replace-auth-pass", "AES", "replace-priv-pass")
    with asyncio.Runner() as runner:
        with running_snmpd(tmp_path / "a", users=[user]) as first:
            port = first.port
            assert runner.run(_read(first.host, port, _creds(user)))[0][SYS_NAME]
            engine = runner.run(_engine())
        with running_snmpd(tmp_path / "b", port=port, users=[user]) as second:
            got, _, _ = runner.run(_read(second.host, port, _creds(user), timeout=1.0, retries=1))
            renewed = runner.run(_engine())
            again, _, _ = runner.run(_read(second.host, port, _creds(user), timeout=1.0, retries=1))
    assert got[SYS_NAME] and again[SYS_NAME]
    assert renewed is not engine


def test_ipv6_v2c_and_v3(tmp_path: Path) -> None:
    skip_unless_snmpd()
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback (::1) on this host")
    user = V3User("six", "authPriv", "SHA256", "six-auth-pass", "AES", "six-priv-pass")
    with running_snmpd(tmp_path / "v6", host="::1", users=[user]) as agent:
        got, ifaces, _ = asyncio.run(_read("::1", agent.port, _creds(user)))
        assert got[SYS_DESCR].startswith(b"Linux") and b"lo" in ifaces.values()
        got, _, _ = asyncio.run(_read("::1", agent.port, Credentials(version="v2c", community=agent.community)))
        assert got[SYS_NAME]
        cfg = snmp.Config(id="v6", host="::1", port=agent.port, version="v2c", community=agent.community,
                          interfaces=("lo",))
        device, lo = asyncio.run(snmp.probe(cfg, ProbeContext("v6", "snmp", timeout=2.5)))
        assert device.status == Status.OK and device.target == f"[::1]:{agent.port}" and lo.details["name"] == "lo"


def test_pysnmp_is_loaded_by_the_first_probe_not_by_the_config(snmpd_agent: SnmpAgent) -> None:  # noqa: F811
    import subprocess
    import sys

    code = (
        "import asyncio, sys\n"
        "from dxagent.config import load_text\nfrom dxagent.checks import snmp\nfrom dxagent.probe import ProbeContext\n"
        f"cfg = load_text('checks:\\n  - id: x\\n    kind: snmp\\n    host: 127.0.0.1\\n    port: {snmpd_agent.port}\\n"
        f"    version: v3\\n    user: {snmpd_agent.user}\\n    auth_key: {snmpd_agent.auth_key}\\n"
        f"    priv_key: {snmpd_agent.priv_key}\\n    interfaces: [lo]\\n').checks[0]\n"
        "before = 'pysnmp' in sys.modules\n"
        "rs = asyncio.run(snmp.probe(cfg, ProbeContext('x', 'snmp', timeout=2.5)))\n"
        "print(rs[0].status.name, before, 'pysnmp' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["OK", "False", "True"], out.stderr


def test_same_user_name_with_other_keys_on_two_agents_at_once(tmp_path: Path) -> None:
    """Two devices with a user of the same name and different keys, polled concurrently on the one
    engine: neither request may go out (or be checked) with the other device's keys."""
    skip_unless_snmpd()
    a_user = V3User("monitor", "authPriv", "SHA", "router-auth-pass", "AES", "router-priv-pass")
    b_user = V3User("monitor", "authPriv", "SHA256", "switch-auth-pass", "AES256", "switch-priv-pass")
    with running_snmpd(tmp_path / "a", users=[a_user]) as a, running_snmpd(tmp_path / "b", users=[b_user]) as b:
        async def both() -> list[Any]:
            reads = [_read(a.host, a.port, _creds(a_user)), _read(b.host, b.port, _creds(b_user))] * 4
            return await asyncio.gather(*reads, return_exceptions=True)

        results = asyncio.run(both())
    assert all(not isinstance(r, BaseException) and r[0][SYS_NAME] for r in results), results


def test_the_config_names_every_protocol_pysnmp_offers() -> None:
    import typing

    from pysnmp.hlapi.v3arch import asyncio as hl

    offered = {n for n in dir(hl) if n.startswith(("USM_AUTH_", "USM_PRIV_")) and not n.endswith("_NONE")}
    assert set(session.AUTH_PROTOCOLS.values()) | set(session.PRIV_PROTOCOLS.values()) == offered
    assert set(typing.get_args(access.AuthProtocol)) == set(session.AUTH_PROTOCOLS)
    assert set(typing.get_args(access.PrivProtocol)) == set(session.PRIV_PROTOCOLS)

"""Our SNMP client against real agents: every v3 protocol pair snmpd supports, pysnmp's agent for
3DES and the Reeder variants, each kind of wrong credential, engine discovery caching, IPv6.

Why: the client speaks SNMP on its own now (no pysnmp at runtime), so each protocol combination
and each failure message is proven against real agents rather than assumed.
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
from dxagent.checks.snmp import usm as usm
from dxagent.checks.snmp.client import Credentials, Session, SnmpError
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
    async with Session(host, port, creds, timeout=timeout, retries=retries) as s:
        got = await s.get([SYS_DESCR, SYS_NAME])
        walked = await s.walk_columns([IF_DESCR], max_repetitions=5)
        return got, walked[IF_DESCR], s.requests


def _fail(host: str, port: int, creds: Credentials, timeout: float = 0.3) -> SnmpError:
    with pytest.raises(SnmpError) as err:
        asyncio.run(_read(host, port, creds, timeout))
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
            async with Session(host, port, _creds(user), timeout=2.0, retries=1) as s:
                got = await s.get([SYS_DESCR])
                table = await s.walk_columns([(1, 3, 6, 1, 2, 1, 1)], max_repetitions=3)
                assert len(table[(1, 3, 6, 1, 2, 1, 1)]) >= 5
                return got

        assert asyncio.run(read())[SYS_DESCR].startswith(b"PySNMP engine")


def test_wrong_user_auth_key_priv_key_are_told_apart(matrix: SnmpAgent) -> None:
    user = next(u for u in USERS if u.name == "u-sha-aes")
    wrong_user = _fail(matrix.host, matrix.port, _creds(user, user="nobody"))
    wrong_auth = _fail(matrix.host, matrix.port, _creds(user, auth_key="wrong-auth-key"))
    wrong_auth_proto = _fail(matrix.host, matrix.port, _creds(user, auth_protocol="MD5"))
    t0 = time.monotonic()
    wrong_priv = _fail(matrix.host, matrix.port, _creds(user, priv_key="wrong-priv-key"), timeout=0.3)
    assert time.monotonic() - t0 < 0.3 + 0.5
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


def test_discovery_is_cached_and_stale_engines_are_relearned(matrix: SnmpAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    user = next(u for u in USERS if u.name == "u-sha-aes")
    key = (matrix.host, matrix.port, user.name)
    usm.forget_engine(key)
    discoveries: list[int] = []
    real = usm.Usm.discovery
    monkeypatch.setattr(usm.Usm, "discovery", staticmethod(lambda mid, pdu: discoveries.append(mid) or real(mid, pdu)))
    asyncio.run(_read(matrix.host, matrix.port, _creds(user)))
    asyncio.run(_read(matrix.host, matrix.port, _creds(user)))
    assert len(discoveries) == 1                         # the second probe reused the engine ID and clock
    engine = usm.cached_engine(key)
    assert engine is not None and engine.engine_id.startswith(b"\x80\x00\x1f\x88")   # Net-SNMP's enterprise
    # a clock far off: the agent answers notInTimeWindow (authenticated), we resync and carry on
    usm.remember_engine(key, usm.Engine(engine.engine_id, engine.boots, engine.time + 100000, time.monotonic()))
    got, _, _ = asyncio.run(_read(matrix.host, matrix.port, _creds(user)))
    assert got[SYS_NAME] and len(discoveries) == 1
    # boots behind the agent's (as after a reboot): notInTimeWindow again, resync, carry on
    usm.remember_engine(key, usm.Engine(engine.engine_id, max(0, engine.boots - 1), 5, time.monotonic()))
    got, _, _ = asyncio.run(_read(matrix.host, matrix.port, _creds(user)))
    assert got[SYS_NAME] and len(discoveries) == 1 and usm.cached_engine(key).boots == engine.boots  # type: ignore[union-attr]
    # a wrong engine ID (the device was replaced): unknownEngineID report → rediscover
    usm.remember_engine(key, usm.Engine(b"\x80\x00\x00\x00\x01bogus", 1, 1, time.monotonic()))
    got, _, _ = asyncio.run(_read(matrix.host, matrix.port, _creds(user)))
    assert got[SYS_NAME] and len(discoveries) == 2
    assert usm.cached_engine(key).engine_id == engine.engine_id  # type: ignore[union-attr]


def test_agent_restart_is_followed(tmp_path: Path) -> None:
    """snmpd -C keeps no persistent state: a restart brings a new engine ID and clock, which the
    cached engine must not survive (unknownEngineID report → discovery again)."""
    skip_unless_snmpd()
    user = V3User("restarter", "authPriv", "SHA512", "restart-auth-pass", "AES", "restart-priv-pass")
    with running_snmpd(tmp_path / "a", users=[user]) as first:
        port = first.port
        asyncio.run(_read(first.host, port, _creds(user)))
        before = usm.cached_engine((first.host, port, user.name))
        assert before is not None
    with running_snmpd(tmp_path / "a", port=port, users=[user]) as second:   # same persistent folder
        got, _, _ = asyncio.run(_read(second.host, port, _creds(user)))
    after = usm.cached_engine((second.host, port, user.name))
    assert got[SYS_NAME] and after is not None and after.engine_id != before.engine_id


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


def test_pysnmp_is_not_imported_by_a_probe(snmpd_agent: SnmpAgent) -> None:  # noqa: F811
    import subprocess
    import sys

    code = (
        "import asyncio, sys\n"
        "from dxagent.checks import snmp\nfrom dxagent.probe import ProbeContext\n"
        f"cfg = snmp.Config(id='x', host='127.0.0.1', port={snmpd_agent.port}, version='v3', user='{snmpd_agent.user}',"
        f" auth_key='{snmpd_agent.auth_key}', priv_key='{snmpd_agent.priv_key}', interfaces=['lo'])\n"
        "rs = asyncio.run(snmp.probe(cfg, ProbeContext('x', 'snmp', timeout=2.5)))\n"
        "print(rs[0].status.name, any(m.split('.')[0] in ('pysnmp', 'pyasn1') for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["OK", "False"], out.stderr

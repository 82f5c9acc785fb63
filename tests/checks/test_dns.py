"""`dns` against the system resolver (/etc/hosts names) and a real DNS responder on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import dns.message
import dns.rcode
import dns.rrset
import pytest

from dxagent import aio
from dxagent.checks.dns import Config, judge, split_server
from dxagent.model import Reason, Status
from dxagent.runner import Runner
from tests.udpserver import serve_udp

ZONE = {
    ("portal.test.", "A"): ["10.1.2.3", "10.1.2.4"],
    ("mail.test.", "MX"): ["10 mx1.mail.test."],
    ("slow.test.", "A"): ["10.9.9.9"],
}


def _answer(data: bytes, peer: object) -> bytes | None:
    query = dns.message.from_wire(data)
    q = query.question[0]
    name, rtype = q.name.to_text(), dns.rdatatype.to_text(q.rdtype)
    if name == "slow.test.":
        return None  # never answers
    response = dns.message.make_response(query)
    answers = ZONE.get((name, rtype))
    if answers:
        response.answer.append(dns.rrset.from_text(name, 60, "IN", rtype, *answers))
    elif not any(k[0] == name for k in ZONE):
        response.set_rcode(dns.rcode.NXDOMAIN)
    return response.to_wire()


@pytest.fixture
def responder() -> Iterator[int]:
    """A real UDP DNS server on 127.0.0.1 answering from ZONE (NXDOMAIN otherwise)."""
    with serve_udp(_answer) as port:
        yield port


def run(**fields: object):
    cfg = Config.model_validate({"id": "d", "kind": "dns", "timeout": "2s", **fields})
    return aio.run(Runner().run_all([cfg]))[0]


def test_system_resolver_localhost() -> None:
    r = run(name="localhost")
    assert r.status == Status.OK
    assert "127.0.0.1" in r.details["answers"] or "::1" in r.details["answers"]
    assert {s.name for s in r.samples} == {"dns_lookup_success", "dns_lookup_seconds", "dns_answers"}


def test_system_resolver_expectation() -> None:
    r = run(name="localhost", record_type="A", expect=["127.0.0.1"])
    assert r.status == Status.OK
    r = run(name="localhost", record_type="A", expect=["10.0.0.1"])
    assert r.status == Status.CRIT and r.reason == Reason.CONTENT
    assert "not 10.0.0.1" in r.hint.en and "127.0.0.1" in r.hint.en and "localhost" in r.hint.vi


def test_system_resolver_failure() -> None:
    r = run(name="nothing.invalid")
    assert r.status == Status.CRIT and r.reason == Reason.DNS
    assert "nothing.invalid" in r.hint.en and "nothing.invalid" in r.hint.vi and "/etc/resolv.conf" in r.hint.en


def test_server_query_a_and_expect(responder: int) -> None:
    r = run(name="portal.test", server=f"127.0.0.1:{responder}", record_type="A", expect=["10.1.2.3"])
    assert r.status == Status.OK and sorted(r.details["answers"]) == ["10.1.2.3", "10.1.2.4"]


def test_server_query_mx(responder: int) -> None:
    r = run(name="mail.test", server=f"127.0.0.1:{responder}", record_type="MX", expect=["mx1.mail.test"])
    assert r.status == Status.OK, r.summary


def test_server_nxdomain(responder: int) -> None:
    r = run(name="nope.test", server=f"127.0.0.1:{responder}", record_type="A")
    assert r.status == Status.CRIT and r.reason == Reason.DNS and r.details["rcode"] == "NXDOMAIN"
    assert f"127.0.0.1:{responder} says nope.test does not exist (NXDOMAIN)" in r.hint.en


def test_server_silent_times_out(responder: int) -> None:
    r = run(name="slow.test", server=f"127.0.0.1:{responder}", record_type="A", timeout="1s")
    assert r.status == Status.CRIT and r.reason == Reason.TIMEOUT
    assert r.duration < 1.5
    assert f"127.0.0.1 port {responder}" in r.hint.en and f"cổng {responder}" in r.hint.vi  # not "53"


def test_split_server() -> None:
    assert split_server("10.0.0.53") == ("10.0.0.53", 53)
    assert split_server("ns.local:5353") == ("ns.local", 5353)
    assert split_server("[::1]:5353") == ("::1", 5353)


def test_judge() -> None:
    cfg = Config.model_validate({"id": "d", "kind": "dns", "name": "x", "expect": ["1.1.1.1"], "thresholds": {"warn": "500ms"}})
    assert judge(cfg, [], 0.1)[0:2] == (Status.CRIT, Reason.DNS)
    assert judge(cfg, ["1.1.1.1"], 0.5)[0:2] == (Status.OK, None)  # at the limit is still OK
    assert judge(cfg, ["2.2.2.2"], 0.1) == (Status.CRIT, Reason.CONTENT, ["1.1.1.1"])
    assert judge(cfg, ["1.1.1.1"], 0.6)[0:2] == (Status.WARN, Reason.THRESHOLD)
    assert judge(cfg, ["1.1.1.1"], 0.1)[0:2] == (Status.OK, None)


def test_bad_server_is_a_config_error() -> None:
    from dxagent.config import ConfigError, load_text

    with pytest.raises(ConfigError, match=r"checks\[0\].server"):
        load_text("checks:\n  - id: d\n    kind: dns\n    name: x\n    server: 'a:b:c:99999'\n")


def test_probe_is_cancellable() -> None:
    async def main() -> None:
        cfg = Config.model_validate({"id": "d", "kind": "dns", "name": "localhost"})
        from dxagent.checks.dns import probe
        from dxagent.probe import ProbeContext

        r = await probe(cfg, ProbeContext("d", "dns"))
        assert r.status == Status.OK

    asyncio.run(main())

"""`dns`: does a name resolve, how fast, and to the expected answers.

Without `server` the system resolver is used (getaddrinfo: /etc/hosts, nsswitch, the
configured resolvers), which is what every other program on the site sees. With `server` the
query goes to that DNS server directly (dnspython), for any record type: that tells a broken
local resolver apart from a broken upstream.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from typing import Literal

from pydantic import Field, field_validator, model_validator

from dxagent.config.check import CheckConfig
from dxagent.limits import TimeLimit, defaults
from dxagent.model import Reason, Result, Sample, Status, t
from dxagent.probe import ProbeContext, run_blocking

__all__ = ["EXAMPLE", "METRICS", "Config", "judge", "probe"]

METRICS: dict[str, str] = {
    "dns_lookup_success": "1 if the name resolved (and matched the expected answers), else 0.",
    "dns_lookup_seconds": "Time to resolve the name.",
    "dns_answers": "Number of answers returned.",
}

EXAMPLE = """\
# Does the national portal's name resolve? (system resolver, as browsers see it)
- id: dns-portal
  kind: dns
  name: dichvucong.gov.vn
# Ask the provincial DNS server directly for the mail exchanger.
- id: dns-mx
  kind: dns
  name: tinh.gov.vn
  server: 10.0.0.53        # IP or host, optional :port
  record_type: MX
  expect: ["mail.tinh.gov.vn."]   # every listed answer must be present
  thresholds: {warn: 500ms, crit: 2s}  # resolution time
"""

RecordType = Literal["A", "AAAA", "ANY_ADDRESS", "CNAME", "MX", "NS", "TXT", "SRV", "PTR", "SOA"]


class Config(CheckConfig):
    """Resolve `name` with the system resolver or a given server."""

    kind: Literal["dns"] = "dns"
    name: str = Field(min_length=1, max_length=253, description="Name to resolve (or an IP for PTR).")
    server: str | None = Field(None, description="DNS server `host[:port]` to ask directly; default: the system resolver.")
    record_type: RecordType = Field("ANY_ADDRESS", description="Record type; ANY_ADDRESS = A and AAAA.")
    expect: tuple[str, ...] = Field((), description="Answers that must all be present (IPs or record text).")
    thresholds: TimeLimit = defaults(TimeLimit(), "Limits on the resolution time.")

    @field_validator("server")
    @classmethod
    def _server(cls, v: str | None) -> str | None:
        if v is not None:
            host, port = split_server(v)
            if v.count(":") > 1 and not v.startswith("[") and not _is_ip(v):
                raise ValueError("expected host or host:port (IPv6 as [addr]:port)")
            if not host or not 0 < port < 65536:
                raise ValueError("expected host or host:port (IPv6 as [addr]:port)")
        return v

    @model_validator(mode="after")
    def _system_types(self) -> Config:
        if self.server is None and self.record_type not in ("A", "AAAA", "ANY_ADDRESS"):
            raise ValueError(f"record_type {self.record_type} needs `server` (the system resolver only answers A/AAAA)")
        return self

    def target_label(self) -> str:
        return self.name if self.server is None else f"{self.name}@{self.server}"


def split_server(value: str) -> tuple[str, int]:
    """`1.2.3.4`, `ns:5353`, `[::1]:53` → (host, port)."""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else 53
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, int(port) if port.isdigit() else -1
    return value, 53


def judge(cfg: Config, answers: list[str], seconds: float) -> tuple[Status, Reason | None, list[str]]:
    """Compare answers with `expect` and time with the thresholds; returns missing answers too (pure)."""
    norm = {a.lower().rstrip(".") for a in answers}
    missing = [e for e in cfg.expect if e.lower().rstrip(".") not in norm]
    if not answers:
        return Status.CRIT, Reason.DNS, missing
    if missing:
        return Status.CRIT, Reason.CONTENT, missing
    status = cfg.thresholds.level(seconds)
    return status, (Reason.THRESHOLD if status != Status.OK else None), []


def _system_lookup(name: str, record_type: str) -> list[str]:
    family = {"A": socket.AF_INET, "AAAA": socket.AF_INET6}.get(record_type, socket.AF_UNSPEC)
    infos = socket.getaddrinfo(name, None, family=family, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def _server_lookup(cfg: Config, budget: float) -> tuple[list[str], str]:
    import dns.asyncquery
    import dns.exception
    import dns.flags
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.reversename

    host, port = split_server(cfg.server or "")
    try:
        ipaddress.ip_address(host)
        where = host
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        where = str(infos[0][4][0])
    qname = dns.reversename.from_address(cfg.name) if cfg.record_type == "PTR" and _is_ip(cfg.name) else cfg.name
    types = ["A", "AAAA"] if cfg.record_type == "ANY_ADDRESS" else [cfg.record_type]
    answers: list[str] = []
    rcode_text = "NOERROR"
    for rtype in types:
        query = dns.message.make_query(qname, dns.rdatatype.from_text(rtype))
        response = await dns.asyncquery.udp(query, where, timeout=budget, port=port)
        if response.flags & dns.flags.TC:
            response = await dns.asyncquery.tcp(query, where, timeout=budget, port=port)
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            rcode_text = dns.rcode.to_text(rcode)
            continue
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.from_text(rtype):
                answers.extend(_rdata_text(r) for r in rrset)
    return answers, rcode_text


def _rdata_text(rdata: object) -> str:
    text = rdata.to_text()  # type: ignore[attr-defined]
    if getattr(rdata, "rdtype", None) is not None and type(rdata).__name__ == "MX":
        return str(rdata.exchange)  # type: ignore[attr-defined]
    return text.strip('"')


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


async def probe(cfg: Config, ctx: ProbeContext) -> Result:
    target = cfg.target_label()
    t0 = time.monotonic()
    rcode = "NOERROR"
    try:
        if cfg.server is None:
            answers = await asyncio.wait_for(run_blocking(_system_lookup, cfg.name, cfg.record_type), ctx.timeout)
        else:
            answers, rcode = await asyncio.wait_for(_server_lookup(cfg, ctx.timeout), ctx.timeout)
    except TimeoutError as exc:
        del exc
        return ctx.result(Status.CRIT, t("no DNS answer for {name} within {s:.1f}s", "không có phản hồi DNS cho {name} trong {s:.1f}s",
                                         name=cfg.name, s=ctx.timeout),
                          target=target, reason=Reason.TIMEOUT, samples=[Sample.of("dns_lookup_success", 0)],
                          hint=_hint_unreachable(cfg, ctx.timeout))
    except socket.gaierror as exc:
        return ctx.result(Status.CRIT, t("{name} does not resolve: {err}", "{name} không phân giải được: {err}",
                                         name=cfg.name, err=exc.strerror or str(exc)),
                          target=target, reason=Reason.DNS, samples=[Sample.of("dns_lookup_success", 0)],
                          hint=t("The system resolver says {name} does not resolve: check the spelling, the record at the "
                                 "domain's DNS servers, and the DNS servers in this machine's network settings "
                                 "(/etc/resolv.conf).",
                                 "Bộ phân giải của hệ thống báo {name} không phân giải được: kiểm tra chính tả, bản ghi "
                                 "trên máy chủ DNS của tên miền, và máy chủ DNS trong cấu hình mạng của máy này "
                                 "(/etc/resolv.conf).", name=cfg.name),
                          details={"error": exc.strerror or str(exc)})
    except OSError as exc:
        return ctx.result(Status.CRIT, t("cannot query {server}: {err}", "không truy vấn được {server}: {err}",
                                         server=cfg.server or "resolver", err=exc.strerror or str(exc)),
                          target=target, reason=Reason.CONNECT, samples=[Sample.of("dns_lookup_success", 0)],
                          hint=_hint_unreachable(cfg, ctx.timeout))
    seconds = time.monotonic() - t0
    status, reason, missing = judge(cfg, answers, seconds)
    samples = [Sample.of("dns_lookup_success", 1 if status != Status.CRIT else 0),
               Sample.of("dns_lookup_seconds", seconds), Sample.of("dns_answers", len(answers))]
    details = {"answers": answers[:20], "rcode": rcode, "record_type": cfg.record_type}
    if not answers:
        return ctx.result(status, t("{name}: no {rt} answer ({rcode})", "{name}: không có bản ghi {rt} ({rcode})",
                                    name=cfg.name, rt=cfg.record_type, rcode=rcode),
                          target=target, reason=reason, samples=samples, details=details, hint=_hint_empty(cfg, rcode))
    shown = ", ".join(answers[:3]) + (" …" if len(answers) > 3 else "")
    if missing:
        return ctx.result(status, t("{name} → {shown}; missing expected {missing}", "{name} → {shown}; thiếu {missing}",
                                    name=cfg.name, shown=shown, missing=", ".join(missing)),
                          target=target, reason=reason, samples=samples, details=details,
                          hint=t("{name} resolves to {shown}, not {missing}: check the {rt} record of {name} on its DNS "
                                 "servers, or whether {resolver} rewrites answers.",
                                 "{name} phân giải ra {shown}, không có {missing}: kiểm tra bản ghi {rt} của {name} trên "
                                 "máy chủ DNS của tên miền, hoặc {resolver} có sửa câu trả lời không.",
                                 name=cfg.name, shown=shown, missing=", ".join(missing), rt=cfg.record_type,
                                 resolver=cfg.server or "the system resolver"))
    return ctx.result(status, t("{name} → {shown} in {ms:.0f} ms", "{name} → {shown} trong {ms:.0f} ms",
                                name=cfg.name, shown=shown, ms=seconds * 1000),
                      target=target, reason=reason, samples=samples, details=details,
                      hint=_hint_slow(cfg, seconds, status) if status != Status.OK else None)


def _hint_unreachable(cfg: Config, timeout: float) -> object:  # a Text
    """No answer at all: the resolver or the named server, with its port."""
    if cfg.server is None:
        return t("The system resolver gave no answer for {name} within {s:g} s: check the DNS servers in the network "
                 "settings (/etc/resolv.conf) and the internet link; compare with a `dns` check against the provincial "
                 "server.",
                 "Bộ phân giải của hệ thống không trả lời cho {name} trong {s:g} giây: kiểm tra máy chủ DNS trong cấu "
                 "hình mạng (/etc/resolv.conf) và đường truyền internet; so sánh với kiểm tra `dns` tới máy chủ của "
                 "tỉnh.", name=cfg.name, s=timeout)
    host, port = split_server(cfg.server)
    return t("The DNS server {host} port {port} does not answer: check that it runs, that it serves this machine, and "
             "that UDP and TCP port {port} are open from here.",
             "Máy chủ DNS {host} cổng {port} không trả lời: kiểm tra máy chủ đang chạy, cho phép máy này truy vấn, và "
             "cổng UDP, TCP {port} được mở từ máy này.", host=host, port=port)


def _hint_empty(cfg: Config, rcode: str) -> object:  # a Text
    """An answer without records: what the response code says to do."""
    server = cfg.server or "the system resolver"
    if rcode == "NXDOMAIN":
        return t("{server} says {name} does not exist (NXDOMAIN): check the spelling and the zone of the domain.",
                 "{server} báo {name} không tồn tại (NXDOMAIN): kiểm tra chính tả và vùng (zone) của tên miền.",
                 server=server, name=cfg.name)
    if rcode == "SERVFAIL":
        return t("{server} failed to resolve {name} (SERVFAIL): check its forwarders or upstream link, and the DNSSEC "
                 "signatures of the domain.",
                 "{server} không phân giải được {name} (SERVFAIL): kiểm tra máy chủ chuyển tiếp hoặc đường truyền của "
                 "nó, và chữ ký DNSSEC của tên miền.", server=server, name=cfg.name)
    if rcode == "REFUSED":
        return t("{server} refused to answer this machine (REFUSED): allow it in the server's ACL or recursion settings.",
                 "{server} từ chối trả lời máy này (REFUSED): cho phép máy này trong ACL hoặc cấu hình đệ quy của máy chủ.",
                 server=server)
    return t("{name} has no {rt} record at {server} ({rcode}): add the record, or check `record_type`.",
             "{name} không có bản ghi {rt} trên {server} ({rcode}): thêm bản ghi, hoặc kiểm tra `record_type`.",
             name=cfg.name, rt=cfg.record_type, server=server, rcode=rcode)


def _hint_slow(cfg: Config, seconds: float, status: Status) -> object:  # a Text
    """Slow resolution: the time and the limit it crossed."""
    limit = cfg.thresholds.crit if status == Status.CRIT else cfg.thresholds.warn
    return t("Resolving {name} took {ms:.0f} ms (limit {limit} ms): check the load of {server} and the link to it.",
             "Phân giải {name} mất {ms:.0f} ms (ngưỡng {limit} ms): kiểm tra tải của {server} và đường truyền tới đó.",
             name=cfg.name, ms=seconds * 1000, limit=f"{limit * 1000:.0f}" if limit is not None else "?",
             server=cfg.server or "the DNS servers in /etc/resolv.conf")

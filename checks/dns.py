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
                          hint=_hint_unreachable(cfg))
    except socket.gaierror as exc:
        return ctx.result(Status.CRIT, t("{name} does not resolve: {err}", "{name} không phân giải được: {err}",
                                         name=cfg.name, err=exc.strerror or str(exc)),
                          target=target, reason=Reason.DNS, samples=[Sample.of("dns_lookup_success", 0)],
                          hint=_hint_unreachable(cfg), details={"error": exc.strerror or str(exc)})
    except OSError as exc:
        return ctx.result(Status.CRIT, t("cannot query {server}: {err}", "không truy vấn được {server}: {err}",
                                         server=cfg.server or "resolver", err=exc.strerror or str(exc)),
                          target=target, reason=Reason.CONNECT, samples=[Sample.of("dns_lookup_success", 0)],
                          hint=_hint_unreachable(cfg))
    seconds = time.monotonic() - t0
    status, reason, missing = judge(cfg, answers, seconds)
    samples = [Sample.of("dns_lookup_success", 1 if status != Status.CRIT else 0),
               Sample.of("dns_lookup_seconds", seconds), Sample.of("dns_answers", len(answers))]
    details = {"answers": answers[:20], "rcode": rcode, "record_type": cfg.record_type}
    if not answers:
        return ctx.result(status, t("{name}: no {rt} answer ({rcode})", "{name}: không có bản ghi {rt} ({rcode})",
                                    name=cfg.name, rt=cfg.record_type, rcode=rcode),
                          target=target, reason=reason, samples=samples, details=details, hint=_hint_unreachable(cfg))
    shown = ", ".join(answers[:3]) + (" …" if len(answers) > 3 else "")
    if missing:
        return ctx.result(status, t("{name} → {shown}; missing expected {missing}", "{name} → {shown}; thiếu {missing}",
                                    name=cfg.name, shown=shown, missing=", ".join(missing)),
                          target=target, reason=reason, samples=samples, details=details,
                          hint=t("The name resolves to other addresses than expected: check the DNS records or a hijacking resolver.",
                                 "Tên phân giải ra địa chỉ khác mong đợi: kiểm tra bản ghi DNS hoặc máy chủ DNS bị can thiệp."))
    return ctx.result(status, t("{name} → {shown} in {ms:.0f} ms", "{name} → {shown} trong {ms:.0f} ms",
                                name=cfg.name, shown=shown, ms=seconds * 1000),
                      target=target, reason=reason, samples=samples, details=details,
                      hint=t("Resolution is slow: check the resolver and the uplink.", "Phân giải tên chậm: kiểm tra máy chủ DNS và đường truyền.")
                      if status != Status.OK else None)


def _hint_unreachable(cfg: Config) -> object:
    if cfg.server is None:
        return t("Check the DNS servers in the network settings (/etc/resolv.conf) and the internet link; compare with the `dns` check against the provincial server.",
                 "Kiểm tra máy chủ DNS trong cấu hình mạng (/etc/resolv.conf) và đường truyền internet; so sánh với kiểm tra `dns` tới máy chủ của tỉnh.")
    return t("The DNS server does not answer: check that it runs and that UDP/TCP 53 is allowed.",
             "Máy chủ DNS không trả lời: kiểm tra máy chủ đang chạy và cổng UDP/TCP 53 được mở.")

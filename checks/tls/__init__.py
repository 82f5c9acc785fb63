"""`tls`: the certificate chain a TLS endpoint presents, its expiry and whether it verifies.

Unlike a verifying client (and blackbox_exporter), the facts and days left are reported even when
the chain does not verify: an expired or misconfigured certificate is exactly when the technician
needs to see its dates. One handshake does both: OpenSSL verifies against the system store plus
`ca_file`, and the chain the server presented is kept even when verification fails
(checks/tls/client.py). The handshake runs over memory BIOs on asyncio streams, so STARTTLS
(SMTP, IMAP, POP3) and the timeout work the same as for plain TLS.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import socket
import ssl
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from dxagent.checks.tls import certinfo as ci
from dxagent.checks.tls import client as _tlsclient
from dxagent.checks.tls.client import Handshake
from dxagent.config.check import CheckConfig
from dxagent.limits import DaysLimit
from dxagent.model import Reason, Result, Sample, Status, Text, t
from dxagent.probe import ProbeContext

__all__ = ["Config", "probe", "judge", "EXAMPLE", "METRICS", "Handshake"]

METRICS: dict[str, str] = {
    "tls_handshake_success": "1 if the TLS handshake completed (whether or not the chain verifies), else 0.",
    "tls_verified": "1 if the presented chain verifies against the trust store and names the host, else 0.",
    "tls_chain_earliest_not_after_timestamp_seconds": "Earliest not-after time of the presented chain (as blackbox_exporter's probe_ssl_earliest_cert_expiry), reported even when verification fails.",
    "tls_cert_not_after_timestamp_seconds": "Not-after time of each presented certificate (position 0 = leaf).",
    "tls_cert_not_before_timestamp_seconds": "Not-before time of each presented certificate (position 0 = leaf).",
    "tls_handshake_seconds": "Time of the TLS handshake, after TCP connect and STARTTLS.",
}

EXAMPLE = """\
# Certificate of the national public-service portal: days left and chain validity.
- id: tls-dichvucong
  kind: tls
  host: dichvucong.gov.vn
  port: 443
  interval: 1h
  timeout: 10s
  thresholds: {warn: 30, crit: 7}   # days left
  # starttls: smtp                  # none | smtp | imap | pop3 (mail servers, port 25/587/143/110)
  # ca_file: /etc/dxagent/ca/gov-root.pem   # extra trusted roots (PEM)
"""

MAX_LABELLED = 5  # chain positions exported as samples; longer chains only appear in details
VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")


class Config(CheckConfig):
    """Handshake with `host:port` (optionally after STARTTLS) and judge the presented certificates."""

    kind: Literal["tls"] = "tls"
    host: str = Field(min_length=1, description="Host name or IP address to connect to.")
    port: int = Field(443, ge=1, le=65535, description="TCP port (443 HTTPS, 465/587/25 mail, 993 IMAPS, 636 LDAPS…).")
    server_name: str | None = Field(
        None, min_length=1, description="Name sent as SNI and checked against the certificate (default: `host`)."
    )
    starttls: Literal["none", "smtp", "imap", "pop3"] = Field("none", description="Protocol upgrade before TLS.")
    ca_file: Path | None = Field(None, description="Extra trusted CA certificates (PEM), added to the system store.")
    ip_family: Literal["any", "ipv4", "ipv6"] = Field("any", description="Address family to use.")
    verify: bool = Field(
        True, description="Set false to judge only the dates (internal servers with private certificates)."
    )
    min_version: Literal["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] = Field(
        "TLSv1.2", description="A lower negotiated TLS version makes the check warn."
    )
    thresholds: DaysLimit = ci.days_thresholds()

    @field_validator("host", "server_name")
    @classmethod
    def _host_name(cls, value: str | None) -> str | None:
        if value is not None and not _is_ip(value):
            try:
                value.encode("idna")
            except UnicodeError:
                raise ValueError(f"{value!r} is not a valid host name") from None
        return value

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not os.access(value, os.R_OK):
            raise ValueError(f"cannot read {value}")
        return value

    def target_label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def check_name(self) -> str:
        """The name verified against the certificate (an IP address is checked against IP SANs)."""
        return self.server_name or self.host


class StartTLSError(Exception):
    """The server did not accept the protocol upgrade; the message quotes its reply."""


# ----------------------------------------------------------------------------- judging (pure)


def judge(
    th: DaysLimit, leaf_days: float, chain_days: float, issues: list[str], *, verify: bool = True,
    version: str = "TLSv1.3", min_version: str = "TLSv1.2",
) -> tuple[Status, Reason | None, str]:
    """Measurements → (status, reason, what decided it: an issue key, "expiry", "version" or "ok")."""
    if verify and issues:
        return Status.CRIT, Reason.TLS, issues[0]
    days = min(leaf_days, chain_days)
    if days <= 0:
        return Status.CRIT, Reason.TLS, "expired"
    status = ci.judge_days(days, th)
    if status != Status.OK:
        return status, Reason.THRESHOLD, "expiry"
    if version in VERSIONS and VERSIONS.index(version) < VERSIONS.index(min_version):
        return Status.WARN, Reason.TLS, "version"
    return Status.OK, None, "ok"


# ----------------------------------------------------------------------------- I/O


_FAMILY = {"any": socket.AF_UNSPEC, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}


async def _line(reader: asyncio.StreamReader) -> str:
    raw = await reader.readline()
    if not raw:
        raise StartTLSError("server closed the connection")
    return raw.decode("utf-8", "replace").rstrip("\r\n")


async def _smtp_reply(reader: asyncio.StreamReader) -> tuple[str, list[str]]:
    """One (multi-line) SMTP reply: its code and its lines; bounded against endless replies."""
    lines: list[str] = []
    for _ in range(100):
        line = await _line(reader)
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return line[:3], lines
    raise StartTLSError("SMTP reply longer than 100 lines")


async def _starttls(proto: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
    """Speak just enough SMTP/IMAP/POP3 to upgrade; returns the server's greeting."""
    if proto == "smtp":
        code, lines = await _smtp_reply(reader)
        if code != "220":
            raise StartTLSError(f"unexpected SMTP greeting: {lines[0][:120]}")
        writer.write(b"EHLO dxagent.invalid\r\n")
        code, caps = await _smtp_reply(reader)
        if code != "250":
            raise StartTLSError(f"EHLO refused: {caps[-1][:120]}")
        if not any(c[4:].strip().upper().startswith("STARTTLS") for c in caps):
            raise StartTLSError("server does not offer STARTTLS")
        writer.write(b"STARTTLS\r\n")
        code, reply = await _smtp_reply(reader)
        if code != "220":
            raise StartTLSError(f"STARTTLS refused: {reply[-1][:120]}")
        return lines[0]
    if proto == "imap":
        greeting = await _line(reader)
        if not greeting.upper().startswith("* OK"):
            raise StartTLSError(f"unexpected IMAP greeting: {greeting[:120]}")
        writer.write(b"a001 STARTTLS\r\n")
        for _ in range(100):
            line = await _line(reader)
            if line.startswith("a001 "):
                if line[5:].upper().startswith("OK"):
                    return greeting
                raise StartTLSError(f"STARTTLS refused: {line[:120]}")
        raise StartTLSError("no tagged reply to STARTTLS")
    greeting = await _line(reader)  # pop3
    if not greeting.startswith("+OK"):
        raise StartTLSError(f"unexpected POP3 greeting: {greeting[:120]}")
    writer.write(b"STLS\r\n")
    reply = await _line(reader)
    if not reply.startswith("+OK"):
        raise StartTLSError(f"STLS refused: {reply[:120]}")
    return greeting


async def probe(cfg: Config, ctx: ProbeContext) -> Result:
    """Resolve, connect, upgrade if asked, handshake; every expected failure is a result with its phase."""
    target = cfg.target_label()
    loop = asyncio.get_running_loop()
    phase = "dns"
    details: dict[str, Any] = {"starttls": cfg.starttls}
    try:
        sslctx = _tlsclient.context(cfg.ca_file)
    except OSError as exc:  # ssl.SSLError included
        return _fail(ctx, target, Reason.CONFIG, "config", details,
                     t("cannot use ca_file {path}: {err}", "không dùng được ca_file {path}: {err}",
                       path=cfg.ca_file, err=_ssl_err(exc) if isinstance(exc, ssl.SSLError) else _err(exc)),
                     t("Give a readable PEM file of CA certificates in `ca_file`.",
                       "Khai báo trong `ca_file` một tệp PEM chứa chứng chỉ CA và có quyền đọc."))
    try:
        async with asyncio.timeout(ctx.timeout):
            family, addr = await _resolve(loop, cfg)
            details["address"] = addr[0]
            phase = "connect"
            if cfg.starttls == "none":  # the socket itself: no stream objects for a handshake and a close
                sock = socket.socket(family, socket.SOCK_STREAM)
                try:
                    sock.setblocking(False)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio's transports do
                    await loop.sock_connect(sock, addr)
                    phase = "tls"
                    t0 = time.monotonic()
                    hs = await _tlsclient.handshake(functools.partial(loop.sock_recv, sock, 65536),
                                                    functools.partial(loop.sock_sendall, sock), _sni(cfg), sslctx)
                    handshake_s = time.monotonic() - t0
                finally:
                    sock.close()
            else:
                reader, writer = await asyncio.open_connection(addr[0], addr[1], family=family)
                try:
                    phase = "starttls"
                    details["banner"] = (await _starttls(cfg.starttls, reader, writer))[:200]
                    phase = "tls"
                    t0 = time.monotonic()
                    hs = await _tlsclient.handshake(functools.partial(reader.read, 65536), functools.partial(_send, writer),
                                                    _sni(cfg), sslctx)
                    handshake_s = time.monotonic() - t0
                finally:
                    writer.close()
    except TimeoutError:
        return _fail(ctx, target, Reason.TIMEOUT, phase, details,
                     t("timeout during {phase}", "hết thời gian chờ ở bước {phase}", phase=phase),
                     t("No answer in time: the host is down, a firewall drops packets, or the service hangs.",
                       "Không có phản hồi kịp thời: máy đích tắt, tường lửa chặn gói tin hoặc dịch vụ bị treo."))
    except (socket.gaierror, UnicodeError) as exc:
        return _fail(ctx, target, Reason.DNS, phase, details,
                     t("cannot resolve {host}: {err}", "không phân giải được {host}: {err}", host=cfg.host, err=_err(exc)),
                     t("Check the name and the DNS servers (`dns` check).", "Kiểm tra tên và máy chủ DNS (kiểm tra `dns`)."))
    except StartTLSError as exc:
        return _fail(ctx, target, Reason.CONTENT, phase, details,
                     t("STARTTLS ({proto}) failed: {err}", "STARTTLS ({proto}) thất bại: {err}", proto=cfg.starttls, err=exc),
                     t("Check that the port speaks {proto} and offers STARTTLS.",
                       "Kiểm tra cổng có đúng giao thức {proto} và hỗ trợ STARTTLS.", proto=cfg.starttls.upper()))
    except ssl.SSLError as exc:
        return _fail(ctx, target, Reason.TLS, phase, details,
                     t("TLS handshake failed: {err}", "bắt tay TLS thất bại: {err}", err=_ssl_err(exc)),
                     t("The port may not speak TLS (try `starttls`), or the server rejects every version and cipher.",
                       "Cổng có thể không dùng TLS (thử `starttls`), hoặc máy chủ từ chối mọi phiên bản và bộ mã hoá."))
    except OSError as exc:
        connecting = phase == "connect"
        return _fail(ctx, target, Reason.CONNECT, phase, details,
                     t("cannot connect to {addr}: {err}", "không kết nối được tới {addr}: {err}",
                       addr=details.get("address"), err=_err(exc)) if connecting
                     else t("connection lost during {phase}: {err}", "mất kết nối ở bước {phase}: {err}", phase=phase, err=_err(exc)),
                     t("Check that the service listens on the port and the firewall allows it.",
                       "Kiểm tra dịch vụ có nghe trên cổng và tường lửa cho phép."))
    return _report(cfg, ctx, target, hs, handshake_s, details)


async def _resolve(loop: asyncio.AbstractEventLoop, cfg: Config) -> tuple[int, tuple[Any, ...]]:
    """(family, socket address) to connect to; an IP literal of the wanted family skips the resolver's thread."""
    try:
        ip = ipaddress.ip_address(cfg.host.strip("[]"))
    except ValueError:
        pass
    else:
        family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
        if cfg.ip_family == "any" or _FAMILY[cfg.ip_family] == family:
            return family, ((str(ip), cfg.port) if ip.version == 4 else (str(ip), cfg.port, 0, 0))
    infos = await loop.getaddrinfo(cfg.host, cfg.port, family=_FAMILY[cfg.ip_family], type=socket.SOCK_STREAM)
    family, _, _, _, addr = infos[0]
    return family, addr


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return False


def _sni(cfg: Config) -> str | None:
    name = cfg.check_name()
    return None if _is_ip(name) else name  # RFC 6066: no SNI for IP literals


def _report(cfg: Config, ctx: ProbeContext, target: str, hs: Handshake, handshake_s: float,
            details: dict[str, Any]) -> Result:
    now = time.time()
    samples = [Sample.of("tls_handshake_success", 1), Sample.of("tls_handshake_seconds", handshake_s)]
    details.update(tls_version=hs.version, cipher=hs.cipher, cipher_bits=hs.cipher_bits, server_name=cfg.check_name())
    if not hs.chain:
        samples.append(Sample.of("tls_verified", 0))
        return ctx.result(Status.CRIT, t("the server presented no certificate", "máy chủ không gửi chứng chỉ"),
                          target=target, reason=Reason.TLS, samples=samples, details=details, hint=ci.HINTS["other"])
    chain_facts = [ci.facts(c, now) for c in hs.chain]
    issues = ci.classify(hs.errors, hs.chain, cfg.check_name())
    leaf = chain_facts[0]
    earliest = min(chain_facts, key=lambda f: f["not_after_timestamp"])
    leaf_days = ci.days_left(leaf["not_after_timestamp"], now)
    chain_days = ci.days_left(earliest["not_after_timestamp"], now)
    verified = not issues
    samples += [Sample.of("tls_verified", verified),
                Sample.of("tls_chain_earliest_not_after_timestamp_seconds", earliest["not_after_timestamp"])]
    for pos, f in enumerate(chain_facts[:MAX_LABELLED]):
        samples.append(Sample.of("tls_cert_not_after_timestamp_seconds", f["not_after_timestamp"], position=pos))
        samples.append(Sample.of("tls_cert_not_before_timestamp_seconds", f["not_before_timestamp"], position=pos))
    details.update({k: leaf[k] for k in ("subject", "issuer", "sans", "serial", "not_before", "not_after", "days_left",
                                         "key_type", "key_bits", "signature_algorithm", "sha256")})
    details.update(verified=verified, verify_issues=[i.to_dict() for i in issues], chain=chain_facts[:10],
                   chain_length=len(chain_facts), earliest_expiry=earliest["not_after"])
    status, reason, what = judge(cfg.thresholds, leaf_days, chain_days, [i.key for i in issues],
                                 verify=cfg.verify, version=hs.version, min_version=cfg.min_version)
    summary = ci.tls_summary(what, issues, leaf_days, chain_days, earliest, hs.version, verified)
    if what == "version":
        summary = Text(f"only {hs.version} negotiated (minimum {cfg.min_version}); {summary.en}",
                       f"chỉ thương lượng được {hs.version} (tối thiểu {cfg.min_version}); {summary.vi}")
    return ctx.result(status, summary, target=target, reason=reason, samples=samples, details=details,
                      hint=ci.HINTS.get(what) if status != Status.OK else None)


def _fail(ctx: ProbeContext, target: str, reason: Reason, phase: str, details: dict[str, Any],
          summary: Text, hint: Text) -> Result:
    return ctx.result(Status.CRIT, summary, target=target, reason=reason, hint=hint,
                      samples=[Sample.of("tls_handshake_success", 0), Sample.of("tls_verified", 0)],
                      details={**details, "phase": phase})


def _err(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _ssl_err(exc: BaseException) -> str:
    return _tlsclient.ssl_error_text(exc)


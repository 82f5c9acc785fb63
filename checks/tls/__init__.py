"""`tls`: the certificate chain a TLS endpoint presents, its expiry and whether it verifies.

Unlike a verifying client (and blackbox_exporter), the facts and days left are reported even when
the chain does not verify: an expired or misconfigured certificate is exactly when the technician
needs to see its dates. OpenSSL verifies against the system store plus `ca_file` and checks the
host name; the presented chain is kept either way and read with cryptography.x509
(checks/tls/client.py, certinfo.py). STARTTLS (SMTP, IMAP, POP3) comes before the handshake.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from dxagent.checks.tls import certinfo as ci
from dxagent.checks.tls import client as _tlsclient
from dxagent.checks.tls import hints
from dxagent.checks.tls.client import Handshake
from dxagent.checks.tls.starttls import StartTLSError, upgrade
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


class _Channel:
    """One connection to the target, upgraded with STARTTLS if asked: `recv`, `send`, `close`; `phase` says how far."""

    def __init__(self) -> None:
        self.phase = "dns"
        self._close: Callable[[], None] = lambda: None
        self.recv: _tlsclient.Recv
        self.send: _tlsclient.Send

    async def open(self, cfg: Config, family: int, addr: tuple[Any, ...], details: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        self.phase = "connect"
        if cfg.starttls == "none":  # the socket itself: no stream objects for a handshake and a close
            sock = socket.socket(family, socket.SOCK_STREAM)
            self._close = sock.close
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio's transports do
            await loop.sock_connect(sock, addr)
            self.recv = functools.partial(loop.sock_recv, sock, 65536)
            self.send = functools.partial(loop.sock_sendall, sock)
        else:
            reader, writer = await asyncio.open_connection(addr[0], addr[1], family=family)
            self._close = writer.close
            self.phase = "starttls"
            banner = await upgrade(cfg.starttls, reader, writer)
            details.setdefault("banner", banner[:200])
            self.recv = functools.partial(reader.read, 65536)
            self.send = functools.partial(_send, writer)
        self.phase = "tls"

    def close(self) -> None:
        self._close()


async def probe(cfg: Config, ctx: ProbeContext) -> Result:
    """Resolve, connect, upgrade if asked, handshake, then let OpenSSL check the name; failures are results with their phase."""
    target = cfg.target_label()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.timeout
    details: dict[str, Any] = {"starttls": cfg.starttls}
    try:
        sslctx = _tlsclient.openssl_context(cfg.ca_file)
    except (OSError, ValueError) as exc:
        return _fail(ctx, target, Reason.CONFIG, "config", details,
                     t("cannot use ca_file {path}: {err}", "không dùng được ca_file {path}: {err}", path=cfg.ca_file,
                       err=_err(exc)),
                     t("Give in `ca_file` a readable PEM file of CA certificates (now {path}).",
                       "Khai báo trong `ca_file` một tệp PEM chứa chứng chỉ CA và có quyền đọc (hiện là {path}).",
                       path=cfg.ca_file))
    chan = _Channel()
    try:
        async with asyncio.timeout_at(deadline):
            family, addr = await _resolve(loop, cfg)
            details["address"] = addr[0]
            try:
                await chan.open(cfg, family, addr, details)
                t0 = time.monotonic()
                hs = await _tlsclient.handshake(chan.recv, chan.send, _sni(cfg), sslctx)
                handshake_s = time.monotonic() - t0
            finally:
                chan.close()
            if hs.chain:
                await _check_name(cfg, family, addr, hs, details, deadline)
    except TimeoutError:
        return _fail(ctx, target, Reason.TIMEOUT, chan.phase, details,
                     t("timeout during {phase}", "hết thời gian chờ ở bước {phase}", phase=chan.phase),
                     _timeout_hint(chan.phase, target, ctx.timeout))
    except (socket.gaierror, UnicodeError) as exc:
        return _fail(ctx, target, Reason.DNS, chan.phase, details,
                     t("cannot resolve {host}: {err}", "không phân giải được {host}: {err}", host=cfg.host, err=_err(exc)),
                     t("Check the name {host} and the DNS servers of this machine (`dns` check).",
                       "Kiểm tra tên {host} và máy chủ DNS của máy này (kiểm tra `dns`).", host=cfg.host))
    except StartTLSError as exc:
        return _fail(ctx, target, Reason.CONTENT, chan.phase, details,
                     t("STARTTLS ({proto}) failed: {err}", "STARTTLS ({proto}) thất bại: {err}", proto=cfg.starttls, err=exc),
                     t("Check that {target} speaks {proto} and offers STARTTLS (implicit-TLS ports such as 465 and "
                       "993 need `starttls: none`).",
                       "Kiểm tra {target} có đúng giao thức {proto} và hỗ trợ STARTTLS (cổng TLS trực tiếp như 465, "
                       "993 cần `starttls: none`).", target=target, proto=cfg.starttls.upper()))
    except _tlsclient.UnreadableCertificate as exc:
        return _fail(ctx, target, Reason.TLS, chan.phase, details, t("{err}", "{err}", err=exc),
                     hints.hint("other", target=target, server_name=cfg.check_name()))  # type: ignore[arg-type]
    except _tlsclient.HandshakeError as exc:
        return _fail(ctx, target, Reason.TLS, chan.phase, details,
                     t("TLS handshake failed: {err}", "bắt tay TLS thất bại: {err}", err=exc),
                     t("{target} may not speak TLS (a mail port needs `starttls`), or it accepts none of the versions "
                       "and ciphers offered (TLS 1.0-1.3).",
                       "{target} có thể không dùng TLS (cổng thư cần `starttls`), hoặc không chấp nhận phiên bản và bộ "
                       "mã hoá nào (TLS 1.0-1.3).", target=target))
    except OSError as exc:
        connecting = chan.phase == "connect"
        return _fail(ctx, target, Reason.CONNECT, chan.phase, details,
                     t("cannot connect to {addr}: {err}", "không kết nối được tới {addr}: {err}",
                       addr=details.get("address"), err=_err(exc)) if connecting
                     else t("connection lost during {phase}: {err}", "mất kết nối ở bước {phase}: {err}",
                            phase=chan.phase, err=_err(exc)),
                     t("Check that a service listens on {target} and that the firewall between lets this machine in.",
                       "Kiểm tra có dịch vụ nghe trên {target} và tường lửa cho phép máy này kết nối.", target=target)
                     if connecting else
                     t("{target} closed the connection during {phase}: check its TLS configuration and logs.",
                       "{target} đóng kết nối ở bước {phase}: kiểm tra cấu hình TLS và nhật ký của máy chủ.",
                       target=target, phase=chan.phase))
    return _report(cfg, ctx, target, hs, handshake_s, details)


async def _check_name(cfg: Config, family: int, addr: tuple[Any, ...], hs: Handshake, details: dict[str, Any],
                      deadline: float) -> None:
    """OpenSSL's host-name verdict, added to `hs.errors`; when it cannot be had, details say why (never a failure)."""
    name = cfg.check_name().strip("[]")
    known, verdict = _tlsclient.known_name(hs.chain[0], name)
    if not known:
        chan = _Channel()
        try:
            async with asyncio.timeout_at(deadline - 0.05):
                await chan.open(cfg, family, addr, {})
                verdict = await _tlsclient.check_name(chan.recv, chan.send, name, hs.chain[0])
        except TimeoutError:
            details["name_check"] = "timeout"
            return
        except (OSError, ssl.SSLError, StartTLSError, ValueError) as exc:
            details["name_check"] = f"undecided: {_err(exc)}"
            return
        finally:
            chan.close()
        _tlsclient.remember_name(hs.chain[0], name, verdict)
    details["name_check"] = "mismatch" if verdict else "match"
    if verdict is not None:
        hs.errors.append((0, verdict[0], hs.chain[0]))


def _timeout_hint(phase: str, target: str, timeout: float) -> Text:
    if phase == "connect":
        return t("No answer from {target} within {s:g} s: the host is down, or a firewall drops the packets.",
                 "{target} không phản hồi trong {s:g} giây: máy đích tắt hoặc tường lửa chặn gói tin.", target=target, s=timeout)
    return t("{target} accepted the connection but stalled during {phase} for {s:g} s: the service hangs or is "
             "overloaded; restart it or raise `timeout`.",
             "{target} nhận kết nối nhưng treo ở bước {phase} quá {s:g} giây: dịch vụ bị treo hoặc quá tải; khởi động "
             "lại dịch vụ hoặc tăng `timeout`.", target=target, phase=phase, s=timeout)


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
                          target=target, reason=Reason.TLS, samples=samples, details=details,
                          hint=hints.hint("other", target=target, server_name=cfg.check_name()))
    chain_facts = [ci.facts(c, now) for c in hs.chain]
    issues = ci.classify(hs.errors, hs.chain, cfg.check_name())
    leaf = chain_facts[0]
    earliest = min(chain_facts, key=lambda f: f["not_after_timestamp"])
    leaf_days = ci.days_left(leaf["not_after_timestamp"], now)
    chain_days = ci.days_left(earliest["not_after_timestamp"], now)
    verified = not issues and details.get("name_check") == "match"  # a name not checked is not verified
    samples += [Sample.of("tls_verified", verified),
                Sample.of("tls_chain_earliest_not_after_timestamp_seconds", earliest["not_after_timestamp"])]
    for pos, f in enumerate(chain_facts[:MAX_LABELLED]):
        samples.append(Sample.of("tls_cert_not_after_timestamp_seconds", f["not_after_timestamp"], position=pos))
        samples.append(Sample.of("tls_cert_not_before_timestamp_seconds", f["not_before_timestamp"], position=pos))
    details.update({k: leaf[k] for k in ("subject", "issuer", "sans", "serial", "not_before", "not_after", "days_left",
                                         "key_type", "key_bits", "signature_algorithm", "ca_issuers", "sha256")})
    details.update(verified=verified, verify_issues=[i.to_dict() for i in issues], chain=chain_facts[:10],
                   chain_length=len(chain_facts), earliest_expiry=earliest["not_after"])
    status, reason, what = judge(cfg.thresholds, leaf_days, chain_days, [i.key for i in issues],
                                 verify=cfg.verify, version=hs.version, min_version=cfg.min_version)
    summary = ci.tls_summary(what, issues, leaf_days, chain_days, earliest, hs.version, verified)
    if what == "version":
        summary = Text(f"only {hs.version} negotiated (minimum {cfg.min_version}); {summary.en}",
                       f"chỉ thương lượng được {hs.version} (tối thiểu {cfg.min_version}); {summary.vi}")
    advice = hints.hint(what, target=target, server_name=cfg.check_name(), chain=hs.chain, issues=issues,
                     version=hs.version, min_version=cfg.min_version, days=chain_days, date=earliest["not_after"][:10])
    return ctx.result(status, summary, target=target, reason=reason, samples=samples, details=details,
                      hint=advice if status != Status.OK else None)


def _fail(ctx: ProbeContext, target: str, reason: Reason, phase: str, details: dict[str, Any],
          summary: Text, hint: Text) -> Result:
    return ctx.result(Status.CRIT, summary, target=target, reason=reason, hint=hint,
                      samples=[Sample.of("tls_handshake_success", 0), Sample.of("tls_verified", 0)],
                      details={**details, "phase": phase})


def _err(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return _tlsclient.ssl_error_text(exc)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__




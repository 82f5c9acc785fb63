"""Pure certificate helpers shared by `tls` and `certfile`: facts, days left, host names, verify reasons.

Kept free of I/O so that the judging of certificates is unit-tested without sockets or files.
Names render as RFC 4514 strings with UTF-8 kept as is, so an issuer such as
"O=Ban Cơ yếu Chính phủ" reads the same in a table, JSON and the report.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import unicodedata
from collections.abc import Sequence
from typing import Any

from dxagent.checks.tls.x509 import Cert, Name, load_any
from dxagent.limits import DaysLimit, defaults
from dxagent.model import Status, Text, t

__all__ = [
    "DAY", "days_thresholds", "facts", "name_str", "common_name", "days_left", "judge_days", "hostname_matches",
    "VerifyIssue", "classify", "ISSUE_TEXT", "HINTS", "tls_summary", "fold", "serial_hex",
]

DAY = 86400.0


def name_str(name: Name) -> str:
    """RFC 4514 form (most specific first), non-ASCII kept readable rather than escaped."""
    return name.rfc4514_string()


def common_name(name: Name) -> str:
    """The first CN, or "" (names without a CN are legal, e.g. some signing certificates)."""
    return name.common_name()


def serial_hex(cert: Cert) -> str:
    """Serial number in upper-case hex, as shown by browsers and `openssl x509 -serial`."""
    return format(cert.serial_number, "X")


def fold(text: str) -> str:
    """Case- and diacritic-insensitive form: "Ban Cơ yếu Chính phủ" and "ban co yeu chinh phu" compare equal."""
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def days_left(not_after: float, now: float) -> float:
    """Days until `not_after` (Unix seconds); negative once expired, so ops see how long ago."""
    return (not_after - now) / DAY


def _sans(cert: Cert) -> list[str]:
    if cert.san_malformed:  # the rest of the facts are still useful
        return ["<malformed>"]
    return [f"DNS:{n}" for n in cert.dns_names] + [f"IP:{a}" for a in cert.ip_addresses] + \
        [f"email:{e}" for e in cert.emails]


def facts(cert: Any, now: float) -> dict[str, Any]:
    """Everything a technician asks about one certificate, JSON-compatible.

    `cert` is a `_x509.Cert`, DER bytes, an `_ssl.Certificate` or a cryptography certificate
    (certfile loads PKCS#12/PKCS#7 with cryptography); the facts come from the DER either way, so
    the tls kind never loads cryptography (memory, see checks/tls/x509.py).
    """
    c = load_any(cert)
    return {
        "subject": name_str(c.subject),
        "subject_cn": common_name(c.subject),
        "issuer": name_str(c.issuer),
        "issuer_cn": common_name(c.issuer),
        "serial": serial_hex(c),
        "sans": _sans(c),
        "not_before": c.not_valid_before_utc.isoformat(),
        "not_after": c.not_valid_after_utc.isoformat(),
        "not_before_timestamp": c.not_before,
        "not_after_timestamp": c.not_after,
        "days_left": round(days_left(c.not_after, now), 3),
        "key_type": c.key_type,
        "key_bits": c.key_bits,
        "signature_algorithm": c.signature_algorithm,
        "self_issued": c.subject == c.issuer,
        "ca": c.ca,
        "sha256": c.sha256(),
    }


def days_thresholds() -> Any:
    """The `thresholds` field of `tls` and `certfile`: days left, warn 30, crit 7 by default."""
    return defaults(DaysLimit(warn=30, crit=7),
                    "Days-left limits (default warn 30, crit 7); an expired certificate is CRIT regardless.")


def judge_days(days: float, limit: DaysLimit) -> Status:
    """Days left against the limits: below `crit` CRIT, below `warn` WARN (exactly `warn` days is OK).

    An expired certificate (days <= 0) is always CRIT, whatever the thresholds say.
    """
    return Status.CRIT if days <= 0 else limit.level(days)


def _dns_match(pattern: str, host: str) -> bool:
    """RFC 6125: exact match, or one wildcard as the whole left-most label matching one label."""
    pattern, host = pattern.rstrip(".").lower(), host.rstrip(".").lower()
    if pattern == host:
        return True
    if not pattern.startswith("*.") or "*" in pattern[2:]:
        return False
    head, _, rest = host.partition(".")
    return bool(head) and rest == pattern[2:] and rest.count(".") >= 1


def hostname_matches(cert: Any, host: str) -> bool:
    """Does the certificate name `host` (DNS or IP SAN; CN only when there is no SAN, as OpenSSL does)?"""
    c = load_any(cert)
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    if c.san_present and not c.san_malformed:
        if ip is not None:
            return any(ipaddress.ip_address(a) == ip for a in c.ip_addresses)
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_host = host
        return any(_dns_match(n, ascii_host) for n in c.dns_names)
    cn = common_name(c.subject)
    return ip is None and bool(cn) and _dns_match(cn, host)


# OpenSSL X509_V_ERR_* codes we name (include/openssl/x509_vfy.h); others keep their number.
_EXPIRED, _NOT_YET_VALID = 10, 9
_SELF_SIGNED_LEAF, _SELF_SIGNED_IN_CHAIN = 18, 19
_NO_ISSUER = {2, 20, 21}
_CODES = {
    2: "unable to get issuer certificate", 7: "certificate signature failure", 9: "certificate is not yet valid",
    10: "certificate has expired", 18: "self-signed certificate", 19: "self-signed certificate in chain",
    20: "unable to get local issuer certificate", 21: "unable to verify the first certificate",
    22: "certificate chain too long", 23: "certificate revoked", 24: "invalid CA certificate",
    25: "path length constraint exceeded", 26: "unsupported certificate purpose", 28: "certificate rejected",
}


@dataclasses.dataclass(frozen=True)
class VerifyIssue:
    """One problem found in the presented chain: a stable key, the depth and a bilingual detail."""

    key: str  # expired | not_yet_valid | self_signed | incomplete_chain | unknown_issuer | hostname_mismatch | other
    depth: int
    detail: Text

    def to_dict(self) -> dict[str, Any]:
        return {"issue": self.key, "depth": self.depth, "detail": self.detail.en}


# The order in which issues are named when several apply: the most actionable first.
PRIORITY = ("expired", "not_yet_valid", "self_signed", "incomplete_chain", "unknown_issuer", "hostname_mismatch", "other")

ISSUE_TEXT: dict[str, Text] = {
    "expired": t("certificate expired", "chứng chỉ đã hết hạn"),
    "not_yet_valid": t("certificate not yet valid", "chứng chỉ chưa đến ngày hiệu lực"),
    "self_signed": t("self-signed certificate", "chứng chỉ tự ký"),
    "incomplete_chain": t("incomplete chain (intermediate CA not sent)", "chuỗi chứng chỉ thiếu (máy chủ không gửi CA trung gian)"),
    "unknown_issuer": t("issuer not trusted here", "tổ chức cấp phát không được tin cậy trên máy này"),
    "hostname_mismatch": t("certificate does not name the host", "chứng chỉ không đúng tên máy chủ"),
    "other": t("chain does not verify", "chuỗi chứng chỉ không hợp lệ"),
}


def classify(errors: Sequence[tuple[int, int, Any]], chain: Sequence[Any], host: str | None) -> list[VerifyIssue]:
    """Turn OpenSSL verify errors `(depth, code, certificate or None)` plus our host-name check into named issues.

    OpenSSL says "unable to get local issuer" both for a server that forgot its intermediate and
    for a CA this machine does not trust; the presented chain tells them apart: only the leaf sent
    (and not self-signed) means the server's chain is incomplete, a CA certificate sent whose issuer
    is unknown means the issuer is not trusted here. Certificates are anything `facts` takes.
    """
    chain = [load_any(c) for c in chain]
    errors = [(depth, code, None if cert is None else load_any(cert)) for depth, code, cert in errors]
    issues: list[VerifyIssue] = []
    seen: set[tuple[str, int]] = set()

    def add(key: str, depth: int, detail: Text) -> None:
        if (key, depth) not in seen:
            seen.add((key, depth))
            issues.append(VerifyIssue(key, depth, detail))

    for depth, code, cert in errors:
        who = name_str(cert.subject) if cert is not None else f"#{depth}"
        if code == _EXPIRED:
            when = f"{cert.not_valid_after_utc:%Y-%m-%d}" if cert is not None else "?"
            add("expired", depth, t("{who} expired on {when}", "{who} hết hạn ngày {when}", who=who, when=when))
        elif code == _NOT_YET_VALID:
            when = f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC" if cert is not None else "?"
            add("not_yet_valid", depth, t("{who} valid only from {when}", "{who} chỉ có hiệu lực từ {when}", who=who, when=when))
        elif code == _SELF_SIGNED_LEAF:
            add("self_signed", depth, t("{who}", "{who}", who=who))
        elif code == _SELF_SIGNED_IN_CHAIN:
            add("unknown_issuer", depth, t("root {who} not trusted here", "CA gốc {who} không được tin cậy trên máy này", who=who))
        elif code in _NO_ISSUER:
            issuer = name_str(cert.issuer) if cert is not None else "?"
            if len(chain) <= 1 and depth == 0 and cert is not None and cert.subject != cert.issuer:
                add("incomplete_chain", depth, t("issuer {who} neither sent by the server nor trusted here",
                                                 "máy chủ không gửi và máy này không có CA cấp phát {who}", who=issuer))
            else:
                add("unknown_issuer", depth, t("issuer {who} not trusted here",
                                               "CA cấp phát {who} không được tin cậy trên máy này", who=issuer))
        else:
            what = _CODES.get(code, f"OpenSSL verify error {code}")
            add("other", depth, t("{who}: {what}", "{who}: {what}", who=who, what=what))
    if host and chain and not hostname_matches(chain[0], host):
        names = ", ".join(_sans(chain[0])) or "CN=" + common_name(chain[0].subject)
        add("hostname_mismatch", 0, t("{host} not in {names}", "{host} không có trong {names}", host=host, names=names))
    return sorted(issues, key=lambda i: (PRIORITY.index(i.key), i.depth))


# What the technician should do, per issue key (plus "expiry" and "version" for the tls judge).
HINTS: dict[str, Text] = {
    "expired": t("Renew the certificate now and install it on the server together with its intermediate CA.",
                 "Gia hạn chứng chỉ ngay và cài lên máy chủ kèm chứng chỉ CA trung gian."),
    "not_yet_valid": t("The certificate starts in the future: check this machine's clock (`clock` check) and the server's.",
                       "Chứng chỉ chưa đến ngày hiệu lực: kiểm tra đồng hồ máy này (kiểm tra `clock`) và của máy chủ."),
    "self_signed": t("Install a certificate from a trusted CA, or trust this server's own certificate with `ca_file`.",
                     "Cài chứng chỉ do CA tin cậy cấp, hoặc khai báo chứng chỉ riêng của máy chủ trong `ca_file`."),
    "incomplete_chain": t("Configure the server to send the intermediate CA certificate with its own (full chain).",
                          "Cấu hình máy chủ gửi kèm chứng chỉ CA trung gian (chuỗi đầy đủ)."),
    "unknown_issuer": t("Trust the issuing root with `ca_file` (the Government CA root from rootca.gov.vn is not "
                        "in the default stores), or install a certificate from a trusted CA.",
                        "Khai báo CA gốc trong `ca_file` (CA gốc Chính phủ tại rootca.gov.vn không có sẵn trong kho "
                        "mặc định), hoặc cài chứng chỉ do CA tin cậy cấp."),
    "hostname_mismatch": t("Install the certificate issued for this host name, or set `server_name` when connecting by IP.",
                           "Cài chứng chỉ cấp cho đúng tên máy chủ, hoặc đặt `server_name` khi kết nối bằng địa chỉ IP."),
    "other": t("Inspect the chain with `openssl s_client -connect HOST:PORT -showcerts`.",
               "Xem chuỗi chứng chỉ bằng `openssl s_client -connect HOST:PORT -showcerts`."),
    "expiry": t("Renew the certificate and install it before it expires.",
                "Gia hạn và cài chứng chỉ mới trước khi hết hạn."),
    "version": t("Enable TLS 1.2 or 1.3 on the server; older versions are deprecated.",
                 "Bật TLS 1.2 hoặc 1.3 trên máy chủ; các phiên bản cũ không còn an toàn."),
}


def tls_summary(what: str, issues: list[VerifyIssue], leaf_days: float, chain_days: float,
             earliest: dict[str, Any], version: str, verified: bool) -> Text:
    """The tls kind's one-line summary: the deciding issue (if any) and the days left of the earliest certificate."""
    date = earliest["not_after"][:10]
    if chain_days <= 0:
        dates = t("certificate expired {n:.1f} days ago on {date}", "chứng chỉ đã hết hạn {n:.1f} ngày trước, ngày {date}",
                  n=-chain_days, date=date)
    else:
        dates = t("{n:.1f} days left, until {date}", "còn {n:.1f} ngày, đến {date}", n=chain_days, date=date)
    if chain_days < leaf_days:
        cn = earliest["subject_cn"] or earliest["subject"]
        dates = Text(f"{dates.en} ({cn})", f"{dates.vi} ({cn})")
    if what in ISSUE_TEXT and not (what == "expired" and chain_days <= 0):
        first = issues[0] if issues and issues[0].key == what else None
        head = ISSUE_TEXT[what]
        if first is not None:
            return Text(f"{head.en}: {first.detail.en}; {dates.en}", f"{head.vi}: {first.detail.vi}; {dates.vi}")
        return Text(f"{head.en}; {dates.en}", f"{head.vi}; {dates.vi}")
    state = t("verified", "đã xác thực") if verified else t("not verified", "chưa xác thực")
    return Text(f"{dates.en}, {version}, {state.en}", f"{dates.vi}, {version}, {state.vi}")

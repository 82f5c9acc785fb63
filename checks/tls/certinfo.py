"""Pure certificate helpers shared by `tls` and `certfile`: facts, days left, verify issues and their hints.

Every fact comes from `cryptography.x509`; host names are checked by OpenSSL during the
handshake (checks/tls/client.py), never here. Kept free of I/O so that the judging of
certificates is unit-tested without sockets or files. Names render as RFC 4514 strings with
UTF-8 kept as is, so an issuer such as "O=Ban Cơ yếu Chính phủ" reads the same everywhere.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID, SignatureAlgorithmOID

from dxagent.limits import DaysLimit, defaults
from dxagent.model import Status, Text, t

__all__ = [
    "DAY", "days_thresholds", "facts", "name_str", "common_name", "days_left", "judge_days",
    "VerifyIssue", "classify", "ISSUE_TEXT", "tls_summary", "fold", "serial_hex", "HOSTNAME_CODES", "ca_issuers",
    "sans",
]

DAY = 86400.0

# Signature algorithms under the names `openssl x509 -text` prints; others show as dotted OIDs.
_SIGNATURES = {
    SignatureAlgorithmOID.RSA_WITH_SHA1: "sha1WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA224: "sha224WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA512: "sha512WithRSAEncryption",
    SignatureAlgorithmOID.RSASSA_PSS: "rsassaPss",
    SignatureAlgorithmOID.ECDSA_WITH_SHA1: "ecdsa-with-SHA1",
    SignatureAlgorithmOID.ECDSA_WITH_SHA224: "ecdsa-with-SHA224",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ecdsa-with-SHA384",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: "ecdsa-with-SHA512",
    SignatureAlgorithmOID.DSA_WITH_SHA1: "dsa-with-sha1",
    SignatureAlgorithmOID.DSA_WITH_SHA256: "dsa-with-sha256",
    SignatureAlgorithmOID.ED25519: "ed25519",
    SignatureAlgorithmOID.ED448: "ed448",
}


def name_str(name: x509.Name) -> str:
    """RFC 4514 form (most specific first), non-ASCII kept readable (cryptography does not escape it)."""
    return name.rfc4514_string()


def common_name(name: x509.Name) -> str:
    """The first CN, or "" (names without a CN are legal, e.g. some signing certificates)."""
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else ""


def serial_hex(cert: x509.Certificate) -> str:
    """Serial number in upper-case hex, as shown by browsers and `openssl x509 -serial`."""
    return format(cert.serial_number, "X")


def fold(text: str) -> str:
    """Case- and diacritic-insensitive form: "Ban Cơ yếu Chính phủ" and "ban co yeu chinh phu" compare equal."""
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def days_left(not_after: float, now: float) -> float:
    """Days until `not_after` (Unix seconds); negative once expired, so ops see how long ago."""
    return (not_after - now) / DAY


def _extension(cert: x509.Certificate, kind: type[Any]) -> Any:
    """The extension's value, None when absent; a malformed one raises ValueError."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def sans(cert: x509.Certificate) -> list[str]:
    """The SANs as `DNS:…`, `IP:…`, `email:…`; ["<malformed>"] for a damaged extension."""
    try:
        san = _extension(cert, x509.SubjectAlternativeName)
    except ValueError:  # a damaged extension: the other facts are still useful
        return ["<malformed>"]
    if san is None:
        return []
    return [f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)] + \
        [f"IP:{a}" for a in san.get_values_for_type(x509.IPAddress)] + \
        [f"email:{e}" for e in san.get_values_for_type(x509.RFC822Name)]


def _key(cert: x509.Certificate) -> tuple[str, int | None]:
    try:
        key = cert.public_key()
    except (ValueError, TypeError):  # an algorithm cryptography does not support
        return "unknown", None
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}", key.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return "unknown", None


def _safe(cert: x509.Certificate, kind: type[Any]) -> Any:
    try:
        return _extension(cert, kind)
    except ValueError:
        return None


def ca_issuers(cert: x509.Certificate) -> list[str]:
    """The AIA caIssuers URLs: where the issuer's certificate can be fetched (public CAs always give one)."""
    aia = _safe(cert, x509.AuthorityInformationAccess)
    if aia is None:
        return []
    return [d.access_location.value for d in aia
            if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
            and isinstance(d.access_location, x509.UniformResourceIdentifier)]


def facts(cert: x509.Certificate, now: float) -> dict[str, Any]:
    """Everything a technician asks about one certificate, JSON-compatible."""
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    key_type, key_bits = _key(cert)
    basic = _safe(cert, x509.BasicConstraints)
    return {
        "subject": name_str(cert.subject),
        "subject_cn": common_name(cert.subject),
        "issuer": name_str(cert.issuer),
        "issuer_cn": common_name(cert.issuer),
        "serial": serial_hex(cert),
        "sans": sans(cert),
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        "not_before_timestamp": not_before.timestamp(),
        "not_after_timestamp": not_after.timestamp(),
        "days_left": round(days_left(not_after.timestamp(), now), 3),
        "key_type": key_type,
        "key_bits": key_bits,
        "signature_algorithm": _SIGNATURES.get(cert.signature_algorithm_oid, cert.signature_algorithm_oid.dotted_string),
        "self_issued": cert.subject == cert.issuer,
        "ca": bool(basic is not None and basic.ca),
        "ca_issuers": ca_issuers(cert),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
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


# OpenSSL X509_V_ERR_* codes we name (include/openssl/x509_vfy.h); others keep OpenSSL's message.
_EXPIRED, _NOT_YET_VALID = 10, 9
_SELF_SIGNED_LEAF, _SELF_SIGNED_IN_CHAIN = 18, 19
_NO_ISSUER = {2, 20, 21}
HOSTNAME_CODES = {62, 64}  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_CODES = {  # OpenSSL's X509_verify_cert_error_string() for the codes an "other" issue is likely to carry
    7: "certificate signature failure", 22: "certificate chain too long", 23: "certificate revoked",
    24: "invalid CA certificate", 25: "path length constraint exceeded", 26: "unsupported certificate purpose",
    28: "certificate rejected", 47: "permitted subtree violation", 48: "excluded subtree violation",
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
    "incomplete_chain": t("issuer missing (intermediate not sent, or untrusted root)",
                          "thiếu CA cấp phát (máy chủ không gửi CA trung gian, hoặc CA gốc chưa được tin cậy)"),
    "unknown_issuer": t("issuer not trusted here", "tổ chức cấp phát không được tin cậy trên máy này"),
    "hostname_mismatch": t("certificate does not name the host", "chứng chỉ không đúng tên máy chủ"),
    "other": t("chain does not verify", "chuỗi chứng chỉ không hợp lệ"),
}


def classify(errors: Sequence[tuple[int, int, x509.Certificate | None]], chain: Sequence[x509.Certificate],
             host: str | None = None) -> list[VerifyIssue]:
    """Turn OpenSSL verify errors `(depth, X509_V_ERR code, certificate or None)` into named issues.

    OpenSSL says "unable to get local issuer" both for a server that forgot its intermediate and
    for a leaf issued straight by a root this machine does not trust; with only the leaf sent the
    two cannot be told apart, so that case is `incomplete_chain` and its hint covers both. A CA
    certificate sent whose issuer is unknown means the issuer is not trusted here. Host-name
    errors (62, 64) come from OpenSSL's own check of `host`.
    """
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
                                                 "máy chủ không gửi và máy này không tin cậy CA cấp phát {who}", who=issuer))
            else:
                add("unknown_issuer", depth, t("issuer {who} not trusted here",
                                               "CA cấp phát {who} không được tin cậy trên máy này", who=issuer))
        elif code in HOSTNAME_CODES:
            leaf = chain[0] if chain else cert
            names = ", ".join(sans(leaf)) if leaf is not None else ""
            if leaf is not None and not names:
                names = "CN=" + common_name(leaf.subject)
            add("hostname_mismatch", 0, t("{host} not in {names}", "{host} không có trong {names}",
                                          host=host or "?", names=names or "?"))
        else:
            add("other", depth, t("{who}: {what}", "{who}: {what}", who=who, what=_CODES.get(code, f"OpenSSL verify error {code}")))
    return sorted(issues, key=lambda i: (PRIORITY.index(i.key), i.depth))


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

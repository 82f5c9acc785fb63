"""What the technician should do about a tls verdict, with the values of the check that failed (issue #19).

Pure: built from the presented certificates, the issues OpenSSL reported and the check's target.
A leaf served alone whose issuer is unknown may lack an intermediate or come straight from an
untrusted root; the hint covers both and leads with what the certificate suggests.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence

from cryptography import x509

from dxagent.checks.tls import certinfo as ci
from dxagent.model import Text, t

__all__ = ["hint"]


# Issuer organisations and CNs of the public CAs whose intermediates servers most often forget to send.
_PUBLIC_CAS = ("let's encrypt", "digicert", "sectigo", "comodo", "globalsign", "godaddy", "go daddy", "starfield",
               "entrust", "zerossl", "google trust services", "amazon", "microsoft azure", "geotrust", "rapidssl",
               "thawte", "certum", "actalis", "buypass", "ssl.com", "quovadis", "harica", "trustasia", "gogetssl",
               "identrust", "cloudflare", "encryption everywhere", "alphassl")
# Words (folded) in an issuer's name that tell a subordinate CA from a root.
_INTERMEDIATE_WORDS = ("intermediate", "issuing", "subordinate", "trung gian")
_ROOT_WORDS = ("root", " goc")


def _public_url(urls: Sequence[str]) -> str | None:
    """The first caIssuers URL on a public web host (an ldap:// or .local address says "private CA")."""
    for url in urls:
        host = (urllib.parse.urlsplit(url).hostname or "").lower()
        if url.lower().startswith(("http://", "https://")) and "." in host and not host.endswith(
                (".local", ".lan", ".internal", ".corp", ".home.arpa")):
            return url
    return None


def _issuer_lead(leaf: x509.Certificate) -> tuple[str, Text | None]:
    """("intermediate" | "root" | "unknown", why) for a leaf served alone whose issuer is unknown here."""
    issuer = ci.fold(ci.name_str(leaf.issuer))
    if any(ca in issuer for ca in _PUBLIC_CAS):
        return "intermediate", t("the issuer is a public CA", "CA cấp phát là CA công cộng")
    if any(word in issuer for word in _INTERMEDIATE_WORDS):
        return "intermediate", t("the issuer's name says intermediate", "tên CA cấp phát cho thấy đây là CA trung gian")
    if any(word in issuer for word in _ROOT_WORDS):
        return "root", t("the issuer's name says root", "tên CA cấp phát cho thấy đây là CA gốc")
    if _public_url(ci.ca_issuers(leaf)):
        return "intermediate", t("the certificate names where its issuer is published",
                                 "chứng chỉ ghi địa chỉ công bố CA cấp phát")
    return "unknown", None


def _incomplete_hint(leaf: x509.Certificate | None, target: str) -> Text:
    """Issue #19: from the leaf alone the missing issuer may be an intermediate or an untrusted root."""
    issuer = ci.name_str(leaf.issuer) if leaf is not None else "?"
    lead, why = _issuer_lead(leaf) if leaf is not None else ("unknown", None)
    url = _public_url(ci.ca_issuers(leaf)) if leaf is not None else None
    def root(who: str, vi_who: str) -> Text:
        return t("if {who} is your organisation's or the Government CA's root, trust it here with `ca_file` "
                 "(a PEM file of that root)",
                 "nếu {vi_who} là CA gốc của đơn vị hoặc CA gốc Chính phủ (rootca.gov.vn), khai báo CA gốc đó trong "
                 "`ca_file` (tệp PEM)", who=who, vi_who=vi_who)

    def inter(who: str, vi_who: str) -> Text:
        where = t("; the intermediate is at {url}", "; chứng chỉ CA trung gian ở {url}", url=url) if url else t("", "")
        return t("if {who} is an intermediate CA (a public CA's, say), configure {target} to send it with its "
                 "certificate (full chain{where})",
                 "nếu {vi_who} là CA trung gian (ví dụ của một CA công cộng), cấu hình {target} gửi kèm chứng chỉ đó "
                 "(chuỗi đầy đủ{where_vi})", who=who, vi_who=vi_who, target=target, where=where.en, where_vi=where.vi)

    named, it = (issuer, issuer), ("it", "CA này")
    if lead == "intermediate" and why is not None:
        first, second = inter(*named), root(*it)
        return Text(f"Likely a missing intermediate ({why.en}): {first.en}; {second.en}.",
                    f"Nhiều khả năng thiếu CA trung gian ({why.vi}): {first.vi}; {second.vi}.")
    first, second = root(*named), inter(*it)
    if lead == "root" and why is not None:
        return Text(f"Likely an untrusted root ({why.en}): {first.en}; {second.en}.",
                    f"Nhiều khả năng là CA gốc chưa được tin cậy ({why.vi}): {first.vi}; {second.vi}.")
    return Text(f"The issuer may be a root or an intermediate: {first.en}; {second.en}.",
                f"CA cấp phát có thể là CA gốc hoặc CA trung gian: {first.vi}; {second.vi}.")


def hint(what: str, *, target: str, server_name: str, chain: Sequence[x509.Certificate] = (),
         issues: Sequence[ci.VerifyIssue] = (), version: str = "", min_version: str = "", days: float = 0.0,
         date: str = "") -> Text | None:
    """What the technician should do about the tls check's deciding problem, with this check's values.

    `what` is an issue key, "expiry" or "version"; `target` is host:port as connected.
    """
    leaf = chain[0] if chain else None
    subject = (ci.common_name(leaf.subject) or ci.name_str(leaf.subject)) if leaf is not None else server_name
    if what == "expired":
        depth = next((i.depth for i in issues if i.key == "expired"), 0)
        cert = chain[depth] if depth < len(chain) else leaf
        who = (ci.common_name(cert.subject) or ci.name_str(cert.subject)) if cert is not None else subject
        return t("Renew {who} now and install it on {target} together with its intermediate CA.",
                 "Gia hạn {who} ngay và cài lên {target} kèm chứng chỉ CA trung gian.", who=who, target=target)
    if what == "not_yet_valid":
        return t("The certificate of {target} starts in the future: check this machine's clock (`clock` check) "
                 "and the server's, or install the certificate that is valid now.",
                 "Chứng chỉ của {target} chưa đến ngày hiệu lực: kiểm tra đồng hồ máy này (kiểm tra `clock`) và của "
                 "máy chủ, hoặc cài chứng chỉ đang có hiệu lực.", target=target)
    if what == "self_signed":
        return t("{target} presents a self-signed certificate ({who}): install one from a trusted CA, or, for an "
                 "internal server, trust this certificate itself with `ca_file`.",
                 "{target} dùng chứng chỉ tự ký ({who}): cài chứng chỉ do CA tin cậy cấp, hoặc với máy chủ nội bộ, "
                 "khai báo chính chứng chỉ này trong `ca_file`.", target=target, who=subject)
    if what == "incomplete_chain":
        return _incomplete_hint(leaf, target)
    if what == "unknown_issuer":
        top = chain[-1] if chain else None
        root = ci.name_str(top.subject if top is not None and top.subject == top.issuer else top.issuer) if top else "?"
        return t("Trust the root {root} with `ca_file` (the Government CA root from rootca.gov.vn is not in the "
                 "default stores), or install on {target} a certificate from a CA trusted here.",
                 "Khai báo CA gốc {root} trong `ca_file` (CA gốc Chính phủ tại rootca.gov.vn không có sẵn trong kho "
                 "mặc định), hoặc cài lên {target} chứng chỉ do CA được tin cậy cấp.", root=root, target=target)
    if what == "hostname_mismatch":
        names = ", ".join(ci.sans(leaf)) if leaf is not None else ""
        return t("The certificate of {target} is for {names}, not {name}: install the certificate issued for {name}, "
                 "or set `server_name` to a name it covers when connecting by IP.",
                 "Chứng chỉ của {target} cấp cho {names}, không phải {name}: cài chứng chỉ cấp cho {name}, hoặc đặt "
                 "`server_name` là tên có trong chứng chỉ khi kết nối bằng địa chỉ IP.",
                 target=target, names=names or "?", name=server_name)
    if what == "expiry":
        return t("{who} on {target} expires in {n:.0f} days ({date}): renew it and install the new one before then.",
                 "{who} trên {target} hết hạn sau {n:.0f} ngày ({date}): gia hạn và cài chứng chỉ mới trước ngày đó.",
                 who=subject, target=target, n=days, date=date)
    if what == "version":
        return t("{target} negotiated only {version} (minimum {min}): enable TLS 1.2 or 1.3 on the server.",
                 "{target} chỉ thương lượng được {version} (tối thiểu {min}): bật TLS 1.2 hoặc 1.3 trên máy chủ.",
                 target=target, version=version, min=min_version)
    if what == "ok":
        return None
    return t("Inspect the chain with `openssl s_client -connect {target} -servername {name} -showcerts`.",
             "Xem chuỗi chứng chỉ bằng `openssl s_client -connect {target} -servername {name} -showcerts`.",
             target=target, name=server_name)

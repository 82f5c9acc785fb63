"""The pure half of the `http` kind: what was measured → status, reason, summary and hint.

Kept apart from the I/O so that every verdict (status ranges, content rules, thresholds, each
failure phase) is unit-tested without sockets, and the messages live in one place, in English and
Vietnamese, each telling a technician what to do next.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from dxagent.model import Reason, Status, Text, t

__all__ = ["PHASES", "Failure", "Measurement", "Verdict", "judge", "parse_status_spec", "redact_url", "status_matches"]

PHASES = ("dns", "connect", "tls", "request", "ttfb", "transfer")


def parse_status_spec(value: object) -> str:
    """`200`, `"200-299"` or `"2xx"` → its normal spelling; ValueError names what is wrong."""
    text = str(value).strip().lower() if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    if text is None:
        raise ValueError("a status is a code (200), a range (\"200-299\") or a class (\"2xx\")")
    if re.fullmatch(r"[1-5]xx", text):
        return text
    m = re.fullmatch(r"(\d{3})(?:\s*-\s*(\d{3}))?", text)
    if not m:
        raise ValueError(f"invalid status {value!r}: use a code (200), a range (\"200-299\") or a class (\"2xx\")")
    low, high = int(m.group(1)), int(m.group(2) or m.group(1))
    if not (100 <= low <= 599 and 100 <= high <= 599):
        raise ValueError(f"status {value!r} is outside 100-599")
    if low > high:
        raise ValueError(f"status range {value!r} is reversed")
    return f"{low}-{high}" if m.group(2) else str(low)


def status_matches(specs: Iterable[str], code: int) -> bool:
    """Whether `code` is allowed by any normalised spec (see `parse_status_spec`)."""
    for spec in specs:
        if spec.endswith("xx"):
            if code // 100 == int(spec[0]):
                return True
        else:
            low, _, high = spec.partition("-")
            if int(low) <= code <= int(high or low):
                return True
    return False


def redact_url(url: str) -> str:
    """The URL without user:password@ (credentials must never reach output, logs or metrics)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@dataclasses.dataclass
class Failure:
    """A transport-level failure: why (reason + finer code), in which phase, and the low-level message."""

    reason: Reason
    phase: str
    code: str
    message: str = ""


@dataclasses.dataclass
class Measurement:
    """Everything the probe observed, as plain data (the judge's only input besides the config)."""

    host: str = ""
    total: float = 0.0
    failure: Failure | None = None
    status_code: int = 0
    http_version: str = ""
    final_url: str = ""
    tls: bool = False
    redirects: int = 0
    location: str | None = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    body_text: str = ""
    body_read: bool = False
    body_bytes: int = 0
    body_limit_hit: bool = False
    address: str | None = None


class _Expect(Protocol):
    status: Sequence[str]
    body_contains: Sequence[str]
    body_regex: Sequence[str]
    body_not_regex: Sequence[str]
    headers: Mapping[str, str]


class _Thresholds(Protocol):
    def level(self, value: float) -> Status: ...

    def limit_for(self, status: Status) -> float | None: ...


class JudgedConfig(Protocol):
    """The config fields the judge reads (checks.http.Config has them)."""

    url: str
    expect: _Expect
    thresholds: _Thresholds
    require_tls: bool
    follow_redirects: bool
    max_redirects: int
    max_body_bytes: int


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The judge's answer."""

    status: Status
    summary: Text
    reason: Reason | None = None
    hint: Text | None = None
    problem: str | None = None  # a stable code for details (e.g. "expired", "body_regex")


_PHASE_VI = {"dns": "phân giải tên (DNS)", "connect": "kết nối TCP", "tls": "bắt tay TLS",
             "request": "gửi yêu cầu", "ttfb": "chờ phản hồi", "transfer": "tải nội dung"}

# Hints are templates filled with the check's own values: {where} = host:port, {host}, {url}
# (without credentials). Each says what to do next, in both languages.
_Tpl = tuple[str, str]

_TIMEOUT_HINTS: dict[str, _Tpl] = {
    "dns": ("The DNS server did not resolve {host} in time: check the DNS servers (`dns` check) and the uplink.",
            "Máy chủ DNS không phân giải {host} kịp: kiểm tra máy chủ DNS (kiểm tra `dns`) và đường truyền."),
    "connect": ("No answer from {where} to the connection: the server is down or a firewall drops the packets; check "
                "the link (`ping {host}`).",
                "{where} không phản hồi khi kết nối: máy chủ tắt hoặc tường lửa chặn gói tin; kiểm tra đường truyền "
                "(`ping {host}`)."),
    "tls": ("{where} accepted the connection but did not finish the TLS handshake: check the web server or its TLS "
            "front end (overload, wrong port).",
            "{where} nhận kết nối nhưng không hoàn tất bắt tay TLS: kiểm tra máy chủ web hoặc thiết bị TLS phía trước "
            "(quá tải, sai cổng)."),
    "request": ("Sending the request to {where} stalled: check the link's upload direction and any proxy.",
                "Gửi yêu cầu tới {where} bị treo: kiểm tra chiều tải lên của đường truyền và proxy (nếu có)."),
    "ttfb": ("{where} took the request but did not answer in time: the application or its database is slow or hung; "
             "tell the system's operator.",
             "{where} đã nhận yêu cầu nhưng không trả lời kịp: ứng dụng hoặc cơ sở dữ liệu chậm hay bị treo; báo đơn vị "
             "vận hành hệ thống."),
    "transfer": ("{url} started but did not finish in time: the link is slow or the server stalls; check the "
                 "bandwidth.",
                 "{url} bắt đầu tải nhưng không xong kịp: đường truyền chậm hoặc máy chủ bị ngắt quãng; kiểm tra băng "
                 "thông."),
}

_TLS_HINTS: dict[str, _Tpl] = {
    "expired": ("The certificate of {host} has expired: the system's operator must renew it (a `tls` check on {where} "
                "shows the dates).",
                "Chứng chỉ của {host} đã hết hạn: đơn vị vận hành phải gia hạn chứng chỉ (kiểm tra `tls` cho {where} "
                "cho biết ngày)."),
    "not_yet_valid": ("The certificate of {host} is not valid yet: check this computer's clock (`clock` check) and the "
                      "certificate dates.",
                      "Chứng chỉ của {host} chưa đến ngày hiệu lực: kiểm tra đồng hồ máy này (kiểm tra `clock`) và ngày "
                      "của chứng chỉ."),
    "self_signed": ("{host} uses a self-signed certificate: install one from a trusted CA, or, for an internal system, "
                    "set `ca_file` to its CA.",
                    "{host} dùng chứng chỉ tự ký: cài chứng chỉ do CA tin cậy cấp, hoặc với hệ thống nội bộ thì đặt "
                    "`ca_file` là CA của hệ thống."),
    "unknown_issuer": ("The issuer of {host}'s certificate is not trusted: the server may not send its intermediate "
                       "certificate, or the CA is internal (then set `ca_file`).",
                       "Tổ chức cấp chứng chỉ của {host} không được tin cậy: máy chủ có thể thiếu chứng chỉ trung gian, "
                       "hoặc CA là CA nội bộ (khi đó đặt `ca_file`)."),
    "hostname_mismatch": ("The certificate served on {where} does not cover the name {host}: check the URL, or ask the "
                          "operator for a certificate that includes it.",
                          "Chứng chỉ trên {where} không dành cho tên {host}: kiểm tra URL hoặc đề nghị đơn vị vận hành "
                          "cấp chứng chỉ có tên này."),
    "not_https": ("{url} was not served over HTTPS: configure the server to redirect http to https.",
                  "{url} không được phục vụ qua HTTPS: cấu hình máy chủ chuyển hướng http sang https."),
}
_TLS_HINTS["self_signed_chain"] = _TLS_HINTS["self_signed"]
_TLS_GENERIC: _Tpl = (
    "The TLS handshake with {where} failed: check the TLS versions and ciphers of the server and any TLS-inspecting "
    "proxy (a `tls` check on {where} shows what the server offers).",
    "Bắt tay TLS với {where} thất bại: kiểm tra phiên bản TLS, bộ mã hoá của máy chủ và proxy kiểm tra TLS (nếu có); "
    "kiểm tra `tls` cho {where} cho biết máy chủ hỗ trợ gì.")

_CONNECT_HINTS: dict[str, _Tpl] = {
    "refused": ("Nothing accepts connections on {where}: check that the web server runs and the firewall allows that "
                "port.",
                "Không có dịch vụ nhận kết nối trên {where}: kiểm tra máy chủ web có chạy và tường lửa có mở cổng đó."),
    "closed": ("{where} closed the connection without an answer: check the web server's logs and any proxy or "
               "firewall in between.",
               "{where} đóng kết nối mà không trả lời: kiểm tra nhật ký máy chủ web và proxy, tường lửa ở giữa."),
    "proxy": ("The proxy refused or failed the request for {url}: check the `proxy` address and its credentials.",
              "Proxy từ chối hoặc lỗi khi yêu cầu {url}: kiểm tra địa chỉ `proxy` và thông tin đăng nhập proxy."),
}
_CONNECT_GENERIC: _Tpl = (
    "Cannot reach {where}: check the route, the link and the firewall (`ping`, `tcp` checks).",
    "Không tới được {where}: kiểm tra định tuyến, đường truyền và tường lửa (kiểm tra `ping`, `tcp`).")


def _place(cfg: JudgedConfig, m: Measurement) -> dict[str, str]:
    """The check's own values for the hints: host, host:port and the URL without credentials."""
    parts = urlsplit(cfg.url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # the config refuses such a URL; the judge stays total
        port = 0
    host = m.host or parts.hostname or ""
    return {"host": host, "where": f"[{host}]:{port}" if ":" in host else f"{host}:{port}", "url": redact_url(cfg.url)}


def _hint(tpl: _Tpl, place: Mapping[str, str]) -> Text:
    return t(tpl[0], tpl[1], **place)


def _failure_verdict(cfg: JudgedConfig, m: Measurement, f: Failure) -> Verdict:
    phase_vi = _PHASE_VI.get(f.phase, f.phase)
    place = _place(cfg, m)
    msg = f.message[:200]
    if f.reason is Reason.DNS:
        return Verdict(Status.CRIT, t("cannot resolve {host}: {err}", "không phân giải được {host}: {err}", host=m.host, err=msg),
                       Reason.DNS, t("{host} does not resolve: check the name in `url`, the DNS servers (`dns` check) "
                                     "and the internet uplink; without internet the national portals cannot be reached.",
                                     "Không phân giải được {host}: kiểm tra tên trong `url`, máy chủ DNS (kiểm tra `dns`) "
                                     "và đường Internet; mất Internet thì không truy cập được các cổng quốc gia.",
                                     **place), "dns")
    if f.reason is Reason.TIMEOUT:
        return Verdict(Status.CRIT, t("timeout in phase {phase} after {s:.1f} s", "hết thời gian chờ ở bước {vi} sau {s:.1f} giây",
                                      phase=f.phase, vi=phase_vi, s=m.total),
                       Reason.TIMEOUT, _hint(_TIMEOUT_HINTS.get(f.phase, _TIMEOUT_HINTS["ttfb"]), place), "timeout")
    if f.reason is Reason.TLS:
        return Verdict(Status.CRIT, t("TLS failed ({code}): {err}", "lỗi TLS ({code}): {err}", code=f.code, err=msg),
                       Reason.TLS, _hint(_TLS_HINTS.get(f.code, _TLS_GENERIC), place), f.code)
    if f.reason is Reason.STATUS:  # redirect limit or an unusable redirect
        if f.code == "redirect_loop":
            text = t("redirect loop after {n} redirects", "vòng lặp chuyển hướng sau {n} lần", n=m.redirects)
        elif f.code == "redirect_limit":
            text = t("{err} (the limit is max_redirects)", "vượt quá giới hạn max_redirects ({n} lần chuyển hướng)",
                     err=msg, n=m.redirects)
        else:
            text = t("unusable redirect: {err}", "chuyển hướng không dùng được: {err}", err=msg)
        return Verdict(Status.CRIT, text,
                       Reason.STATUS, t("The redirects from {url} do not end: check the server's redirect rules (often an "
                                        "http↔https or login loop), or raise `max_redirects` (now {n}).",
                                        "Chuyển hướng từ {url} không dừng: kiểm tra quy tắc chuyển hướng của máy chủ (thường "
                                        "là vòng http↔https hoặc vòng đăng nhập), hoặc tăng `max_redirects` (hiện {n}).",
                                        n=cfg.max_redirects, **place), f.code)
    if f.reason is Reason.CONTENT:
        return Verdict(Status.CRIT, t("invalid HTTP response in phase {phase}: {err}", "phản hồi HTTP không hợp lệ ở bước {vi}: {err}",
                                      phase=f.phase, vi=phase_vi, err=msg),
                       Reason.CONTENT, t("{where} sent a malformed or oversized HTTP response: check the web server and any "
                                         "proxy in between.",
                                         "{where} gửi phản hồi HTTP sai định dạng hoặc quá lớn: kiểm tra máy chủ web và proxy "
                                         "ở giữa.", **place), f.code)
    where = m.address or m.host
    if f.code == "refused":
        return Verdict(Status.CRIT, t("connection refused by {where}", "{where} từ chối kết nối", where=where),
                       Reason.CONNECT, _hint(_CONNECT_HINTS["refused"], place), "refused")
    return Verdict(Status.CRIT, t("cannot connect to {where} ({phase}): {err}", "không kết nối được tới {where} ({vi}): {err}",
                                  where=where, phase=f.phase, vi=phase_vi, err=msg),
                   Reason.CONNECT, _hint(_CONNECT_HINTS.get(f.code, _CONNECT_GENERIC), place), f.code)


def _content_problem(cfg: JudgedConfig, m: Measurement) -> tuple[str, Text] | None:
    ex = cfg.expect
    for name, pattern in ex.headers.items():
        value = m.headers.get(name.lower())
        if value is None or not _regex(pattern).search(value):
            got = "missing" if value is None else repr(value[:80])
            return "header", t("header {name} does not match {p!r} (got {got})", "header {name} không khớp {p!r} (nhận {got})",
                               name=name, p=pattern, got=got)
    text = m.body_text
    for needle in ex.body_contains:
        if needle not in text:
            return "body_contains", t("body does not contain {s!r}", "nội dung không chứa {s!r}", s=needle)
    for pattern in ex.body_regex:
        if not _regex(pattern).search(text):
            return "body_regex", t("body does not match {p!r}", "nội dung không khớp {p!r}", p=pattern)
    for pattern in ex.body_not_regex:
        if _regex(pattern).search(text):
            return "body_not_regex", t("body matches the forbidden {p!r}", "nội dung khớp mẫu bị cấm {p!r}", p=pattern)
    return None


def _ok_summary(m: Measurement) -> Text:
    return t("{code} {ver} in {ms:.0f} ms, {n} bytes", "{code} {ver} trong {ms:.0f} ms, {n} byte",
             code=m.status_code, ver=m.http_version, ms=m.total * 1000, n=m.body_bytes)


def judge(cfg: JudgedConfig, m: Measurement) -> Verdict:
    """Measurement + expectations + thresholds → Verdict (pure; the order is the order of importance)."""
    if m.failure is not None:
        return _failure_verdict(cfg, m, m.failure)
    base = _ok_summary(m)
    place = _place(cfg, m)
    if cfg.require_tls and not m.tls:
        return Verdict(Status.CRIT, Text(f"{base.en}, but not over HTTPS", f"{base.vi}, nhưng không qua HTTPS"),
                       Reason.TLS, _hint(_TLS_HINTS["not_https"], place), "not_https")
    if not status_matches(cfg.expect.status, m.status_code):
        expected = ", ".join(cfg.expect.status)
        code = m.status_code
        if code in (401, 403, 407):
            hint = t("{url} refused access ({code}): check `basic_auth` / `bearer_token` and that the account is active.",
                     "{url} từ chối truy cập ({code}): kiểm tra `basic_auth` / `bearer_token` và tài khoản còn hoạt động.",
                     code=code, **place)
            reason = Reason.AUTH
        elif 300 <= code < 400 and m.location is not None and not cfg.follow_redirects:
            hint = t("{url} redirects to {loc}: set `follow_redirects: true` or probe that URL.",
                     "{url} chuyển hướng tới {loc}: đặt `follow_redirects: true` hoặc kiểm tra trực tiếp URL đó.",
                     loc=m.location[:200], **place)
            reason = Reason.STATUS
        elif code >= 500:
            hint = t("{where} reports an internal error ({code}): tell the system's operator.",
                     "{where} báo lỗi nội bộ ({code}): báo cho đơn vị vận hành hệ thống.", code=code, **place)
            reason = Reason.STATUS
        else:
            hint = t("Unexpected answer {code} from {url}: check the URL and the application, or `expect.status` "
                     "(now {expected}).",
                     "Phản hồi {code} từ {url} không như mong đợi: kiểm tra URL và ứng dụng, hoặc `expect.status` "
                     "(hiện {expected}).", code=code, expected=", ".join(cfg.expect.status), **place)
            reason = Reason.STATUS
        return Verdict(Status.CRIT, Text(f"status {code}, expected {expected} ({base.en})",
                                         f"mã trạng thái {code}, mong đợi {expected} ({base.vi})"), reason, hint, "status")
    problem = _content_problem(cfg, m)
    if problem is not None:
        code, text = problem
        more = f" (only the first {m.body_bytes} bytes were read)" if m.body_limit_hit else ""
        more_vi = f" (chỉ đọc {m.body_bytes} byte đầu)" if m.body_limit_hit else ""
        return Verdict(
            Status.CRIT, Text(text.en + more, text.vi + more_vi), Reason.CONTENT,
            t("{url} is not the expected page: it may be an error or maintenance page; open it in a browser.",
              "{url} không đúng nội dung mong đợi: có thể là trang lỗi hoặc bảo trì; mở bằng trình duyệt để xem.",
              **place), code)
    status = cfg.thresholds.level(m.total)
    limit = cfg.thresholds.limit_for(status)
    if limit is not None:
        return Verdict(
            status, Text(f"{base.en}: slower than {limit:g} s", f"{base.vi}: chậm hơn {limit:g} giây"),
            Reason.THRESHOLD,
            t("{host} answered in {s:.2f} s, over the {level} limit of {limit:g} s: the phases in the details show "
              "whether DNS, connect, TLS or the server is slow; check the link load (`ping {host}`).",
              "{host} trả lời trong {s:.2f} giây, vượt ngưỡng {level} {limit:g} giây: các bước trong chi tiết cho biết "
              "chậm ở DNS, kết nối, TLS hay máy chủ; kiểm tra tải đường truyền (`ping {host}`).",
              s=m.total, level=status.name.lower(), limit=limit, **place), "slow")
    if m.body_limit_hit:
        return Verdict(Status.WARN, Text(
            f"{base.en}; body larger than max_body_bytes, reading stopped at {m.body_bytes} bytes",
            f"{base.vi}; nội dung lớn hơn max_body_bytes, đã dừng đọc ở {m.body_bytes} byte"),
            Reason.CONTENT, t("{url} is bigger than `max_body_bytes` ({n} bytes): raise the limit if that is expected.",
                              "{url} lớn hơn `max_body_bytes` ({n} byte): tăng giới hạn nếu điều đó là bình thường.",
                              n=cfg.max_body_bytes, **place), "body_limit")
    return Verdict(Status.OK, base)


def details_phases(seconds: Mapping[str, float]) -> dict[str, Any]:
    """Phase durations rounded for details (µs precision is plenty)."""
    return {k: round(v, 6) for k, v in seconds.items()}

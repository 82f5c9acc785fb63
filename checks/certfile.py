"""`certfile`: expiry of certificates kept on disk (officials' signing certificates, server certificates).

Signing certificates issued by the Government CA ("Ban Cơ yếu Chính phủ") live as PKCS#12 files
on officials' PCs or a shared folder; nobody notices their expiry until a signature fails. Each
certificate found becomes one Result, and a broken file is reported on its own without hiding the
others. Files are read and parsed on a worker thread (a hung network share cannot stall the loop).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
import stat
import time
from typing import Any, Literal

from pydantic import Field

from dxagent.checks.tls import certinfo as ci
from dxagent.config.check import CheckConfig
from dxagent.config.types import Secret
from dxagent.limits import DaysLimit
from dxagent.model import Reason, Result, Sample, Status, Text, t
from dxagent.probe import ProbeContext, run_blocking

__all__ = ["Config", "probe", "judge", "parse", "EXAMPLE", "METRICS", "FileError"]

METRICS: dict[str, str] = {
    "certfile_read_success": "1 if the file was read and its certificates parsed, else 0.",
    "certfile_not_after_timestamp_seconds": "Not-after time of the certificate.",
    "certfile_not_before_timestamp_seconds": "Not-before time of the certificate.",
}

EXAMPLE = """\
# Officials' signing certificates (PKCS#12) issued by the Government CA: days left.
- id: chungthu
  kind: certfile
  paths: ["/srv/chungthu/*.p12", "/srv/chungthu/*.pfx"]
  # password: {file: /etc/dxagent/secrets/p12.pass}   # or {env: NAME}; only for PKCS#12 files
  issuer_contains: "Ban Cơ yếu Chính phủ"  # case and diacritics ignored
  interval: 6h
  thresholds: {warn: 30, crit: 7}          # days left
"""

MAX_BYTES = 1024 * 1024  # a certificate file larger than this is not a certificate file
_PEM_BLOCK = re.compile(rb"-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----.*?-----END (?:X509 |TRUSTED )?CERTIFICATE-----", re.S)


class Config(CheckConfig):
    """Read certificate files (PEM bundles, DER, PKCS#12) and judge each certificate's days left."""

    kind: Literal["certfile"] = "certfile"
    paths: tuple[str, ...] = Field(
        min_length=1, description="Files or glob patterns (`*`, `?`, `[…]`; `**` descends into folders)."
    )
    password: Secret | None = Field(None, description="Password of PKCS#12 files: `{env: NAME}` or `{file: PATH}`.")
    issuer_contains: str | None = Field(
        None, min_length=1, description="Report only certificates whose issuer contains this text (case and diacritics ignored)."
    )
    skip_ca: bool = Field(False, description="Skip CA certificates (bundles that carry the chain).")
    max_files: int = Field(500, ge=1, le=100000, description="Files read at most per run (the rest are reported as skipped).")
    thresholds: DaysLimit = ci.days_thresholds()

    def target_label(self) -> str:
        return ",".join(self.paths)


class FileError(Exception):
    """A file that cannot be used: `reason` and `status` say how bad; the message never holds the password."""

    def __init__(self, reason: Reason, status: Status, en: str, vi: str) -> None:
        super().__init__(en)
        self.reason, self.status, self.text = reason, status, Text(en, vi)


@dataclasses.dataclass
class Found:
    """One outcome of the scan: a certificate (`cert`) or a problem (`error`) at `target`."""

    target: str
    path: str
    cert: Any = None
    error: FileError | None = None
    pattern: str = ""
    fmt: str = ""


# ----------------------------------------------------------------------------- judging (pure)


def judge(th: DaysLimit, days: float, not_yet_valid: bool = False) -> tuple[Status, Reason | None]:
    """Days left (and validity start) → status; see `_certinfo.judge_days` for the boundaries."""
    if not_yet_valid:
        return Status.CRIT, Reason.CONTENT
    status = ci.judge_days(days, th)
    return status, (Reason.THRESHOLD if status != Status.OK else None)


def parse(data: bytes, password: bytes | None) -> tuple[str, list[Any | FileError]]:
    """Certificates in a file's bytes → (format, [certificate or FileError per entry]).

    PEM blocks are parsed one by one so that one damaged block in a bundle hides nothing else.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

    if b"-----BEGIN" in data:
        out: list[Any | FileError] = []
        for block in _PEM_BLOCK.findall(data):
            try:
                out.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                out.append(FileError(Reason.CONTENT, Status.CRIT, "damaged PEM certificate block", "khối PEM chứng chỉ bị hỏng"))
        if not out and b"-----BEGIN PKCS7-----" in data:
            try:
                return "pkcs7", list(pkcs7.load_pem_pkcs7_certificates(data))
            except ValueError:
                pass
        if not out:
            raise FileError(Reason.CONTENT, Status.CRIT, "PEM file without a certificate (only a key or a request?)",
                            "tệp PEM không chứa chứng chỉ (chỉ có khoá hoặc yêu cầu cấp?)")
        return "pem", out
    for fmt, loader in (("der", x509.load_der_x509_certificate), ("pkcs7", pkcs7.load_der_pkcs7_certificates)):
        try:
            loaded = loader(data)
            return fmt, list(loaded) if isinstance(loaded, list) else [loaded]
        except ValueError:
            pass
    try:
        p12 = pkcs12.load_pkcs12(data, password)
    except ValueError as exc:
        if "password" not in str(exc).lower():
            raise FileError(Reason.CONTENT, Status.CRIT, "not a certificate file (PEM, DER, PKCS#7 or PKCS#12)",
                            "không phải tệp chứng chỉ (PEM, DER, PKCS#7 hoặc PKCS#12)") from None
        if password is None:
            raise FileError(Reason.AUTH, Status.UNKNOWN, "PKCS#12 file needs a password: set `password`",
                            "tệp PKCS#12 cần mật khẩu: khai báo `password`") from None
        raise FileError(Reason.AUTH, Status.UNKNOWN, "wrong PKCS#12 password, or the file is damaged",
                        "sai mật khẩu PKCS#12 hoặc tệp bị hỏng") from None
    certs = ([p12.cert.certificate] if p12.cert is not None else []) + [c.certificate for c in p12.additional_certs]
    if not certs:
        raise FileError(Reason.CONTENT, Status.CRIT, "PKCS#12 file without a certificate", "tệp PKCS#12 không chứa chứng chỉ")
    return "pkcs12", certs


# ----------------------------------------------------------------------------- I/O (worker thread)


def _read(path: str) -> bytes:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device would block or never end
            raise FileError(Reason.CONTENT, Status.UNKNOWN, "not a regular file", "không phải tệp thông thường")
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except PermissionError:
        raise FileError(Reason.PERMISSION, Status.UNKNOWN, "permission denied", "không có quyền đọc tệp") from None
    except OSError as exc:
        raise FileError(Reason.CONTENT, Status.UNKNOWN, f"cannot read: {exc.strerror or exc}",
                        f"không đọc được tệp: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise FileError(Reason.CONTENT, Status.CRIT, "larger than 1 MiB: not a certificate file",
                        "lớn hơn 1 MiB: không phải tệp chứng chỉ")
    return data


def _scan(patterns: tuple[str, ...], password: bytes | None, max_files: int) -> tuple[list[Found], list[str], int]:
    """Expand the patterns, read and parse every file → (findings, patterns matching nothing, files skipped)."""
    found: list[Found] = []
    empty: list[str] = []
    seen: set[str] = set()
    skipped = 0
    for pattern in patterns:
        expanded = os.path.expanduser(pattern)
        if glob.has_magic(expanded):
            paths = sorted(p for p in glob.glob(expanded, recursive=True) if os.path.isfile(p))
            if not paths:
                empty.append(pattern)
        else:
            paths = [expanded]
        for path in paths:
            if path in seen:
                continue
            seen.add(path)
            if len(seen) > max_files:
                skipped += 1
                continue
            if not glob.has_magic(expanded) and not os.path.lexists(path):
                err = FileError(Reason.CONFIG, Status.CRIT, "file not found", "không tìm thấy tệp")
                found.append(Found(path, path, error=err, pattern=pattern))
                continue
            try:
                fmt, items = parse(_read(path), password)
            except FileError as exc:
                found.append(Found(path, path, error=exc, pattern=pattern))
                continue
            for i, item in enumerate(items):
                target = f"{path}#{i}" if i else path  # the first (leaf, key's own) keeps the bare path
                if isinstance(item, FileError):
                    found.append(Found(target, path, error=item, pattern=pattern, fmt=fmt))
                else:
                    found.append(Found(target, path, cert=item, pattern=pattern, fmt=fmt))
    return found, empty, skipped


async def probe(cfg: Config, ctx: ProbeContext) -> list[Result]:
    """One Result per certificate, per unusable file, and per pattern that matched nothing."""
    import asyncio

    password = cfg.password.reveal().encode() if cfg.password is not None else None
    try:
        found, empty, skipped = await asyncio.wait_for(run_blocking(_scan, cfg.paths, password, cfg.max_files), ctx.timeout)
    except TimeoutError:
        return [ctx.result(
            Status.CRIT, t("reading the certificate files took longer than the timeout",
                           "đọc các tệp chứng chỉ quá thời hạn chờ"),
            target=cfg.target_label(), reason=Reason.TIMEOUT,
            hint=t("Reading {paths} took more than {s:g} s: the folder is on a slow or hung share, or holds too many "
                   "files: narrow `paths` or lower `max_files`.",
                   "Đọc {paths} mất hơn {s:g} giây: thư mục nằm trên ổ mạng chậm hoặc bị treo, hoặc có quá nhiều tệp: "
                   "thu hẹp `paths` hoặc giảm `max_files`.", paths=cfg.target_label(), s=ctx.timeout))]
    now = time.time()
    results: list[Result] = []
    needle = ci.fold(cfg.issuer_contains) if cfg.issuer_contains else None
    filtered = 0
    for f in found:
        if f.error is not None:
            results.append(_file_error(ctx, f))
            continue
        facts = ci.facts(f.cert, now)
        if (needle is not None and needle not in ci.fold(facts["issuer"])) or (cfg.skip_ca and facts["ca"]):
            filtered += 1
            continue
        results.append(_cert_result(cfg, ctx, f, facts, now))
    for pattern in empty:
        results.append(ctx.result(
            Status.WARN, t("no file matches {pattern}", "không có tệp nào khớp {pattern}", pattern=pattern),
            target=pattern, reason=Reason.CONFIG,
            hint=t("Check that the folder {folder} exists and holds files matching {name}; the certificates may have "
                   "been moved or deleted.",
                   "Kiểm tra thư mục {folder} có tồn tại và có tệp khớp {name}; chứng chỉ có thể đã bị chuyển hoặc xoá.",
                   folder=os.path.dirname(pattern) or ".", name=os.path.basename(pattern))))
    if skipped:
        results.append(ctx.result(
            Status.WARN, t("{n} more files not read (max_files {m})", "còn {n} tệp chưa đọc (max_files {m})", n=skipped, m=cfg.max_files),
            target=cfg.target_label(), reason=Reason.CONFIG,
            hint=t("Narrow `paths` or raise `max_files` above {m} ({n} files were left unread).",
                   "Thu hẹp `paths` hoặc tăng `max_files` lên trên {m} (còn {n} tệp chưa đọc).", m=cfg.max_files,
                   n=skipped)))
    if not results:
        results.append(ctx.result(
            Status.WARN, t("{n} certificates found, none issued by {issuer!r}", "có {n} chứng chỉ nhưng không có chứng chỉ nào do {issuer!r} cấp",
                           n=filtered, issuer=cfg.issuer_contains),
            target=cfg.target_label(), reason=Reason.CONTENT,
            hint=t("None of the {n} certificates has {issuer!r} in its issuer: compare `issuer_contains` with the "
                   "issuers shown by `dxagent check -v` without it.",
                   "Không chứng chỉ nào trong {n} chứng chỉ có {issuer!r} trong tên tổ chức cấp: đối chiếu "
                   "`issuer_contains` với tổ chức cấp hiển thị khi chạy `dxagent check -v` không có bộ lọc.",
                   n=filtered, issuer=cfg.issuer_contains)))
    return results


def _cert_result(cfg: Config, ctx: ProbeContext, f: Found, facts: dict[str, Any], now: float) -> Result:
    days = ci.days_left(facts["not_after_timestamp"], now)
    not_yet = facts["not_before_timestamp"] > now
    status, reason = judge(cfg.thresholds, days, not_yet)
    who = facts["subject_cn"] or facts["subject"]
    date = facts["not_after"][:10]
    where = t("{who} in {path}", "{who} trong {path}", who=who, path=f.path)
    issuer = facts["issuer_cn"] or facts["issuer"]
    if not_yet:
        summary = t("{who}: not valid before {start}", "{who}: chưa có hiệu lực trước {start}", who=who, start=facts["not_before"][:16])
        hint = t("{where} is valid only from {start} UTC: check this machine's clock (`clock` check); if the clock is "
                 "right, keep using the previous certificate until then.",
                 "{where_vi} chỉ có hiệu lực từ {start} UTC: kiểm tra đồng hồ máy (kiểm tra `clock`); nếu đồng hồ đúng, "
                 "tiếp tục dùng chứng chỉ cũ đến ngày đó.", where=where.en, where_vi=where.vi, start=facts["not_before"][:16])
    elif days <= 0:
        summary = t("{who}: expired {n:.1f} days ago on {date}", "{who}: đã hết hạn {n:.1f} ngày trước, ngày {date}",
                    who=who, n=-days, date=date)
        hint = t("{where} expired on {date}: request a renewed certificate from {issuer} and install it; signatures "
                 "made with this one are rejected.",
                 "{where_vi} đã hết hạn ngày {date}: đề nghị {issuer} cấp lại chứng chỉ và cài đặt; chữ ký bằng chứng "
                 "chỉ này bị từ chối.", where=where.en, where_vi=where.vi, date=date, issuer=issuer)
    else:
        summary = t("{who}: {n:.1f} days left, until {date}", "{who}: còn {n:.1f} ngày, đến {date}", who=who, n=days, date=date)
        limit = cfg.thresholds.crit if status == Status.CRIT else cfg.thresholds.warn
        hint = t("{where} expires on {date} ({n:.0f} days left, limit {limit:g}): request the renewal from {issuer} "
                 "now, issuing and installing takes time.",
                 "{where_vi} hết hạn ngày {date} (còn {n:.0f} ngày, ngưỡng {limit:g}): đề nghị {issuer} gia hạn ngay, "
                 "việc cấp và cài đặt cần thời gian.", where=where.en, where_vi=where.vi, date=date, n=days,
                 limit=limit if limit is not None else 0, issuer=issuer)
    details = {k: facts[k] for k in ("subject", "subject_cn", "issuer", "issuer_cn", "serial", "sans", "not_before",
                                     "not_after", "days_left", "key_type", "key_bits", "signature_algorithm", "ca", "sha256")}
    details.update(path=f.path, format=f.fmt, pattern=f.pattern)
    return ctx.result(status, summary, target=f.target, reason=reason, hint=hint if status != Status.OK else None,
                      details=details, samples=[
                          Sample.of("certfile_read_success", 1),
                          Sample.of("certfile_not_after_timestamp_seconds", facts["not_after_timestamp"]),
                          Sample.of("certfile_not_before_timestamp_seconds", facts["not_before_timestamp"]),
                      ])


def _error_hint(reason: Reason, path: str, pattern: str) -> Text | None:
    """What to do about a file that cannot be used, naming the file."""
    if reason == Reason.PERMISSION:
        return t("Let the dxagent user read {path} (group or ACL), without making it readable to everyone.",
                 "Cấp quyền đọc {path} cho người dùng dxagent (nhóm hoặc ACL), không mở quyền cho mọi người.", path=path)
    if reason == Reason.AUTH:
        return t("Give the password of {path} with `password: {{env: NAME}}` or `{{file: PATH}}`; if it is set, it "
                 "does not open this file.",
                 "Khai báo mật khẩu của {path} bằng `password: {{env: NAME}}` hoặc `{{file: PATH}}`; nếu đã khai báo "
                 "thì mật khẩu đó không mở được tệp này.", path=path)
    if reason == Reason.CONFIG:
        return t("{path} does not exist: check `paths` ({pattern}); the certificate may have been moved or deleted.",
                 "{path} không tồn tại: kiểm tra `paths` ({pattern}); chứng chỉ có thể đã bị chuyển hoặc xoá.",
                 path=path, pattern=pattern)
    if reason == Reason.CONTENT:
        return t("{path} is damaged or not a certificate: export it again from the signing tool or the CA, or narrow "
                 "`paths` to the certificate files.",
                 "{path} bị hỏng hoặc không phải chứng chỉ: xuất lại từ công cụ ký số hoặc từ CA, hoặc thu hẹp `paths` "
                 "về đúng các tệp chứng chỉ.", path=path)
    return None


def _file_error(ctx: ProbeContext, f: Found) -> Result:
    err = f.error
    assert err is not None
    return ctx.result(err.status, err.text, target=f.target, reason=err.reason, hint=_error_hint(err.reason, f.path, f.pattern),
                      samples=[Sample.of("certfile_read_success", 0)],
                      details={"path": f.path, "pattern": f.pattern, "error": err.text.en})

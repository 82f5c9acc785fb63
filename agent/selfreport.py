"""Workstation self-reports: the JSON a PC sends (`dxagent inventory --push URL`) or drops in a folder.

Why: discovery sees a Windows PC's MAC and open ports, but only the PC itself knows its OS build,
update state and anti-malware. The site agent accepts reports over HTTP (the daemon's server calls
`accept_report`, then `save_report` into the configured folder) or straight from the folder (a
share, a USB stick), so the folder is the one place the `discovery` check reads.

Order of checks in `accept_report`: the token first (constant-time, 401), then the size (413),
then JSON (400) and the schema (422), so an unauthenticated client learns nothing about the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dxagent.config.types import Secret

__all__ = ["SCHEMA", "MAX_BYTES", "SelfReport", "ReportRejected", "accept_report", "parse_report", "build_report",
           "save_report", "read_folder", "FolderReport", "push", "receiver"]

SCHEMA = "dxagent.inventory/1"
MAX_BYTES = 256 * 1024
_Str = Field(max_length=512)


class _M(BaseModel):
    # unknown fields are dropped (newer agents may add facts), known ones are type-checked
    model_config = ConfigDict(extra="ignore", frozen=True)


class OsFacts(_M):
    family: str | None = Field(None, max_length=64)
    name: str = Field(max_length=128)
    version: str | None = Field(None, max_length=64)
    build: str | None = Field(None, max_length=64)
    pretty: str | None = Field(None, max_length=256)


class Address(_M):
    address: str = Field(max_length=64)
    netmask: str | None = Field(None, max_length=64)


class Nic(_M):
    name: str = Field(max_length=128)
    mac: str | None = Field(None, max_length=32)
    addresses: list[Address] = Field(default_factory=list, max_length=64)
    up: bool | None = None
    speed_mbps: int | None = Field(None, ge=0)
    mtu: int | None = Field(None, ge=0)


class Disk(_M):
    device: str = Field(max_length=256)
    mount: str = Field(max_length=256)
    fstype: str = Field("", max_length=64)
    total_bytes: int = Field(ge=0)
    used_bytes: int = Field(ge=0)
    free_bytes: int = Field(ge=0)


class Memory(_M):
    total_bytes: int = Field(ge=0)
    available_bytes: int | None = Field(None, ge=0)


class Cpu(_M):
    model: str | None = Field(None, max_length=256)
    cores_physical: int | None = Field(None, ge=0)
    cores_logical: int | None = Field(None, ge=0)


class Antimalware(_M):
    state: Literal["running", "not_found", "unknown"] = "unknown"
    products: list[str] = Field(default_factory=list, max_length=32)
    method: str | None = Field(None, max_length=128)


class Machine(_M):
    vendor: str | None = Field(None, max_length=256)
    model: str | None = Field(None, max_length=256)
    serial: str | None = Field(None, max_length=256)


class Updates(_M):
    last_change: float | None = None
    source: str | None = Field(None, max_length=256)


class Facts(_M):
    """The validated subset of `dxagent.hostfacts.collect()`."""

    hostname: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    os: OsFacts
    os_support: Literal["supported", "warn", "unsupported", "unknown"] = "unknown"
    kernel: str | None = Field(None, max_length=128)
    arch: str | None = Field(None, max_length=32)
    cpu: Cpu | None = None
    memory: Memory | None = None
    disks: list[Disk] = Field(default_factory=list, max_length=64)
    nics: list[Nic] = Field(default_factory=list, max_length=64)
    uptime_seconds: float | None = Field(None, ge=0)
    machine: Machine | None = None
    antimalware: Antimalware = Field(default_factory=Antimalware)
    updates: Updates | None = None
    collected_at: float | None = None


class SelfReport(_M):
    """One report: the schema tag, when it was sent and the facts."""

    schema_: Literal["dxagent.inventory/1"] = Field(alias="schema")
    sent_at: float
    agent_version: str = Field("", max_length=64)
    facts: Facts


class ReportRejected(Exception):
    """Why a report was refused, with the HTTP status the endpoint should answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def build_report(facts: dict[str, Any], agent_version: str, now: float | None = None) -> dict[str, Any]:
    """The JSON document a workstation sends (facts from `hostfacts.collect()`)."""
    return {"schema": SCHEMA, "sent_at": round(time.time() if now is None else now, 3),
            "agent_version": agent_version, "facts": facts}


def _schema_error(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[:3]
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in first)


def parse_report(body: bytes, max_bytes: int = MAX_BYTES) -> SelfReport:
    """Size-bounded JSON + schema validation (no token): used for the folder and by accept_report."""
    if len(body) > max_bytes:
        raise ReportRejected(413, f"report of {len(body)} bytes exceeds the limit of {max_bytes}")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportRejected(400, f"not JSON: {exc}") from None
    try:
        return SelfReport.model_validate(data)
    except ValidationError as exc:
        raise ReportRejected(422, f"does not match schema {SCHEMA}: {_schema_error(exc)}") from None


def accept_report(body: bytes, token_header: str | None, expected: Secret, max_bytes: int = MAX_BYTES) -> SelfReport:
    """Check the site token (constant-time), the size and the schema; raise ReportRejected otherwise.

    `token_header` is the Authorization header value: `Bearer <token>` (or the bare token).
    """
    secret = expected.reveal().encode()
    if not secret:
        raise ReportRejected(500, "the site token is empty: configure self_reports.token")
    given = (token_header or "").strip()
    if given[:7].lower() == "bearer ":
        given = given[7:].strip()
    # compare_digest takes the same time whatever the first differing byte, so the token cannot be guessed byte by byte
    if not hmac.compare_digest(given.encode(), secret):
        raise ReportRejected(401, "missing or wrong site token")
    return parse_report(body, max_bytes)


def _file_name(report: SelfReport) -> str:
    name = re.sub(r"[^a-z0-9._-]", "_", report.facts.hostname.lower())[:64].strip(".") or "host"
    return f"{name}.json"


def save_report(report: SelfReport, folder: Path) -> Path:
    """Write the validated report atomically as `<hostname>.json` (one file per PC, newest wins)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _file_name(report)
    data = report.model_dump_json(by_alias=True, exclude_none=False).encode()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".incoming-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


@dataclasses.dataclass(frozen=True)
class FolderReport:
    """A report read from the folder, with the time it was received (the file's mtime)."""

    path: Path
    received: float
    report: SelfReport


def read_folder(folder: Path, *, max_bytes: int = MAX_BYTES, max_age: float | None = None,
                now: float | None = None, max_files: int = 5000) -> tuple[list[FolderReport], list[str]]:
    """Every valid `*.json` report (newest per hostname) and one problem line per bad file.

    Reports older than `max_age` (by file time) are skipped silently: that PC is simply not seen.
    """
    now = time.time() if now is None else now
    reports: dict[str, FolderReport] = {}
    problems: list[str] = []
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix == ".json" and not p.name.startswith("."))
    except FileNotFoundError:
        return [], [f"{folder}: self-report folder does not exist"]
    except OSError as exc:
        return [], [f"{folder}: cannot list the self-report folder: {exc.strerror or exc}"]
    for path in files[:max_files]:
        try:
            st = path.stat()
            if max_age is not None and now - st.st_mtime > max_age:
                continue
            if st.st_size > max_bytes:
                problems.append(f"{path}: {st.st_size} bytes exceeds the limit of {max_bytes}")
                continue
            body = path.read_bytes()
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        try:
            report = parse_report(body, max_bytes)
        except ReportRejected as exc:
            problems.append(f"{path}: {exc.message}")
            continue
        key = report.facts.hostname.lower()
        if key not in reports or reports[key].received < st.st_mtime:
            reports[key] = FolderReport(path, st.st_mtime, report)
    if len(files) > max_files:
        problems.append(f"{folder}: {len(files)} files, only the first {max_files} read")
    return list(reports.values()), problems


def push(url: str, report: dict[str, Any], token: Secret, timeout: float = 10.0) -> tuple[int, str]:
    """POST the report to the site agent; (HTTP status, short reply text). Raises httpx errors."""
    import httpx

    body = json.dumps(report, ensure_ascii=False).encode()
    reply = httpx.post(url, content=body, timeout=timeout, headers={
        "Authorization": f"Bearer {token.reveal()}", "Content-Type": "application/json"})
    return reply.status_code, reply.text[:200]


def receiver(checks: Any) -> tuple[Path, Secret, int] | None:
    """Folder, token and size limit of the daemon's self-report endpoint: those of the first enabled
    `discovery` check with both `self_reports.folder` and `self_reports.token`, else None (the
    endpoint then answers 404: a site that reads reports from a share needs no endpoint)."""
    for c in checks:
        sr = getattr(c, "self_reports", None) if c.kind == "discovery" and c.enabled else None
        if sr is not None and sr.folder is not None and sr.token is not None:
            return sr.folder, sr.token, int(sr.max_bytes)
    return None

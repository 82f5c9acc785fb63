"""The site's asset register (CSV or YAML) and its reconciliation with what discovery saw.

Why per-row errors: registers are kept by hand in a spreadsheet; one bad row must not hide the
other 80 devices. `load()` returns the good entries plus one `Problem` (file:line: what is wrong)
per bad row. Matching is by MAC first, then hostname, then IP, in three passes, so a MAC match
always wins over another entry's hostname match. The format is documented in docs/inventory.md
with a sample in agent/defaults/register-sample.csv.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dxagent.config import yamlsrc
from dxagent.sweep import normalise_mac

__all__ = ["RegisterEntry", "Register", "Problem", "RegisterError", "load", "load_text", "Seen",
           "Reconciliation", "reconcile", "short_name", "COLUMNS", "WORKSTATION_TYPES"]

DeviceType = Literal["workstation", "laptop", "printer", "network", "server", "phone", "camera", "other"]
WORKSTATION_TYPES = frozenset({"workstation", "laptop"})

# column → accepted header spellings (case-insensitive; Vietnamese without diacritics for spreadsheets)
COLUMNS: dict[str, tuple[str, ...]] = {
    "hostname": ("hostname", "host", "ten_may", "tên máy"),
    "mac": ("mac", "dia_chi_mac", "địa chỉ mac"),
    "ip": ("ip", "dia_chi_ip", "địa chỉ ip"),
    "assigned_to": ("assigned_to", "official", "nguoi_su_dung", "người sử dụng", "can_bo"),
    "type": ("type", "loai", "loại"),
    "specs": ("specs", "cau_hinh", "cấu hình"),
    "condition": ("condition", "tinh_trang", "tình trạng"),
    "location": ("location", "vi_tri", "vị trí"),
    "note": ("note", "ghi_chu", "ghi chú"),
}
_ALIASES = {alias: col for col, names in COLUMNS.items() for alias in names}


class RegisterEntry(BaseModel):
    """One expected device. At least a hostname or a MAC address identifies it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hostname: str | None = Field(None, description="Computer name, as Windows or the DHCP lease shows it.")
    mac: str | None = Field(None, description="MAC address of the wired (or main) network card.")
    ip: str | None = Field(None, description="Fixed IP address, if the device has one.")
    assigned_to: str = Field("", description="Official or role using the device (empty = not assigned).")
    type: DeviceType = Field("workstation", description="Device type.")
    specs: str = Field("", description="Free text: CPU, RAM, disk, purchase year…")
    condition: Literal["working", "broken", "spare"] = Field("working", description="Physical condition.")
    location: str = Field("", description="Room or office.")
    note: str = Field("", description="Free text.")
    line: int = Field(0, exclude=True, description="(internal) line in the register file.")

    @field_validator("hostname", "mac", "ip", mode="before")
    @classmethod
    def _blank_is_none(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip()
        if len(v) > 253 or any(ch.isspace() for ch in v):
            raise ValueError(f"hostname {v!r} is not a valid computer name")
        return v

    @field_validator("mac")
    @classmethod
    def _mac(cls, v: str | None) -> str | None:
        if v is None:
            return None
        mac = normalise_mac(v)
        if mac is None:
            raise ValueError(f"MAC address {v!r} is not 12 hex digits (e.g. 00:1a:2b:3c:4d:5e)")
        return mac

    @field_validator("ip")
    @classmethod
    def _ip(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            return str(ipaddress.ip_address(v.strip()))
        except ValueError:
            raise ValueError(f"IP address {v!r} is not valid") from None

    @field_validator("type", "condition", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        if isinstance(v, str):
            return v.strip().lower() or None
        return v

    @model_validator(mode="after")
    def _identified(self) -> RegisterEntry:
        if not self.hostname and not self.mac:
            raise ValueError("a device needs a hostname or a MAC address")
        return self

    def label(self) -> str:
        """How the device is named in messages."""
        return self.hostname or self.mac or "?"


@dataclasses.dataclass(frozen=True)
class Problem:
    """One bad row or file-level mistake: `file:line: message`."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


class RegisterError(Exception):
    """The register file as a whole cannot be used (missing, unreadable, not CSV/YAML)."""


@dataclasses.dataclass
class Register:
    """Good entries (in file order) and the problems found; `source` is the file name."""

    entries: list[RegisterEntry]
    problems: list[Problem]
    source: str


def _fmt_errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "literal_error":
            msg = "must be one of " + (err.get("ctx") or {}).get("expected", "")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def _entry(data: Mapping[str, Any], filename: str, line: int | None, problems: list[Problem],
           seen: dict[str, int]) -> RegisterEntry | None:
    try:
        entry = RegisterEntry.model_validate({**data, "line": line or 0})
    except ValidationError as exc:
        problems.append(Problem(filename, line, _fmt_errors(exc)))
        return None
    for key in (f"mac {entry.mac}" if entry.mac else None, f"hostname {short_name(entry.hostname)}" if entry.hostname else None):
        if key and key in seen:
            problems.append(Problem(filename, line, f"duplicate {key} (first on line {seen[key]}); row ignored"))
            return None
    for key in (f"mac {entry.mac}" if entry.mac else None, f"hostname {short_name(entry.hostname)}" if entry.hostname else None):
        if key:
            seen[key] = line or 0
    return entry


def load_csv_text(text: str, filename: str) -> Register:
    """Rows of a CSV with a header line (comma, semicolon or tab; `#` lines are comments)."""
    text = text.lstrip("\ufeff")
    lines = text.splitlines(keepends=True)
    first = next((i for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")), None)
    if first is None:
        return Register([], [Problem(filename, None, "no header line (the file is empty)")], filename)
    header_line = lines[first]
    delimiter = max((",", ";", "\t"), key=header_line.count)
    reader = csv.reader(io.StringIO("".join(lines[first:])), delimiter=delimiter)
    problems: list[Problem] = []
    header = next(reader)
    columns: list[str | None] = []
    for name in header:
        col = _ALIASES.get(name.strip().lower())
        if col is None and name.strip():
            problems.append(Problem(filename, first + 1, f"unknown column {name.strip()!r} ignored; known: "
                                    + ", ".join(COLUMNS)))
        columns.append(col)
    if "hostname" not in columns and "mac" not in columns:
        problems.append(Problem(filename, first + 1, "the header needs a hostname or a mac column"))
        return Register([], problems, filename)
    entries: list[RegisterEntry] = []
    seen: dict[str, int] = {}
    start = first + 1
    for row in reader:
        line = start + 1
        start = first + reader.line_num
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if len(row) > len(columns):
            problems.append(Problem(filename, line, f"{len(row)} cells but the header has {len(columns)} columns"))
            continue
        data = {col: cell.strip() for col, cell in zip(columns, row, strict=False) if col and cell.strip()}
        entry = _entry(data, filename, line, problems, seen)
        if entry is not None:
            entries.append(entry)
    return Register(entries, problems, filename)


def load_yaml_text(text: str, filename: str) -> Register:
    """A YAML list of devices, or a mapping with a `devices:` list."""
    try:
        src = yamlsrc.load(text, filename)
    except yamlsrc.YamlError as exc:
        return Register([], [Problem(filename, exc.line, exc.message)], filename)
    data, prefix = src.data, ()
    if isinstance(data, dict) and set(data) == {"devices"}:
        data, prefix = data["devices"], ("devices",)
    if not isinstance(data, list):
        return Register([], [Problem(filename, 1, "expected a list of devices (or `devices:` with a list)")], filename)
    problems: list[Problem] = []
    entries: list[RegisterEntry] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(data):
        line = src.line((*prefix, i))
        if not isinstance(item, dict):
            problems.append(Problem(filename, line, "expected a mapping with hostname/mac/…"))
            continue
        item = {k: (str(v) if isinstance(v, int | float) and k in ("hostname", "mac", "ip") else v) for k, v in item.items()}
        entry = _entry(item, filename, line, problems, seen)
        if entry is not None:
            entries.append(entry)
    return Register(entries, problems, filename)


def load_text(text: str, filename: str) -> Register:
    """By extension: `.yml`/`.yaml` → YAML, anything else → CSV."""
    if filename.lower().endswith((".yml", ".yaml")):
        return load_yaml_text(text, filename)
    return load_csv_text(text, filename)


def load(path: str | Path) -> Register:
    """Read a register file; RegisterError only when the file as a whole is unusable."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise RegisterError(f"{p}: register file not found") from None
    except OSError as exc:
        raise RegisterError(f"{p}: cannot read the register: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RegisterError(f"{p}: not UTF-8 text; save the spreadsheet as 'CSV UTF-8'") from None
    return load_text(text, str(p))


# --- reconciliation ----------------------------------------------------------------------------

def short_name(name: str | None) -> str:
    """Host names compare on their first label, case-insensitively (PC-01 = pc-01.xa.local)."""
    return (name or "").strip().lower().split(".")[0]


@dataclasses.dataclass
class Seen:
    """A device observed by discovery or a self-report (merged), with its first/last sighting."""

    key: str
    mac: str | None
    hostnames: tuple[str, ...]
    ips: tuple[str, ...]
    first_seen: float
    last_seen: float
    facts: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Reconciliation:
    """present / missing / unregistered and the workstation coverage (None when staff is unknown)."""

    present: list[tuple[RegisterEntry, Seen, str]]        # entry, device, matched by (mac|hostname|ip)
    missing: list[tuple[RegisterEntry, Seen | None]]      # device = last sighting, if ever
    unregistered: list[Seen]
    working_assigned: int
    staff: int | None

    @property
    def coverage(self) -> float | None:
        if not self.staff:
            return None
        return self.working_assigned / self.staff


def reconcile(entries: Sequence[RegisterEntry], seen: Iterable[Seen], *, now: float, missing_after: float,
              staff: int | None) -> Reconciliation:
    """Match the register with observed devices (pure).

    present = registered and seen within `missing_after`; missing = registered and not seen for
    longer (or never); unregistered = seen within `missing_after` and matching no entry.
    Coverage counts present workstations/laptops in working condition assigned to someone.
    """
    devices = list(seen)
    index: dict[str, dict[str, list[Seen]]] = {"mac": {}, "hostname": {}, "ip": {}}
    for d in sorted(devices, key=lambda d: -d.last_seen):          # the latest sighting first
        if d.mac:
            index["mac"].setdefault(d.mac, []).append(d)
        for h in dict.fromkeys(short_name(h) for h in d.hostnames):
            index["hostname"].setdefault(h, []).append(d)
        for ip in d.ips:
            index["ip"].setdefault(ip, []).append(d)
    claimed: dict[int, tuple[Seen, str]] = {}
    used: set[str] = set()
    for how in ("mac", "hostname", "ip"):
        for i, entry in enumerate(entries):
            value = {"mac": entry.mac, "hostname": short_name(entry.hostname) or None, "ip": entry.ip}[how]
            if i in claimed or value is None:
                continue
            dev = next((d for d in index[how].get(value, []) if d.key not in used), None)
            if dev is not None:
                claimed[i] = (dev, how)
                used.add(dev.key)
    present: list[tuple[RegisterEntry, Seen, str]] = []
    missing: list[tuple[RegisterEntry, Seen | None]] = []
    for i, entry in enumerate(entries):
        dev, how = claimed.get(i, (None, ""))
        if dev is not None and now - dev.last_seen <= missing_after:
            present.append((entry, dev, how))
        else:
            missing.append((entry, dev))
    unregistered = [d for d in devices if d.key not in used and now - d.last_seen <= missing_after]
    working = sum(1 for e, _, _ in present
                  if e.type in WORKSTATION_TYPES and e.assigned_to.strip() and e.condition == "working")
    return Reconciliation(present, missing, sorted(unregistered, key=lambda d: d.key), working, staff)

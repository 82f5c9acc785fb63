"""`snmp`: a router's or switch's system group and IF-MIB interfaces over SNMP v2c or v3.

One result for the device (reachable, uptime, restart) plus one per selected interface (target
`host/ifName`), so a down uplink is its own line and its own alert. Rates (bits/s, errors/s)
come from counter deltas between runs, kept in `ctx.state`. The wire protocol (BER, SNMPv3 USM)
is our own small client in `_snmpclient`/`_snmpber`/`_snmpusm`; see docs/architecture.md for why.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from typing import Literal

from pydantic import Field, field_validator, model_validator

from dxagent.checks.snmp import ifmib as ifmib
from dxagent.checks.snmp.client import Credentials, Session, SnmpError
from dxagent.config.check import CheckConfig
from dxagent.config.types import Duration, Model, Secret
from dxagent.limits import NumberLimit, RatioLimit, defaults, renamed
from dxagent.model import Reason, Result, Status
from dxagent.probe import ProbeContext

from .results import device_failure, device_result, interface_result, missing_result

__all__ = ["Config", "Thresholds", "probe", "judge_interface", "EXAMPLE", "METRICS"]

METRICS: dict[str, str] = {
    "snmp_up": "1 if the SNMP agent answered the system-group query, else 0.",
    "snmp_uptime_seconds": "sysUpTime: time since the SNMP agent (re)started.",
    "snmp_interface_admin_up": "1 if ifAdminStatus is up.",
    "snmp_interface_oper_up": "1 if ifOperStatus is up.",
    "snmp_interface_speed_bytes_per_second": "Interface speed from ifHighSpeed (or ifSpeed), in bytes per second.",
    "snmp_interface_receive_bytes_per_second": "Received bytes per second between the last two runs.",
    "snmp_interface_transmit_bytes_per_second": "Transmitted bytes per second between the last two runs.",
    "snmp_interface_utilization_ratio": "Bits per second divided by the interface speed, per direction.",
    "snmp_interface_errors_per_second": "ifInErrors/ifOutErrors increase per second, per direction.",
    "snmp_interface_discards_per_second": "ifInDiscards/ifOutDiscards increase per second, per direction.",
    "snmp_interface_receive_bytes_total": "ifHCInOctets (or ifInOctets): bytes received, as the device counts.",
    "snmp_interface_transmit_bytes_total": "ifHCOutOctets (or ifOutOctets): bytes sent, as the device counts.",
}

EXAMPLE = """\
# The commune router's uplink to the province, over SNMPv3 (authPriv).
- id: router-uplink
  kind: snmp
  host: 192.0.2.1
  version: v3
  user: dxagent
  security_level: authPriv
  auth_protocol: SHA
  auth_key: {file: /etc/dxagent/secrets/snmp-auth}   # or {env: SNMP_AUTH_KEY}; never inline
  priv_protocol: AES
  priv_key: {file: /etc/dxagent/secrets/snmp-priv}
  enabled: false                   # secrets are read only once the check is enabled
  interfaces: [ge-0/0/0]           # only the uplink (exact ifName or ifDescr)
  thresholds: {utilization: {warn: 80%, crit: 95%}}
"""

MEASURES = ("utilization", "errors", "discards")  # per-interface measures judged against `thresholds`
SecurityLevel = Literal["noAuthNoPriv", "authNoPriv", "authPriv"]
AuthProtocol = Literal["MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"]
PrivProtocol = Literal["DES", "3DES", "AES", "AES192", "AES256", "AES192C", "AES256C"]


class Thresholds(Model):
    """Per-interface limits; utilization and error/discard rates apply to either direction."""

    utilization: RatioLimit = defaults(RatioLimit(warn=0.8, crit=0.95),
                                       "Share of the interface speed in use (default warn 80%, crit 95%).")
    errors: NumberLimit = defaults(NumberLimit(warn=1.0), "Errors per second, in or out (default warn 1).")
    discards: NumberLimit = defaults(NumberLimit(), "Discards per second, in or out.")
    oper_down: Literal["crit", "warn"] = Field(
        "crit", description="Status of an interface that is administratively up but operationally down.")

    _renamed = renamed({f"{m}_{level}": f"{m}: {{{level}: …}}" for m in MEASURES for level in ("warn", "crit")})


class Config(CheckConfig):
    """Query an SNMP agent's system group and interface table."""

    kind: Literal["snmp"] = "snmp"
    host: str = Field(min_length=1, description="Agent host name or IP address.")
    port: int = Field(161, ge=1, le=65535, description="Agent UDP port.")
    version: Literal["v2c", "v3"] = Field(description="SNMP version: `v2c` (community) or `v3` (user-based security).")
    community: Secret | None = Field(None, description="v2c community (a secret reference).")
    user: str | None = Field(None, min_length=1, max_length=32, description="v3 user name.")
    security_level: SecurityLevel = Field("authPriv", description="v3 security level.")
    auth_protocol: AuthProtocol = Field("SHA", description="v3 authentication protocol.")
    auth_key: Secret | None = Field(None, description="v3 authentication passphrase (8+ characters; a secret reference).")
    priv_protocol: PrivProtocol = Field(
        "AES", description="v3 privacy protocol (`AES192`/`AES256`: Blumenthal as Net-SNMP; `…C`: Cisco key extension).")
    priv_key: Secret | None = Field(None, description="v3 privacy passphrase (8+ characters; a secret reference).")
    context: str = Field("", description="v3 context name (rarely needed).")
    request_timeout: Duration = Field(1.0, gt=0, le=30, description="Wait for one SNMP response.")
    request_retries: int = Field(1, ge=0, le=5, description="Re-sends of an unanswered SNMP request.")
    max_repetitions: int = Field(25, ge=1, le=100, description="GETBULK max-repetitions (rows per request).")
    interfaces: tuple[str, ...] = Field((), description="Report only these interfaces (exact ifName or ifDescr); missing ones are critical.")
    include: str | None = Field(None, description="Regular expression the whole ifName must match.")
    exclude: str | None = Field(None, description="Regular expression excluding interfaces by ifName.")
    oper_up_only: bool = Field(False, description="Report only interfaces that are operationally up.")
    max_interfaces: int = Field(64, ge=0, le=1024, description="At most this many interface results (0 = device only).")
    thresholds: Thresholds = Field(default_factory=Thresholds, description="Interface thresholds.")

    def target_label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 161 else f"{host}:{self.port}"

    @field_validator("include", "exclude")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _security(self) -> Config:
        v3_fields = [n for n in ("user", "auth_key", "priv_key") if getattr(self, n) is not None]
        if self.version == "v2c":
            if self.community is None:
                raise ValueError("version v2c needs `community` (e.g. community: {env: SNMP_COMMUNITY})")
            if v3_fields:
                raise ValueError(f"version v2c uses `community` only; remove {', '.join(v3_fields)} or set version: v3")
        else:
            if self.community is not None:
                raise ValueError("version v3 does not use `community`; remove it or set version: v2c")
            if self.user is None:
                raise ValueError("version v3 needs `user`")
            needs_auth = self.security_level in ("authNoPriv", "authPriv")
            needs_priv = self.security_level == "authPriv"
            for name, needed in (("auth_key", needs_auth), ("priv_key", needs_priv)):
                key = getattr(self, name)
                if needed and key is None:
                    raise ValueError(f"security_level {self.security_level} needs `{name}`")
                if not needed and key is not None:
                    raise ValueError(f"security_level {self.security_level} does not use `{name}`; remove it or raise the level")
                if key is not None and key.resolved and len(key.reveal()) < 8:
                    raise ValueError(f"`{name}` must be at least 8 characters (RFC 3414)")
        if self.request_timeout * (self.request_retries + 1) > self.timeout:
            raise ValueError("request_timeout × (request_retries + 1) must not exceed timeout")
        return self

    def credentials(self) -> Credentials:
        """Plain credentials for the client (the only place secrets are revealed)."""
        return Credentials(
            version=self.version,
            community=self.community.reveal() if self.community else "",
            user=self.user or "", level=self.security_level,
            auth_protocol=self.auth_protocol, auth_key=self.auth_key.reveal() if self.auth_key else "",
            priv_protocol=self.priv_protocol, priv_key=self.priv_key.reveal() if self.priv_key else "",
            context=self.context,
        )


def judge_interface(iface: ifmib.Interface, rates: ifmib.Rates | None,
                    th: Thresholds) -> tuple[Status, Reason | None, list[str]]:
    """One interface against the thresholds (pure) → status, reason, problems (English keys).

    Administratively down interfaces are OK: someone shut them on purpose. Admin up but oper not
    up is the failure a technician must see (cable, far end, SFP).
    """
    if iface.admin_up is False:
        return Status.OK, None, []
    if not iface.oper_up:
        if iface.oper_status in ("down", "lowerLayerDown", "notPresent"):
            return (Status.CRIT if th.oper_down == "crit" else Status.WARN), Reason.DOWN, ["oper_down"]
        return Status.WARN, Reason.DOWN, ["oper_" + iface.oper_status]
    status, problems = Status.OK, []
    if rates is not None:
        util = [u for u in rates.utilization(iface.speed_bps) if u is not None]
        errors = [e for e in (rates.in_errors, rates.out_errors) if e is not None]
        discards = [d for d in (rates.in_discards, rates.out_discards) if d is not None]
        for name, values in zip(MEASURES, (util, errors, discards), strict=True):
            level = getattr(th, name).level(max(values)) if values else Status.OK
            if level != Status.OK:
                status = max(status, level)
                problems.append(name)
    return status, (Reason.THRESHOLD if problems else None), problems


def _literal(host: str) -> list[tuple[object, ...]] | None:
    try:
        return [(0, 0, 0, "", (str(ipaddress.ip_address(host)), 0))]
    except ValueError:
        return None


async def probe(cfg: Config, ctx: ProbeContext) -> list[Result]:
    target = cfg.target_label()
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + ctx.timeout
    phase = "dns"
    try:
        # An IP literal needs no resolver thread (most router checks name the router by address).
        infos = _literal(cfg.host) or await asyncio.wait_for(
            loop.getaddrinfo(cfg.host, cfg.port, type=socket.SOCK_DGRAM), ctx.timeout)
    except (socket.gaierror, UnicodeError) as exc:
        return [device_failure(ctx, cfg, target, "dns", str(exc.args[-1]) if exc.args else str(exc))]
    except TimeoutError:
        return [device_failure(ctx, cfg, target, "timeout", "name resolution", phase=phase)]
    address = str(infos[0][4][0])
    try:
        async with Session(address, cfg.port, cfg.credentials(), timeout=cfg.request_timeout,
                           retries=cfg.request_retries) as session:
            phase = "system"
            system = await asyncio.wait_for(session.get(list(SYSTEM.values())), max(0.05, deadline - time.monotonic()))
            table: dict[str, dict[tuple[int, ...], object]] = {}
            if cfg.max_interfaces > 0:
                phase = "interfaces"
                table = await asyncio.wait_for(_read_table(session, cfg), max(0.05, deadline - time.monotonic()))
            requests = session.requests
    except SnmpError as exc:
        return [device_failure(ctx, cfg, target, exc.kind, exc.detail, phase=phase)]
    except TimeoutError:
        return [device_failure(ctx, cfg, target, "timeout", "budget", phase=phase)]
    return _results(cfg, ctx, target, address, system, table, requests)


async def _read_table(session: Session, cfg: Config) -> dict[str, dict[tuple[int, ...], object]]:
    """The IF-MIB columns the check needs, in as few requests as the filters allow.

    Without filters everything is walked in one multi-column pass (fewest round trips). With
    filters, the identity columns are walked first and only the chosen rows' counters are read
    with GET, so watching 2 uplinks of a 48-port switch decodes ~10 % of the table. 32-bit
    counters and ifSpeed are read only for rows that lack the 64-bit ones.
    """
    cols = ifmib.COLUMNS
    narrowing = bool(cfg.interfaces or cfg.include or cfg.exclude or cfg.oper_up_only)
    first = ifmib.IDENTITY if narrowing else ifmib.IDENTITY + ifmib.DETAIL
    walked = await session.walk_columns([cols[c] for c in first], cfg.max_repetitions)
    table = {name: walked[cols[name]] for name in first}
    rows = [r for r in sorted(table["descr"]) if len(r) == 1]
    if narrowing:
        chosen, _, _ = ifmib.select(ifmib.interfaces_from_table(table), names=cfg.interfaces, include=cfg.include,
                                    exclude=cfg.exclude, oper_up_only=cfg.oper_up_only, limit=cfg.max_interfaces)
        rows = [(i.index,) for i in chosen]
        if len(rows) * 3 > len(table["descr"]):
            walked = await session.walk_columns([cols[c] for c in ifmib.DETAIL], cfg.max_repetitions)
            table.update({name: walked[cols[name]] for name in ifmib.DETAIL})
        else:
            await _get_rows(session, table, ifmib.DETAIL, rows)
    missing = ifmib.needs_fallback(table, rows)
    if missing:
        await _get_rows(session, table, ifmib.FALLBACK, missing)
    return table


async def _get_rows(session: Session, table: dict[str, dict[tuple[int, ...], object]], names: tuple[str, ...],
                    rows: list[tuple[int, ...]], batch: int = 40) -> None:
    """GET `names` columns for `rows` into `table` (absent instances are left out)."""
    wanted = [(name, row) for row in rows for name in names]
    for start in range(0, len(wanted), batch):
        part = wanted[start:start + batch]
        got = await session.get([ifmib.COLUMNS[name] + row for name, row in part])
        for name, row in part:
            value = got.get(ifmib.COLUMNS[name] + row)
            if value is not None:
                table.setdefault(name, {})[row] = value


SYSTEM = {
    "descr": (1, 3, 6, 1, 2, 1, 1, 1, 0),
    "object_id": (1, 3, 6, 1, 2, 1, 1, 2, 0),
    "uptime": (1, 3, 6, 1, 2, 1, 1, 3, 0),
    "name": (1, 3, 6, 1, 2, 1, 1, 5, 0),
}


def _results(cfg: Config, ctx: ProbeContext, target: str, address: str, system: dict[tuple[int, ...], object],
             table: dict[str, dict[tuple[int, ...], object]], requests: int) -> list[Result]:
    """Turn what was read into the device result and the interface results; update ctx.state."""
    now = time.monotonic()
    uptime = system.get(SYSTEM["uptime"])
    ticks = uptime if isinstance(uptime, int) else None
    prev = ctx.state.get("snapshot")
    elapsed = now - float(prev["time"]) if prev else 0.0
    restarted = ifmib.uptime_restarted(prev.get("uptime") if prev else None, ticks, elapsed)
    ifaces = ifmib.interfaces_from_table(table) if table else []
    chosen, missing, dropped = ifmib.select(
        ifaces, names=cfg.interfaces, include=cfg.include, exclude=cfg.exclude,
        oper_up_only=cfg.oper_up_only, limit=cfg.max_interfaces)
    rates = ifmib.compute_rates(prev, ifaces, now, restarted)
    ctx.state["snapshot"] = ifmib.snapshot(ifaces, now, ticks)
    facts = {
        "address": address,
        "sys_name": ifmib.clean_text(system.get(SYSTEM["name"]), 255),
        "sys_descr": ifmib.clean_text(system.get(SYSTEM["descr"]), 255),
        "sys_object_id": system.get(SYSTEM["object_id"]) if isinstance(system.get(SYSTEM["object_id"]), str) else None,
        "uptime_seconds": None if ticks is None else ticks / 100,
        "previous_uptime_seconds": prev.get("uptime") / 100 if restarted and prev and prev.get("uptime") else None,
        "restarted": restarted,
        "requests": requests,
        "interfaces_total": len(ifaces),
        "interfaces_selected": len(chosen),
        "interfaces_dropped_by_limit": dropped,
        "rates": "first run: totals only" if prev is None else ("agent restarted: no rates this run" if restarted else "ok"),
    }
    results = [device_result(ctx, cfg, target, facts, ifaces, chosen)]
    for iface in chosen:
        r = rates.get(iface.index)
        status, reason, problems = judge_interface(iface, r, cfg.thresholds)
        results.append(interface_result(ctx, target, iface, r, status, reason, problems))
    results.extend(missing_result(ctx, target, name, ifaces) for name in missing)
    return results


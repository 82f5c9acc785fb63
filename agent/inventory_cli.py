"""`dxagent inventory`: this host's facts, LAN discovery against the register, and self-report push.

Without options it prints the local inventory (no root needed). `--subnet`/`--register` run the
`discovery` kind once (the config's discovery check supplies the other settings); `--push URL`
sends the local inventory to the site agent with the per-site token. Only this layer prints.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from dxagent import __version__, aio, hostfacts, selfreport
from dxagent.cli import config_option, fail, lang_option, resolve_config
from dxagent.config.types import Secret
from dxagent.i18n import detect_lang
from dxagent.model import Result
from dxagent.probe import ProbeContext, run_blocking

__all__ = ["inventory"]

_L = {  # the command's own words: (English, Vietnamese)
    "host": ("Host", "Máy"), "os": ("OS", "Hệ điều hành"), "support": ("support", "hỗ trợ"),
    "cpu": ("CPU", "CPU"), "ram": ("RAM", "RAM"), "disk": ("Disk", "Ổ đĩa"), "nic": ("NIC", "Card mạng"),
    "machine": ("Machine", "Thiết bị"), "uptime": ("Uptime", "Thời gian chạy"), "users": ("Users", "Người dùng"),
    "av": ("Anti-malware", "Phòng chống mã độc"), "baseline": ("Baseline", "Chuẩn cấu hình"),
    "ok": ("meets the baseline", "đạt chuẩn"), "present": ("PRESENT", "CÓ MẶT"), "missing": ("MISSING", "VẮNG MẶT"),
    "unregistered": ("UNREGISTERED", "CHƯA ĐĂNG KÝ"), "sweeping": ("Sweeping", "Đang quét"),
    "devices": ("DEVICES SEEN", "THIẾT BỊ THẤY ĐƯỢC"), "problems": ("Register problems", "Lỗi trong sổ tài sản"),
}


def _w(key: str, lang: str) -> str:
    return _L[key][1 if lang == "vi" else 0]


def _gib(n: float | None) -> str:
    return "?" if n is None else f"{n / 2**30:.1f} GiB"


@click.command()
@config_option
@click.option("--subnet", "subnets", multiple=True, metavar="CIDR", help="Sweep this IPv4 subnet (repeatable); needs root or ping_group_range.")
@click.option("--register", "register_file", type=click.Path(path_type=Path, dir_okay=False), help="Asset register (CSV or YAML) to match.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--push", "push_url", metavar="URL", help="Send this host's inventory to the site agent and exit.")
@click.option("--token-file", type=click.Path(path_type=Path, dir_okay=False), help="Site token for --push (default: $DXAGENT_SITE_TOKEN).")
@click.option("--no-rdns", is_flag=True, help="Skip reverse DNS look-ups.")
@click.option("--max-hosts", type=int, help="Refuse to sweep more addresses than this (default 1024, a /22).")
@lang_option
def inventory(config_path: Path | None, subnets: tuple[str, ...], register_file: Path | None, fmt: str,
              push_url: str | None, token_file: Path | None, no_rdns: bool, max_hosts: int | None, lang: str | None) -> None:
    """Show this host's inventory; with --subnet/--register, who is on the LAN against the register."""
    cfg = resolve_config(config_path)
    lang = detect_lang(lang or cfg.lang)
    from dxagent.checks import inventory as inv_kind

    inv_cfg = next((c for c in cfg.checks if c.kind == "inventory"), None)
    baseline = inv_cfg.baseline if inv_cfg is not None else inv_kind.Baseline()
    facts = hostfacts.collect()
    facts["os_support"] = baseline.os_state(facts.get("os"))
    if push_url:
        _push(push_url, facts, token_file)
        return
    failures = inv_kind.conformance(facts, baseline)
    result = None
    if subnets or register_file:
        result = _discover(cfg, subnets, register_file, no_rdns, max_hosts, fmt == "table" and sys.stderr.isatty())
    if fmt == "json":
        doc: dict[str, Any] = {"host": facts, "baseline_failures": failures,
                               "samples": [s.to_dict() for s in inv_kind.samples(facts, facts["os_support"], len(failures))]}
        if result is not None:
            doc["discovery"] = result.to_dict(lang)
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
    elif fmt == "csv":
        click.echo(_csv(facts, result), nl=False)
    else:
        click.echo(_host_table(facts, failures, lang))
        if result is not None:
            click.echo("")
            click.echo(_discovery_table(result, lang))
    if result is not None:
        sys.exit(int(result.status))


def _push(url: str, facts: dict[str, Any], token_file: Path | None) -> None:
    if token_file is not None:
        try:
            token = Secret(token_file.read_text(encoding="utf-8").strip(), f"file {token_file}")
        except OSError as exc:
            fail(f"cannot read the token file {token_file}: {exc.strerror or exc}")
    elif os.environ.get("DXAGENT_SITE_TOKEN"):
        token = Secret(os.environ["DXAGENT_SITE_TOKEN"], "env DXAGENT_SITE_TOKEN")
    else:
        fail("--push needs the site token: --token-file PATH or $DXAGENT_SITE_TOKEN")
    report = selfreport.build_report(facts, __version__)
    import httpx

    try:
        status, text = selfreport.push(url, report, token)
    except httpx.HTTPError as exc:
        fail(f"cannot send the inventory to {url}: {type(exc).__name__}: {exc}", 1)
    if 200 <= status < 300:
        click.echo(f"sent the inventory of {facts['hostname']} to {url}: HTTP {status}")
        return
    fail(f"{url} refused the inventory: HTTP {status}: {text.strip()}", 1)


def _discover(cfg: Any, subnets: tuple[str, ...], register_file: Path | None, no_rdns: bool,
              max_hosts: int | None, progress_bar: bool) -> Result:
    from dxagent.checks import discovery

    base = next((c for c in cfg.checks if c.kind == "discovery"), None)
    data = base.model_dump(exclude={"kind"}) if base is not None else {"id": "inventory-cli"}
    if base is not None:                       # dumped secrets are masked: keep the objects
        data["snmp"] = base.snmp.model_copy()
        data["self_reports"] = base.self_reports.model_copy()
    data.update({k: v for k, v in {"subnets": list(subnets) or None, "register_file": register_file,
                                   "max_hosts": max_hosts}.items() if v})
    if no_rdns:
        data["rdns"] = False
    data["interval"], data["timeout"], data["retries"] = 86400.0, max(float(data.get("timeout", 60)), 120.0), 0
    try:
        dcfg = discovery.Config.model_validate(data)
    except ValidationError as exc:
        msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors(include_url=False))
        fail(msgs)
    services: dict[str, Any] = {}
    history = _open_history(cfg.state_dir)
    if history is not None:
        services["history"] = history
    n = 0
    if dcfg.subnets:
        from dxagent.sweep import expand

        n = len(expand(dcfg.subnets, dcfg.max_hosts))
    ctx = ProbeContext(dcfg.id, "discovery", site=cfg.site, timeout=dcfg.timeout, services=services)
    try:
        if progress_bar and n:
            with click.progressbar(length=n, label=f"{_L['sweeping'][0]} {', '.join(dcfg.subnets)}", file=sys.stderr) as bar:
                services["progress"] = bar.update
                return aio.run(discovery.probe(dcfg, ctx))
        return aio.run(discovery.probe(dcfg, ctx))
    finally:
        if history is not None:
            aio.run(run_blocking(history.close))


def _open_history(state_dir: Path) -> Any:
    """The daemon's store when it exists and is writable, so sightings add to first/last seen."""
    path = state_dir / "history.sqlite"
    if not path.exists() or not os.access(path, os.W_OK):
        return None
    from dxagent.history import History

    try:
        return History.open(path)
    except Exception:  # an unusable store must not stop an interactive inventory
        return None


def _host_table(f: dict[str, Any], failures: list[Any], lang: str) -> str:
    os_ = f.get("os") or {}
    cpu, mem, m = f.get("cpu") or {}, f.get("memory") or {}, f.get("machine") or {}
    av = f.get("antimalware") or {}
    rows = [
        (_w("host", lang), f"{f['hostname']} ({f.get('arch')}, kernel {f.get('kernel')})"),
        (_w("os", lang), f"{os_.get('pretty')} — {_w('support', lang)}: {f.get('os_support')}"),
        (_w("cpu", lang), f"{cpu.get('model') or '?'} — {cpu.get('cores_physical')}/{cpu.get('cores_logical')} cores"),
        (_w("ram", lang), f"{_gib(mem.get('total_bytes'))} ({_gib(mem.get('available_bytes'))} available)"),
    ]
    rows += [(_w("disk", lang), f"{d['mount']} {d['fstype']} {_gib(d['total_bytes'])}, {_gib(d['used_bytes'])} used, "
              f"{_gib(d['free_bytes'])} free ({d['device']})") for d in f.get("disks") or []]
    rows += [(_w("nic", lang), f"{n['name']} {n.get('mac') or '-'} {' '.join(a['address'] for a in n['addresses']) or '-'}"
              f"{' ' + str(n['speed_mbps']) + ' Mb/s' if n.get('speed_mbps') else ''}{'' if n.get('up') else ' (down)'}")
             for n in f.get("nics") or []]
    rows += [
        (_w("machine", lang), " / ".join(str(m.get(k) or "?") for k in ("vendor", "model", "serial"))),
        (_w("uptime", lang), f"{(f.get('uptime_seconds') or 0) / 86400:.1f} d (boot {time.strftime('%Y-%m-%d %H:%M', time.localtime(f.get('boot_time') or 0))})"),
        (_w("users", lang), ", ".join(sorted({u["name"] for u in f.get("users") or []})) or "-"),
        (_w("av", lang), f"{av.get('state')} {', '.join(av.get('products') or [])}".strip()),
        (_w("baseline", lang), "; ".join(x["vi" if lang == "vi" else "en"] for x in failures) or _w("ok", lang)),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _discovery_table(r: Result, lang: str) -> str:
    d = r.details
    lines = [f"{r.status.name}  {r.summary.get(lang)}"]
    if r.hint:
        lines.append(f"  → {r.hint.get(lang)}")
    for key in ("present", "missing"):
        for e in d.get(key, []):
            dev = e.get("device") or {}
            where = dev.get("ip") or ("last seen " + time.strftime("%Y-%m-%d %H:%M", time.localtime(e["last_seen"]))
                                      if e.get("last_seen") else "never seen")
            lines.append(f"{_w(key, lang):<13} {e.get('hostname') or e.get('mac')!s:<18} {e['type']:<11} "
                         f"{e.get('assigned_to') or '-':<28} {where}")
    for dev in d.get("unregistered", []):
        lines.append(f"{_w('unregistered', lang):<13} {dev.get('ip') or '-':<18} {dev.get('class'):<11} "
                     f"{dev.get('mac') or '-':<28} {', '.join(dev.get('hostnames') or [])}")
    lines += [f"{_w('problems', lang)}: {p}" for p in d.get("register_problems", [])]
    lines += [f"  ! {n}" for n in d.get("notes", [])]
    if "present" not in d:
        lines.append(_w("devices", lang))
        for dev in d.get("devices", []):
            lines.append(f"  {dev.get('ip') or '-':<16} {dev.get('mac') or '-':<18} {dev.get('class'):<11} "
                         f"{','.join(map(str, dev.get('open_ports') or [])):<16} {', '.join(dev.get('hostnames') or [])}")
    return "\n".join(lines)


def _csv(facts: dict[str, Any], r: Result | None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if r is None:
        w.writerow(["hostname", "os", "os_support", "kernel", "arch", "cpu", "cores", "memory_bytes", "disks",
                    "macs", "uptime_seconds", "antimalware"])
        w.writerow([facts["hostname"], facts["os"].get("pretty"), facts["os_support"], facts["kernel"], facts["arch"],
                    facts["cpu"].get("model"), facts["cpu"].get("cores_logical"), facts["memory"]["total_bytes"],
                    " ".join(f"{d['mount']}={d['total_bytes']}" for d in facts["disks"]),
                    " ".join(n["mac"] for n in facts["nics"] if n.get("mac")), facts["uptime_seconds"],
                    facts["antimalware"]["state"]])
        return buf.getvalue()
    d = r.details
    w.writerow(["state", "hostname", "assigned_to", "type", "ip", "mac", "names", "class", "open_ports", "last_seen"])
    for key in ("present", "missing"):
        for e in d.get(key, []):
            dev = e.get("device") or {}
            w.writerow([key, e.get("hostname") or "", e.get("assigned_to") or "", e["type"], dev.get("ip") or e.get("ip") or "",
                        dev.get("mac") or e.get("mac") or "", " ".join(dev.get("hostnames") or []), dev.get("class") or "",
                        " ".join(map(str, dev.get("open_ports") or [])), dev.get("last_seen") or e.get("last_seen") or ""])
    rows = d.get("unregistered") if "present" in d else d.get("devices", [])
    for dev in rows or []:
        w.writerow(["unregistered" if "present" in d else "seen", "", "", "", dev.get("ip") or "", dev.get("mac") or "",
                    " ".join(dev.get("hostnames") or []), dev.get("class") or "",
                    " ".join(map(str, dev.get("open_ports") or [])), dev.get("last_seen") or ""])
    return buf.getvalue()

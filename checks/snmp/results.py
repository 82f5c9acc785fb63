"""Result builders for the `snmp` kind: bilingual summaries, hints, samples and details.

Separate from `__init__.py` to keep both modules short; every message here is built from measured
values and device text that `ifmib.clean_text` has already sanitised. Hints name what the check
used (host, port, user, where the community comes from, interface, the limit crossed); secret
values never reach this module: failures arrive as a kind and an English detail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dxagent.checks.snmp import ifmib as ifmib
from dxagent.model import Reason, Result, Sample, Status, Text, t
from dxagent.probe import ProbeContext

if TYPE_CHECKING:
    from dxagent.checks.snmp import Config, Thresholds

__all__ = ["device_failure", "device_result", "interface_result", "missing_result", "format_bps"]

MAX_TABLE_ROWS = 256

# Vietnamese for the session's failure details (English keys from session.SnmpError).
_VI_DETAIL = {
    "unknown user name": "tên người dùng không tồn tại",
    "wrong authentication key or protocol (digest mismatch)": "sai khóa hoặc giao thức xác thực (sai mã băm)",
    "wrong authentication key or protocol": "sai khóa hoặc giao thức xác thực",
    "authentication error": "lỗi xác thực",
    "wrong privacy key or protocol (decryption error)": "sai khóa hoặc giao thức mã hóa (lỗi giải mã)",
    "security level not supported for this user": "người dùng không hỗ trợ mức bảo mật này",
    "unknown security name": "tên bảo mật không tồn tại",
    "unknown community": "community không đúng",
    "not in time window (engine boots/time out of sync)": "ngoài cửa sổ thời gian (engine boots/time lệch)",
    "unknown engine ID": "engine ID không xác định",
    "privacy not available in this agent (cryptography package missing)": "thiếu thư viện mã hóa (gói cryptography)",
}


def format_bps(bps: float | None) -> str:
    """Bits per second in the unit a technician reads (kb/s, Mb/s, Gb/s)."""
    if bps is None:
        return "?"
    for unit, size in (("Gb/s", 1e9), ("Mb/s", 1e6), ("kb/s", 1e3)):
        if bps >= size:
            return f"{bps / size:.1f} {unit}"
    return f"{bps:.0f} b/s"


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d{hours:02d}h{rest // 60:02d}m"


def _where(cfg: Config) -> str:
    return f"[{cfg.host}]:{cfg.port}" if ":" in cfg.host else f"{cfg.host}:{cfg.port}"


def _auth_hint(cfg: Config, detail: str) -> Text:
    """What to compare for a rejected SNMPv3 credential, naming the user and protocols (never keys)."""
    kw = {"user": cfg.user, "auth": cfg.auth_protocol, "priv": cfg.priv_protocol, "level": cfg.security_level,
          "where": _where(cfg)}
    if detail == "unknown user name":
        return t("The agent at {where} has no SNMPv3 user `{user}`: create it on the device, or fix `user`.",
                 "Tác tử tại {where} không có người dùng SNMPv3 `{user}`: tạo người dùng trên thiết bị hoặc sửa `user`.",
                 **kw)
    if detail.startswith("wrong authentication"):
        return t("User `{user}` exists but the authentication does not match: compare auth_key and auth_protocol "
                 "({auth}) with the device's settings for `{user}`.",
                 "Người dùng `{user}` có tồn tại nhưng xác thực không khớp: đối chiếu auth_key và auth_protocol "
                 "({auth}) với cấu hình của `{user}` trên thiết bị.", **kw)
    if detail.startswith("wrong privacy"):
        return t("User `{user}` authenticates but decryption failed: compare priv_key and priv_protocol ({priv}) "
                 "with the device's settings for `{user}`.",
                 "Người dùng `{user}` xác thực được nhưng giải mã thất bại: đối chiếu priv_key và priv_protocol "
                 "({priv}) với cấu hình của `{user}` trên thiết bị.", **kw)
    if detail.startswith("security level"):
        return t("User `{user}` on the device does not support {level}: set `security_level` to the level the "
                 "device gives `{user}`, or raise the user's level on the device.",
                 "Người dùng `{user}` trên thiết bị không hỗ trợ mức {level}: đặt `security_level` đúng mức thiết bị "
                 "cấp cho `{user}`, hoặc nâng mức của người dùng trên thiết bị.", **kw)
    return t("Compare user `{user}`, auth_protocol ({auth}) with auth_key and priv_protocol ({priv}) with priv_key "
             "against the device's SNMPv3 user.",
             "Đối chiếu user `{user}`, auth_protocol ({auth}) với auth_key và priv_protocol ({priv}) với priv_key "
             "với cấu hình SNMPv3 trên thiết bị.", **kw)


def device_failure(ctx: ProbeContext, cfg: Config, target: str, kind: str, detail: str,
                   phase: str | None = None) -> Result:
    """The device result when the agent could not be read: which failure, said honestly."""
    summary: Text
    hint: Text
    where = _where(cfg)
    if kind == "dns":
        reason = Reason.DNS
        summary = t("cannot resolve {host}: {err}", "không phân giải được {host}: {err}", host=cfg.host, err=detail)
        hint = t("Check the name {host} and the DNS servers, or set `host` to the device's IP address.",
                 "Kiểm tra tên {host} và máy chủ DNS, hoặc đặt `host` là địa chỉ IP của thiết bị.", host=cfg.host)
    elif kind == "timeout" and phase == "interfaces":
        reason = Reason.TIMEOUT
        summary = t("the agent answered, but the interface table did not arrive in time",
                    "thiết bị có trả lời nhưng không đọc hết bảng giao diện kịp thời")
        hint = t("The agent at {where} is slow or the link loses packets: raise `timeout` (now {timeout:g} s), or "
                 "lower `max_repetitions` (now {reps}).",
                 "Tác tử tại {where} chậm hoặc đường truyền mất gói: tăng `timeout` (hiện {timeout:g} giây) hoặc giảm "
                 "`max_repetitions` (hiện {reps}).", where=where, timeout=cfg.timeout, reps=cfg.max_repetitions)
    elif kind == "timeout":
        reason = Reason.TIMEOUT
        waited = cfg.request_timeout * (cfg.request_retries + 1)
        if cfg.version == "v2c":
            source = cfg.community.source if cfg.community is not None else "?"
            summary = t("no answer from the SNMP agent in {s:g} s: agent down, wrong community, or ACL/firewall",
                        "không có phản hồi SNMP sau {s:g} giây: tác tử SNMP tắt, sai community, hoặc ACL/tường lửa chặn",
                        s=waited)
            hint = t("SNMP v2c agents stay silent on a wrong community: check the community (from {source}) against "
                     "the device, the device's SNMP ACL for this host, UDP port {port} to {host} on firewalls, and "
                     "that the device is up (`ping {host}`).",
                     "Tác tử SNMP v2c im lặng khi sai community: đối chiếu community (lấy từ {source}) với thiết bị, "
                     "ACL SNMP của thiết bị cho máy này, cổng UDP {port} tới {host} trên tường lửa và thiết bị còn "
                     "hoạt động (`ping {host}`).", source=source, port=cfg.port, host=cfg.host)
        else:
            summary = t("no answer from the SNMP agent in {s:g} s: agent down, ACL/firewall, or wrong privacy key",
                        "không có phản hồi SNMP sau {s:g} giây: tác tử SNMP tắt, ACL/tường lửa chặn, hoặc sai khóa mã hóa",
                        s=waited)
            hint = t("Agents drop SNMPv3 requests they cannot decrypt without a reply: check priv_key and priv_protocol "
                     "({priv}) of user `{user}`, the device's SNMP ACL, UDP port {port} to {host} on firewalls, and "
                     "that the device is up (`ping {host}`).",
                     "Tác tử bỏ qua yêu cầu SNMPv3 không giải mã được: kiểm tra priv_key và priv_protocol ({priv}) của "
                     "người dùng `{user}`, ACL SNMP của thiết bị, cổng UDP {port} tới {host} trên tường lửa và thiết bị "
                     "còn hoạt động (`ping {host}`).", priv=cfg.priv_protocol, user=cfg.user, port=cfg.port,
                     host=cfg.host)
    elif kind == "auth":
        reason = Reason.AUTH
        summary = Text(f"SNMPv3 credentials rejected: {detail}",
                       f"thông tin xác thực SNMPv3 bị từ chối: {_VI_DETAIL.get(detail, detail)}")
        hint = _auth_hint(cfg, detail)
    elif kind == "permission":
        reason = Reason.PERMISSION
        summary = t("the agent refused access ({d})", "tác tử SNMP từ chối truy cập ({d})", d=detail)
        if cfg.version == "v3":
            who_en, who_vi = f"user `{cfg.user}` at {cfg.security_level}", f"người dùng `{cfg.user}` ở mức {cfg.security_level}"
        else:
            who_en, who_vi = "the v2c community", "community v2c"
        hint = Text(f"The credentials work but the agent at {where} does not let {who_en} read the system group or "
                    "IF-MIB: widen its view on the device, or use the security level the user is configured for.",
                    f"Thông tin xác thực đúng nhưng tác tử tại {where} không cho {who_vi} đọc nhóm system hoặc IF-MIB: "
                    "mở rộng view trên thiết bị, hoặc dùng đúng mức bảo mật đã cấu hình cho người dùng.")
    else:
        reason = Reason.STATUS
        summary = t("SNMP error: {d}", "lỗi SNMP: {d}", d=detail)
        hint = t("The agent at {where} answered with an error: check the device's SNMP configuration and logs.",
                 "Tác tử SNMP tại {where} trả lời lỗi: kiểm tra cấu hình SNMP và nhật ký của thiết bị.", where=where)
    return ctx.result(Status.CRIT, summary, target=target, reason=reason, hint=hint,
                      samples=[Sample.of("snmp_up", 0)],
                      details={"phase": phase, "error": kind, "version": cfg.version})


def device_result(ctx: ProbeContext, cfg: Config, target: str, facts: dict[str, Any],
                  ifaces: list[ifmib.Interface], chosen: list[ifmib.Interface]) -> Result:
    """The device line: reachable, name, uptime; WARN once when the agent restarted."""
    samples = [Sample.of("snmp_up", 1)]
    if facts["uptime_seconds"] is not None:
        samples.append(Sample.of("snmp_uptime_seconds", facts["uptime_seconds"]))
    details = dict(facts)
    details["interfaces"] = [_row(i) for i in ifaces[:MAX_TABLE_ROWS]]
    name = facts["sys_name"] or "?"
    if facts["restarted"]:
        prev = facts["previous_uptime_seconds"]
        return ctx.result(
            Status.WARN,
            t("{name}: restarted — uptime {up}, was {prev} at the last run",
              "{name}: đã khởi động lại — thời gian chạy {up}, lần trước là {prev}",
              name=name, up=_uptime(facts["uptime_seconds"]), prev=_uptime(prev)),
            target=target, reason=Reason.DOWN, samples=samples, details=details,
            hint=t("{name} ({host}) rebooted or its SNMP agent restarted since the last check: look for a power cut "
                   "or a crash in the device log. Interface rates resume at the next run.",
                   "{name} ({host}) đã khởi động lại hoặc tác tử SNMP đã chạy lại kể từ lần kiểm tra trước: kiểm tra "
                   "mất điện hoặc lỗi trong nhật ký thiết bị. Tốc độ giao diện sẽ có lại ở lần chạy sau.",
                   name=name, host=cfg.host),
        )
    return ctx.result(
        Status.OK,
        t("{name}: up {up}, {n} interfaces, {k} reported", "{name}: đã chạy {up}, {n} giao diện, báo cáo {k}",
          name=name, up=_uptime(facts["uptime_seconds"]), n=len(ifaces), k=len(chosen)),
        target=target, samples=samples, details=details,
    )


def _row(i: ifmib.Interface) -> dict[str, Any]:
    return {"index": i.index, "name": i.name, "descr": i.descr, "alias": i.alias, "admin_up": i.admin_up,
            "oper_status": i.oper_status, "speed_bps": i.speed_bps}


def interface_result(ctx: ProbeContext, device: str, iface: ifmib.Interface, rates: ifmib.Rates | None,
                     status: Status, reason: Reason | None, problems: list[str], th: Thresholds) -> Result:
    """One interface line with its samples (label `interface`); `th` names the limit crossed in the hint."""
    lab = {"interface": iface.name}
    samples = [Sample.of("snmp_interface_oper_up", iface.oper_up, **lab)]
    if iface.admin_up is not None:
        samples.append(Sample.of("snmp_interface_admin_up", iface.admin_up, **lab))
    if iface.speed_bps:
        samples.append(Sample.of("snmp_interface_speed_bytes_per_second", iface.speed_bps / 8, **lab))
    if "in_octets" in iface.counters:
        samples.append(Sample.of("snmp_interface_receive_bytes_total", iface.counters["in_octets"], **lab))
    if "out_octets" in iface.counters:
        samples.append(Sample.of("snmp_interface_transmit_bytes_total", iface.counters["out_octets"], **lab))
    details: dict[str, Any] = {**_row(iface), "counters": dict(iface.counters), "problems": problems}
    if rates is not None:
        rx_u, tx_u = rates.utilization(iface.speed_bps)
        pairs = (
            ("snmp_interface_receive_bytes_per_second", rates.receive_bps / 8, {}),
            ("snmp_interface_transmit_bytes_per_second", rates.transmit_bps / 8, {}),
            ("snmp_interface_utilization_ratio", rx_u, {"direction": "receive"}),
            ("snmp_interface_utilization_ratio", tx_u, {"direction": "transmit"}),
            ("snmp_interface_errors_per_second", rates.in_errors, {"direction": "receive"}),
            ("snmp_interface_errors_per_second", rates.out_errors, {"direction": "transmit"}),
            ("snmp_interface_discards_per_second", rates.in_discards, {"direction": "receive"}),
            ("snmp_interface_discards_per_second", rates.out_discards, {"direction": "transmit"}),
        )
        samples.extend(Sample.of(n, v, **lab, **extra) for n, v, extra in pairs if v is not None)
        details["rates"] = {"receive_bps": rates.receive_bps, "transmit_bps": rates.transmit_bps,
                            "in_errors_per_s": rates.in_errors, "out_errors_per_s": rates.out_errors,
                            "in_discards_per_s": rates.in_discards, "out_discards_per_s": rates.out_discards}
    return ctx.result(status, _if_summary(iface, rates), target=f"{device}/{iface.name}", reason=reason,
                      hint=_if_hint(iface, rates, problems, th), samples=samples, details=details)


def _if_summary(iface: ifmib.Interface, rates: ifmib.Rates | None) -> Text:
    n = iface.name
    if iface.admin_up is False:
        return t("{n}: administratively down", "{n}: bị tắt bởi quản trị", n=n)
    if not iface.oper_up:
        return t("{n}: administratively up but operationally {s}", "{n}: được bật nhưng trạng thái hoạt động là {s}",
                 n=n, s=iface.oper_status)
    speed = format_bps(iface.speed_bps) if iface.speed_bps else "speed unknown"
    if rates is None:
        return t("{n}: up, {speed} (rates from the next run)", "{n}: hoạt động, {speed} (tốc độ có từ lần chạy sau)",
                 n=n, speed=speed)
    rx_u, tx_u = rates.utilization(iface.speed_bps)
    pct = (lambda u: "" if u is None else f" ({u * 100:.1f}%)")  # noqa: E731
    errs = sum(e for e in (rates.in_errors, rates.out_errors) if e is not None)
    return t("{n}: up, {speed}, in {rx}{ru}, out {tx}{tu}, {e:.2f} errors/s",
             "{n}: hoạt động, {speed}, vào {rx}{ru}, ra {tx}{tu}, {e:.2f} lỗi/giây",
             n=n, speed=speed, rx=format_bps(rates.receive_bps), ru=pct(rx_u),
             tx=format_bps(rates.transmit_bps), tu=pct(tx_u), e=errs)


def _if_hint(iface: ifmib.Interface, rates: ifmib.Rates | None, problems: list[str], th: Thresholds) -> Text | None:
    """What to do about the first problem, naming the port, the measured value and the limit it crossed."""
    if not problems:
        return None
    n = iface.name
    if problems[0].startswith("oper_"):
        return t("Port {n} is enabled but has no link ({s}): check its cable, the far-end device and the SFP module.",
                 "Cổng {n} được bật nhưng không có kết nối ({s}): kiểm tra cáp, thiết bị đầu xa và module SFP.",
                 n=n, s=iface.oper_status)
    if rates is None:
        return None
    measure = problems[0]
    if measure == "utilization":
        values = [u for u in rates.utilization(iface.speed_bps) if u is not None]
    elif measure == "errors":
        values = [e for e in (rates.in_errors, rates.out_errors) if e is not None]
    else:
        values = [d for d in (rates.in_discards, rates.out_discards) if d is not None]
    limits = getattr(th, measure)
    value = max(values)
    limit = limits.limit_for(limits.level(value))
    if measure == "utilization":
        return t("{n} carries {v:.0%} of its {speed} (limit {lim:.0%}): find the heavy traffic, or ask the provider "
                 "for more bandwidth.",
                 "{n} đang dùng {v:.0%} của {speed} (ngưỡng {lim:.0%}): tìm nguồn lưu lượng lớn hoặc đề nghị nhà mạng "
                 "nâng băng thông.", n=n, v=value, speed=format_bps(iface.speed_bps), lim=limit or 0)
    unit_en, unit_vi = ("errors", "lỗi") if measure == "errors" else ("discards", "gói bị loại")
    return t("{n}: {v:.2f} {u}/s (limit {lim:g}/s): check the cable, duplex settings and the far-end port.",
             "{n}: {v:.2f} {uv}/giây (ngưỡng {lim:g}/giây): kiểm tra cáp, chế độ duplex và cổng đầu xa.",
             n=n, v=value, u=unit_en, uv=unit_vi, lim=limit or 0)


def missing_result(ctx: ProbeContext, device: str, name: str, ifaces: list[ifmib.Interface]) -> Result:
    """An interface named in `interfaces` that the device does not have."""
    return ctx.result(
        Status.CRIT,
        t("interface {n} not found on the device ({k} interfaces)", "không tìm thấy giao diện {n} trên thiết bị ({k} giao diện)",
          n=name, k=len(ifaces)),
        target=f"{device}/{name}", reason=Reason.CONFIG,
        hint=t("Compare {n} with the device's ifName/ifDescr list in the details (`-v`), then fix `interfaces`; a "
               "removed module also makes an interface disappear.",
               "So sánh {n} với danh sách ifName/ifDescr trong phần chi tiết (`-v`) rồi sửa `interfaces`; tháo module "
               "cũng làm mất giao diện.", n=name),
        samples=[Sample.of("snmp_interface_oper_up", 0, interface=name)],
        details={"known": [i.name for i in ifaces[:MAX_TABLE_ROWS]]},
    )

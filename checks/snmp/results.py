"""Result builders for the `snmp` kind: bilingual summaries, hints, samples and details.

Separate from `snmp.py` to keep both modules short; every message here is built from measured
values and device text that `_snmpif.clean_text` has already sanitised. Credentials never reach
this module: failures arrive as a kind and an English detail without secrets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dxagent.checks.snmp import ifmib as ifmib
from dxagent.model import Reason, Result, Sample, Status, Text, t
from dxagent.probe import ProbeContext

if TYPE_CHECKING:
    from dxagent.checks.snmp import Config

__all__ = ["device_failure", "device_result", "interface_result", "missing_result", "format_bps"]

MAX_TABLE_ROWS = 256

# Vietnamese for the client's failure details (English keys from _snmpclient).
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


def device_failure(ctx: ProbeContext, cfg: Config, target: str, kind: str, detail: str,
                   phase: str | None = None) -> Result:
    """The device result when the agent could not be read: which failure, said honestly."""
    summary: Text
    hint: Text
    if kind == "dns":
        reason = Reason.DNS
        summary = t("cannot resolve {host}: {err}", "không phân giải được {host}: {err}", host=cfg.host, err=detail)
        hint = t("Check the name and the DNS servers, or use the device's IP address.",
                 "Kiểm tra tên và máy chủ DNS, hoặc dùng địa chỉ IP của thiết bị.")
    elif kind == "timeout" and phase == "interfaces":
        reason = Reason.TIMEOUT
        summary = t("the agent answered, but the interface table did not arrive in time",
                    "thiết bị có trả lời nhưng không đọc hết bảng giao diện kịp thời")
        hint = t("The device is slow or the link loses packets: raise `timeout`, or lower `max_repetitions`.",
                 "Thiết bị chậm hoặc đường truyền mất gói: tăng `timeout` hoặc giảm `max_repetitions`.")
    elif kind == "timeout":
        reason = Reason.TIMEOUT
        waited = cfg.request_timeout * (cfg.request_retries + 1)
        if cfg.version == "v2c":
            summary = t("no answer from the SNMP agent in {s:g} s: agent down, wrong community, or ACL/firewall",
                        "không có phản hồi SNMP sau {s:g} giây: tác tử SNMP tắt, sai community, hoặc ACL/tường lửa chặn",
                        s=waited)
            hint = t("SNMP v2c agents stay silent on a wrong community: check the community, the agent's ACL for "
                     "this host, UDP port {port} on firewalls, and that the device is up (`ping`).",
                     "Tác tử SNMP v2c im lặng khi sai community: kiểm tra community, ACL cho phép máy này, cổng UDP "
                     "{port} trên tường lửa và thiết bị còn hoạt động (`ping`).", port=cfg.port)
        else:
            summary = t("no answer from the SNMP agent in {s:g} s: agent down, ACL/firewall, or wrong privacy key",
                        "không có phản hồi SNMP sau {s:g} giây: tác tử SNMP tắt, ACL/tường lửa chặn, hoặc sai khóa mã hóa",
                        s=waited)
            hint = t("Agents drop SNMPv3 requests they cannot decrypt without a reply: check priv_key and "
                     "priv_protocol, the agent's ACL, UDP port {port} on firewalls, and that the device is up.",
                     "Tác tử bỏ qua yêu cầu SNMPv3 không giải mã được: kiểm tra priv_key và priv_protocol, ACL, "
                     "cổng UDP {port} trên tường lửa và thiết bị còn hoạt động.", port=cfg.port)
    elif kind == "auth":
        reason = Reason.AUTH
        summary = Text(f"SNMPv3 credentials rejected: {detail}",
                       f"thông tin xác thực SNMPv3 bị từ chối: {_VI_DETAIL.get(detail, detail)}")
        hint = t("Compare user, auth_protocol/auth_key and priv_protocol/priv_key with the device's SNMPv3 user.",
                 "Đối chiếu user, auth_protocol/auth_key và priv_protocol/priv_key với cấu hình SNMPv3 trên thiết bị.")
    elif kind == "permission":
        reason = Reason.PERMISSION
        summary = t("the agent refused access ({d})", "tác tử SNMP từ chối truy cập ({d})", d=detail)
        hint = t("The credentials work but the agent's view or security level forbids the system group or IF-MIB: "
                 "widen the view for this user/community, or use the level the user is configured for.",
                 "Thông tin xác thực đúng nhưng view hoặc mức bảo mật không cho đọc nhóm system hoặc IF-MIB: mở "
                 "rộng view cho user/community này hoặc dùng đúng mức bảo mật đã cấu hình.")
    else:
        reason = Reason.STATUS
        summary = t("SNMP error: {d}", "lỗi SNMP: {d}", d=detail)
        hint = t("The agent answered with an error: check the device's SNMP configuration and logs.",
                 "Tác tử SNMP trả lời lỗi: kiểm tra cấu hình SNMP và nhật ký của thiết bị.")
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
            hint=t("The device rebooted or its SNMP agent restarted since the last check: look for a power cut or a "
                   "crash in the device log. Interface rates resume at the next run.",
                   "Thiết bị đã khởi động lại hoặc tác tử SNMP đã chạy lại kể từ lần kiểm tra trước: kiểm tra mất "
                   "điện hoặc lỗi trong nhật ký thiết bị. Tốc độ giao diện sẽ có lại ở lần chạy sau."),
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
                     status: Status, reason: Reason | None, problems: list[str]) -> Result:
    """One interface line with its samples (label `interface`)."""
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
                      hint=_if_hint(problems), samples=samples, details=details)


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


def _if_hint(problems: list[str]) -> Text | None:
    if not problems:
        return None
    if problems[0].startswith("oper_"):
        return t("The port is enabled but has no link: check the cable, the far-end device and the SFP module.",
                 "Cổng được bật nhưng không có kết nối: kiểm tra cáp, thiết bị đầu xa và module SFP.")
    if problems[0] == "utilization":
        return t("The link is near its capacity: find the heavy traffic, or ask the provider for more bandwidth.",
                 "Đường truyền gần hết băng thông: tìm nguồn lưu lượng lớn hoặc đề nghị nhà mạng nâng băng thông.")
    return t("Errors or discards on the link: check the cable, duplex settings and the far-end port.",
             "Có lỗi hoặc gói bị loại trên đường truyền: kiểm tra cáp, chế độ duplex và cổng đầu xa.")


def missing_result(ctx: ProbeContext, device: str, name: str, ifaces: list[ifmib.Interface]) -> Result:
    """An interface named in `interfaces` that the device does not have."""
    return ctx.result(
        Status.CRIT,
        t("interface {n} not found on the device ({k} interfaces)", "không tìm thấy giao diện {n} trên thiết bị ({k} giao diện)",
          n=name, k=len(ifaces)),
        target=f"{device}/{name}", reason=Reason.CONFIG,
        hint=t("Compare the name with the device's ifName/ifDescr list in the details (`-v`); a removed module "
               "also makes an interface disappear.",
               "So sánh tên với danh sách ifName/ifDescr trong phần chi tiết (`-v`); tháo module cũng làm mất giao diện."),
        samples=[Sample.of("snmp_interface_oper_up", 0, interface=name)],
        details={"known": [i.name for i in ifaces[:MAX_TABLE_ROWS]]},
    )

"""`ups`: the site's UPS, read through a NUT server (`source: nut`) or its SNMP card (`source: snmp`).

At a commune the usual cause of "the link is down" is power: the UPS carries the router and the
server for a while, then everything stops. This kind says whether the site is on mains or on
battery, how long the battery lasts, and warns while it drains; reports tie link outages to it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dxagent.checks.snmp.access import SnmpAccess
from dxagent.checks.ups.reading import Reading
from dxagent.config.check import CheckConfig
from dxagent.config.types import Model, Secret
from dxagent.limits import RatioLowerLimit, RuntimeLimit, defaults
from dxagent.model import Reason, Result, Sample, Status, Text, t
from dxagent.probe import ProbeContext

__all__ = ["Config", "Thresholds", "Verdict", "judge", "probe", "hint_for_error", "EXAMPLE", "METRICS"]

METRICS: dict[str, str] = {
    "ups_up": "1 if the UPS (through upsd or its SNMP card) answered, else 0.",
    "ups_on_mains": "1 if the load runs on mains power through the UPS (not on battery, not on bypass).",
    "ups_on_battery": "1 if the UPS runs on battery (mains power is off).",
    "ups_low_battery": "1 if the UPS reports its battery low (shutdown imminent).",
    "ups_bypass": "1 if the UPS is on bypass (the load is not protected).",
    "ups_fault": "1 if the UPS reports a fault (overload, replace battery, alarm, output off, forced shutdown).",
    "ups_battery_charge_ratio": "Battery charge, 0 to 1.",
    "ups_battery_runtime_seconds": "Estimated time the battery can carry the present load.",
    "ups_load_ratio": "Output load as a share of the UPS's capacity, 0 to 1.",
    "ups_input_voltage_volts": "Input (mains) voltage.",
    "ups_output_voltage_volts": "Output voltage.",
    "ups_battery_temperature_celsius": "Battery (or, for XUPS-MIB cards, ambient) temperature in degrees Celsius.",
    "ups_self_test_passed": "1 if the last battery self-test passed, 0 if it failed (absent when unknown).",
}

EXAMPLE = """\
# The site's UPS through NUT (nut-server on this machine or on the server the UPS is plugged into).
- id: ups
  kind: ups
  source: nut
  host: localhost             # upsd's address (default localhost)
  port: 3493                  # default 3493
  ups: dummy                  # the UPS name in ups.conf (default: the only UPS upsd serves)
  # username: monuser         # only if upsd.users requires it
  # password: {file: /etc/dxagent/secrets/nut-password}
  interval: 30s
  thresholds: {runtime: {crit: 5m}, charge: {warn: 50%}}
"""

Source = Literal["nut", "snmp"]
DEFAULT_PORTS = {"nut": 3493, "snmp": 161}


class Thresholds(Model):
    """When the battery is judged too weak."""

    runtime: RuntimeLimit = defaults(RuntimeLimit(crit=300.0), "Battery runtime left (default critical below 5 min).")
    charge: RatioLowerLimit = defaults(RatioLowerLimit(warn=0.5), "Battery charge (default warn below 50%).")


class Config(CheckConfig):
    """Read a UPS through NUT's upsd or its SNMP card (UPS-MIB, and Eaton's XUPS-MIB when present)."""

    kind: Literal["ups"] = "ups"
    source: Source = Field("nut", description="`nut`: ask a NUT server (upsd); `snmp`: ask the UPS's network card.")
    host: str = Field("localhost", min_length=1, description="upsd's host (nut) or the UPS card's address (snmp).")
    port: int | None = Field(None, ge=1, le=65535, description="TCP port of upsd (default 3493) or UDP port of the card (default 161).")
    ups: str | None = Field(None, min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$",
                            description="nut: the UPS name on upsd (default: the only UPS it serves).")
    username: str | None = Field(None, min_length=1, description="nut: user from upsd.users, if upsd requires one.")
    password: Secret | None = Field(None, description="nut: that user's password (a secret reference).")
    snmp: SnmpAccess | None = Field(None, description="snmp: version, community or v3 user and keys, request timeout and retries "
                                                      "(the `snmp` kind's fields).")
    thresholds: Thresholds = Field(default_factory=Thresholds, description="Battery limits.")

    @property
    def nut_port(self) -> int:
        return self.port or DEFAULT_PORTS["nut"]

    @property
    def snmp_port(self) -> int:
        return self.port or DEFAULT_PORTS["snmp"]

    def target_label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = self.port or DEFAULT_PORTS[self.source]
        where = f"{host}:{port}" if self.source == "nut" or port != 161 else host
        return f"{self.ups}@{where}" if self.source == "nut" and self.ups else where

    @model_validator(mode="after")
    def _source_fields(self) -> Config:
        if self.source == "snmp":
            nut_only = [n for n in ("ups", "username", "password") if getattr(self, n) is not None]
            if nut_only:
                raise ValueError(f"source snmp does not use {', '.join(nut_only)} (NUT settings)")
            if self.snmp is None:
                raise ValueError("source snmp needs an `snmp:` block (version and community or v3 user)")
            if 2 * self.snmp.request_budget() > self.timeout:
                raise ValueError("2 × request_timeout × (request_retries + 1) must not exceed timeout "
                                 "(UPS-MIB and XUPS-MIB are two requests)")
        else:
            if self.snmp is not None:
                raise ValueError("source nut does not use `snmp:`; set source: snmp")
            if (self.username is None) != (self.password is None):
                raise ValueError("username and password go together (upsd.users)")
        return self


class Verdict:
    """Status, reason, summary and hint of one reading (built by `judge`)."""

    __slots__ = ("hint", "reason", "status", "summary")

    def __init__(self, status: Status, reason: Reason | None, summary: Text, hint: Text | None) -> None:
        self.status, self.reason, self.summary, self.hint = status, reason, summary, hint


def _pct(ratio: float | None) -> str:
    return "?" if ratio is None else f"{ratio * 100:.0f}%"


def _dur(seconds: float | None) -> str:
    """Runtime as a person reads it: 1h05m, 12m30s, 45s."""
    if seconds is None:
        return "?"
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def judge(cfg: Config, r: Reading) -> Verdict:
    """A reading against the thresholds (pure). The worst finding decides; the summary says it first."""
    runtime_status = cfg.thresholds.runtime.level(r.runtime_seconds) if r.runtime_seconds is not None else Status.OK
    charge_status = cfg.thresholds.charge.level(r.charge_ratio) if r.charge_ratio is not None else Status.OK
    facts = t("charge {c}, runtime {rt}, load {ld}", "pin {c}, thời gian lưu điện {rt}, tải {ld}",
              c=_pct(r.charge_ratio), rt=_dur(r.runtime_seconds), ld=_pct(r.load_ratio))
    limit = cfg.thresholds.runtime.crit or cfg.thresholds.runtime.warn
    if r.fault == "forced-shutdown":
        return Verdict(Status.CRIT, Reason.DOWN, t("UPS is shutting the load down (FSD); {f}", "UPS đang ngắt tải (FSD); {f}", f=facts),
                       t("Power will be cut now: save work and shut down servers cleanly; restore mains before restarting.",
                         "Sắp mất điện: lưu công việc và tắt máy chủ đúng cách; có điện lưới lại rồi mới khởi động."))
    if r.low_battery or (r.on_battery and runtime_status == Status.CRIT):
        return Verdict(Status.CRIT, Reason.THRESHOLD,
                       t("on battery, battery LOW: {f}", "đang chạy pin, pin YẾU: {f}", f=facts),
                       t("Battery almost empty ({rt} left): save work and shut down the servers cleanly now; keep the router "
                         "and switch on as long as possible; call the electrician about the mains.",
                         "Pin sắp cạn (còn {rt}): lưu công việc và tắt máy chủ đúng cách ngay; giữ router và switch chạy lâu nhất "
                         "có thể; gọi thợ điện kiểm tra điện lưới.", rt=_dur(r.runtime_seconds)))
    if runtime_status == Status.CRIT:
        return Verdict(Status.CRIT, Reason.THRESHOLD,
                       t("battery would last only {rt} (limit {lim}); {f}", "pin chỉ lưu điện được {rt} (ngưỡng {lim}); {f}",
                         rt=_dur(r.runtime_seconds), lim=_dur(limit), f=facts),
                       t("On mains, but a power cut would stop the site within {rt}: reduce the load on the UPS "
                         "(printers, heaters) or have the battery tested and replaced.",
                         "Đang có điện lưới, nhưng nếu mất điện thì trạm chỉ chạy được {rt}: giảm tải trên UPS "
                         "(máy in, thiết bị sưởi) hoặc cho kiểm tra và thay pin.", rt=_dur(r.runtime_seconds)))
    if r.on_battery:
        return Verdict(Status.WARN, Reason.DOWN, t("on battery (mains power off): {f}", "đang chạy pin (mất điện lưới): {f}", f=facts),
                       t("Mains power is off: check the grid and the breaker, call the electrician; shut down non-essential "
                         "loads (printers, spare PCs) so the battery lasts longer ({rt} left).",
                         "Mất điện lưới: kiểm tra điện lưới và cầu dao, gọi thợ điện; tắt các thiết bị không cần thiết "
                         "(máy in, máy tính dự phòng) để pin lưu điện lâu hơn (còn {rt}).", rt=_dur(r.runtime_seconds)))
    if r.bypass:
        return Verdict(Status.WARN, Reason.DOWN, t("UPS on bypass: the load is not protected; {f}", "UPS ở chế độ bypass: tải không được bảo vệ; {f}", f=facts),
                       t("Check for an overload or a UPS fault on its panel; call the UPS supplier if it does not return to normal.",
                         "Kiểm tra quá tải hoặc lỗi trên màn hình UPS; gọi nhà cung cấp UPS nếu không trở lại bình thường."))
    if r.fault is not None:
        return Verdict(Status.WARN, Reason.CONTENT, t("UPS reports {what}; {f}", "UPS báo {what}; {f}", what=r.fault, f=facts),
                       _fault_hint(r.fault))
    if charge_status != Status.OK:
        return Verdict(charge_status, Reason.THRESHOLD,
                       t("battery charge {c} below {lim}; {f}", "mức pin {c} dưới {lim}; {f}", c=_pct(r.charge_ratio),
                         lim=_pct(cfg.thresholds.charge.limit_for(charge_status)), f=facts),
                       t("The battery is recharging after an outage; if it stays low for hours, have it tested and replaced.",
                         "Pin đang sạc lại sau khi mất điện; nếu mức pin vẫn thấp sau vài giờ, cho kiểm tra và thay pin."))
    if r.self_test == "failed":
        return Verdict(Status.WARN, Reason.CONTENT, t("last battery self-test FAILED; {f}", "lần tự kiểm tra pin gần nhất THẤT BẠI; {f}", f=facts),
                       t("The battery may not carry the load in a power cut: have it replaced.",
                         "Pin có thể không đủ cấp điện khi mất điện: cần thay pin."))
    status = max(runtime_status, Status.OK)
    return Verdict(status, Reason.THRESHOLD if status != Status.OK else None,
                   t("on mains: {f}", "đang dùng điện lưới: {f}", f=facts), None)


def _fault_hint(fault: str) -> Text:
    return {
        "overload": t("The UPS is overloaded: unplug non-essential devices from its outlets.",
                      "UPS bị quá tải: rút các thiết bị không cần thiết khỏi ổ cắm của UPS."),
        "replace-battery": t("The UPS asks for a new battery: order a replacement from the supplier.",
                             "UPS báo cần thay pin: liên hệ nhà cung cấp để thay pin."),
        "off": t("The UPS output is off: the load has no power from it; switch it on or check its panel.",
                 "Đầu ra UPS đang tắt: thiết bị không được cấp điện; bật lại hoặc kiểm tra màn hình UPS."),
    }.get(fault, t("Read the alarm on the UPS's panel or web page and call the supplier if it stays.",
                   "Đọc cảnh báo trên màn hình hoặc trang quản trị của UPS và gọi nhà cung cấp nếu còn."))


def hint_for_error(cfg: Config, code: str, known: tuple[str, ...] = ()) -> Text:
    """What to do when the UPS could not be read (host, port and UPS name of this check)."""
    port = cfg.port or DEFAULT_PORTS[cfg.source]
    where = f"{cfg.host}:{port}"
    names = ", ".join(known) or "-"
    hints = {
        "not-installed": t("No NUT server answers on {w}: install nut-server, describe the UPS in /etc/nut/ups.conf and start it "
                           "(docs/checks/ups.md), or set `host` to the machine the UPS cable is plugged into.",
                           "Không có máy chủ NUT nào trả lời tại {w}: cài nut-server, khai báo UPS trong /etc/nut/ups.conf rồi khởi "
                           "động (docs/checks/ups.md), hoặc đặt `host` là máy đang cắm cáp của UPS.", w=where),
        "refused": t("upsd refuses connections on {w}: is nut-server running there, and does its upsd.conf LISTEN on that address?",
                     "upsd từ chối kết nối tại {w}: nut-server có đang chạy không, upsd.conf có LISTEN trên địa chỉ đó không?", w=where),
        "connect": t("Cannot reach {w}: check that machine is powered and on the network.",
                     "Không kết nối được {w}: kiểm tra máy đó có điện và có mạng không.", w=where),
        "timeout": t("No answer from {w} in time: the machine may be off (power?) or a firewall drops port {p}.",
                     "Không có trả lời từ {w} kịp thời: máy có thể đã tắt (mất điện?) hoặc tường lửa chặn cổng {p}.", w=where, p=port),
        "unknown-ups": t("upsd on {w} has no UPS named '{u}'; it serves: {n}. Fix `ups:` (see `upsc -l {h}`).",
                         "upsd tại {w} không có UPS tên '{u}'; đang có: {n}. Sửa `ups:` (xem `upsc -l {h}`).",
                         w=where, u=cfg.ups or "", n=names, h=cfg.host),
        "choose-ups": t("upsd on {w} serves several UPSes ({n}): name the one to watch with `ups:`.",
                        "upsd tại {w} phục vụ nhiều UPS ({n}): chọn UPS cần theo dõi bằng `ups:`.", w=where, n=names),
        "no-ups": t("upsd on {w} serves no UPS: describe it in ups.conf and start the driver (`upsdrvctl start`).",
                    "upsd tại {w} chưa phục vụ UPS nào: khai báo trong ups.conf và khởi động driver (`upsdrvctl start`).", w=where),
        "access-denied": t("upsd on {w} refused the login of '{user}': check upsd.users and the password file.",
                           "upsd tại {w} từ chối đăng nhập của '{user}': kiểm tra upsd.users và tệp mật khẩu.",
                           w=where, user=cfg.username or "-"),
        "data-stale": t("upsd has no fresh data from the UPS: check the USB/serial cable to the UPS and restart the driver.",
                        "upsd không nhận được dữ liệu mới từ UPS: kiểm tra cáp USB/serial tới UPS và khởi động lại driver."),
        "driver-not-connected": t("The NUT driver is not running: check the cable to the UPS, then `upsdrvctl start`.",
                                  "Driver NUT không chạy: kiểm tra cáp tới UPS rồi chạy `upsdrvctl start`."),
        "snmp-timeout": t("No SNMP answer from the UPS card at {w}: is the card powered and on the network, SNMP enabled, "
                          "community or user right?",
                          "Card SNMP của UPS tại {w} không trả lời: card có điện và có mạng không, đã bật SNMP chưa, "
                          "community hoặc user có đúng không?", w=where),
        "snmp-auth": t("The UPS card at {w} rejected the SNMP credentials: check the community, or the v3 user, protocols and "
                       "keys against the card's SNMP settings.",
                       "Card UPS tại {w} từ chối thông tin xác thực SNMP: kiểm tra community, hoặc user v3, giao thức và khóa so "
                       "với cấu hình SNMP của card.", w=where),
        "snmp-dns": t("The UPS card's name {h} does not resolve: use its IP address or fix DNS.",
                      "Không phân giải được tên card UPS {h}: dùng địa chỉ IP hoặc sửa DNS.", h=cfg.host),
        "snmp-permission": t("The UPS card at {w} does not let this user read UPS-MIB: widen the SNMP view on the card.",
                             "Card UPS tại {w} không cho user này đọc UPS-MIB: mở rộng view SNMP trên card.", w=where),
        "no-ups-mib": t("{w} answers SNMP but not UPS-MIB (1.3.6.1.2.1.33) nor XUPS-MIB: is it the UPS's card? Enable the "
                        "standard UPS MIB in the card's settings.",
                        "{w} trả lời SNMP nhưng không có UPS-MIB (1.3.6.1.2.1.33) hay XUPS-MIB: có đúng card của UPS không? "
                        "Bật UPS MIB chuẩn trong cấu hình card.", w=where),
    }
    return hints.get(code, t("Check the UPS monitoring at {w} (see docs/checks/ups.md).",
                             "Kiểm tra việc giám sát UPS tại {w} (xem docs/checks/ups.md).", w=where))


def samples(r: Reading) -> list[Sample]:
    out = [Sample.of("ups_up", 1), Sample.of("ups_on_mains", r.on_mains), Sample.of("ups_on_battery", r.on_battery),
           Sample.of("ups_low_battery", r.low_battery), Sample.of("ups_bypass", r.bypass),
           Sample.of("ups_fault", r.fault is not None)]
    for name, value in (("ups_battery_charge_ratio", r.charge_ratio), ("ups_battery_runtime_seconds", r.runtime_seconds),
                        ("ups_load_ratio", r.load_ratio), ("ups_input_voltage_volts", r.input_volts),
                        ("ups_output_voltage_volts", r.output_volts),
                        ("ups_battery_temperature_celsius", r.temperature_celsius)):
        if value is not None:
            out.append(Sample.of(name, value))
    if r.self_test in ("passed", "failed"):
        out.append(Sample.of("ups_self_test_passed", r.self_test == "passed"))
    return out


async def probe(cfg: Config, ctx: ProbeContext) -> Result:
    from dxagent.checks.ups.sources import UpsError, read_nut, read_snmp

    target = cfg.target_label()
    name = cfg.ups
    try:
        if cfg.source == "nut":
            name, reading = await read_nut(cfg, ctx.timeout)
        else:
            reading = await read_snmp(cfg, ctx.timeout)
    except UpsError as exc:
        unknown = exc.code == "not-installed"
        status = Status.UNKNOWN if unknown else Status.CRIT
        summary = (t("no UPS monitoring here: nothing listens on {w}", "chưa có giám sát UPS: không có gì lắng nghe tại {w}", w=target)
                   if unknown else t("cannot read the UPS at {w}: {e}", "không đọc được UPS tại {w}: {e}", w=target, e=str(exc)))
        return ctx.result(status, summary, target=target, reason=exc.reason, hint=hint_for_error(cfg, exc.code, exc.known),
                          samples=[Sample.of("ups_up", 0)], details={"source": cfg.source, "error": exc.code})
    verdict = judge(cfg, reading)
    details = {"source": cfg.source, "manufacturer": reading.manufacturer, "model": reading.model,
               "flags": list(reading.flags), "self_test": reading.self_test, "fault": reading.fault,
               "on_battery": reading.on_battery, "low_battery": reading.low_battery}
    if name:
        details["ups"] = name
    return ctx.result(verdict.status, verdict.summary, target=target, reason=verdict.reason, hint=verdict.hint,
                      samples=samples(reading), details=details)

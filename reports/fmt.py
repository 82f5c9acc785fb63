"""Formatting measured values and the report's fixed words, in Vietnamese and English.

One place for units so HTML, Markdown, CSV and XLSX show the same "99.62 %", "41 ms", "200 Mbps".
"""

from __future__ import annotations

import datetime as dt
import math

__all__ = ["unit_of", "fmt_value", "fmt_time", "fmt_duration", "fmt_span", "fmt_clock", "fmt_reason", "fmt_compare",
           "word", "OUTCOME_WORDS"]

_WORDS: dict[str, tuple[str, str]] = {
    "site_report": ("Readiness report", "Báo cáo mức sẵn sàng"),
    "rollup_report": ("Province readiness roll-up", "Tổng hợp mức sẵn sàng toàn tỉnh"),
    "site": ("Site", "Đơn vị"), "province": ("Province", "Tỉnh"), "period": ("Period", "Kỳ báo cáo"),
    "profile": ("Profile", "Bộ tiêu chí"), "generated": ("Generated", "Lập lúc"),
    "score": ("Readiness score", "Điểm sẵn sàng"), "known": ("weight with data", "trọng số có dữ liệu"),
    "target": ("Target", "Tiêu chí"), "outcome": ("Result", "Kết quả"), "value": ("Measured", "Đo được"),
    "threshold": ("Threshold", "Ngưỡng"), "weight": ("Weight", "Trọng số"), "source": ("Source", "Căn cứ"),
    "evidence": ("Evidence", "Căn cứ dữ liệu"), "checks": ("checks", "kiểm tra"),
    "met": ("met", "đạt"), "not_met": ("not met", "không đạt"), "unknown": ("unknown", "chưa rõ"),
    "at_risk": ("at risk", "cần chú ý"), "agent_down": ("agent not running", "tác tử không chạy"),
    "availability_chart": ("Availability per target", "Khả dụng theo tiêu chí"),
    "latency_chart": ("Latency trend", "Xu hướng độ trễ"),
    "expiry_chart": ("Certificate expiry", "Thời hạn chứng chỉ"),
    "coverage_chart": ("Inventory coverage", "Mức độ trang bị"),
    "findings": ("Current problems", "Sự cố hiện tại"), "details": ("Details", "Chi tiết"),
    "summary": ("Summary", "Tóm tắt"), "no_data": ("no data", "không có dữ liệu"),
    "sites": ("Sites", "Đơn vị"), "share": ("Share of sites meeting", "Tỷ lệ đơn vị đạt"),
    "ranking": ("Ranking", "Xếp hạng"), "failing": ("Failing targets", "Tiêu chí không đạt"),
    "no_data_sites": ("Sites with no data", "Đơn vị không có dữ liệu"),
    "trend": ("Change", "Thay đổi"), "rank": ("#", "STT"), "score_hist": ("Score distribution", "Phân bố điểm"),
    "days": ("days", "ngày"), "gap": ("data gaps", "khoảng thiếu dữ liệu"),
    "agent_alive": ("Agent running", "Tác tử hoạt động"), "targets": ("Targets", "Tiêu chí"),
    "outages": ("Outages", "Gián đoạn"), "start": ("Start", "Bắt đầu"), "end": ("End", "Kết thúc"),
    "duration": ("Duration", "Thời lượng"), "link": ("Link (host or group)", "Đường truyền (máy đích hoặc nhóm)"),
    "affected": ("Checks and targets affected", "Kiểm tra và đích bị ảnh hưởng"),
    "ongoing": ("ongoing", "đang diễn ra"), "no_outages": ("No outage in the period.", "Không có gián đoạn nào trong kỳ."),
    "outages_unknown": ("No history: outages cannot be listed.", "Không có lịch sử: không liệt kê được gián đoạn."),
    "cause": ("Cause", "Nguyên nhân"), "cause_power": ("power failure", "mất điện"),
    "reason": ("Reason", "Lý do"), "outage_count": ("Outages", "Số lần gián đoạn"),
    "outage_time": ("total", "tổng thời gian"), "longest": ("longest", "dài nhất"),
    "power_events": ("Power events", "Sự cố nguồn điện"), "window": ("window", "khung thời gian"),
    "profile_window": ("profile", "theo bộ tiêu chí"),
    "outages_more": ("{n} shorter outages not listed", "{n} gián đoạn ngắn hơn không được liệt kê"),
}
_REASONS: dict[str, str] = {  # Reason values as Vietnamese readers know them
    "dns": "lỗi phân giải tên (DNS)", "connect": "không kết nối được", "timeout": "quá thời gian chờ",
    "tls": "lỗi TLS", "status": "mã trạng thái sai", "content": "nội dung sai", "auth": "lỗi xác thực",
    "permission": "không đủ quyền", "config": "lỗi cấu hình", "internal": "lỗi nội bộ",
    "threshold": "vượt ngưỡng", "down": "ngừng hoạt động",
}
OUTCOME_WORDS = ("met", "not_met", "unknown")


def word(key: str, lang: str) -> str:
    en, vi = _WORDS[key]
    return vi if lang == "vi" else en


def unit_of(measure: str, samples: tuple[str, ...] | list[str], per_staff: bool = False) -> str:
    """The unit of a criterion's value: ratio, seconds, days, bytes_per_second, count or ''."""
    if measure in ("state", "availability", "ratio"):
        return "ratio"
    if measure == "count":
        return "ratio" if per_staff else "count"
    if measure == "days_left":
        return "days"
    name = samples[0].split("{")[0] if samples else ""
    for suffix in ("bytes_per_second", "seconds", "ratio", "bytes"):
        if name.endswith(suffix):
            return suffix
    return ""


def _num(x: float, digits: int, lang: str) -> str:
    text = f"{x:,.{digits}f}"
    if lang == "vi":  # Vietnamese: '.' groups thousands, ',' marks decimals
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def fmt_value(value: float | None, unit: str, lang: str = "en") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit == "ratio":
        pct = value * 100
        digits = 0 if pct == int(pct) else (2 if 99 <= pct < 100 else 1)
        return _num(pct, digits, lang) + " %"
    if unit == "seconds":
        return _num(value * 1000, 0 if abs(value) >= 0.1 else 1, lang) + " ms" if abs(value) < 1 else \
            _num(value, 2, lang) + " s"
    if unit == "bytes_per_second":  # shown in Mbps, as links are sold
        mbps = value * 8 / 1e6
        return _num(mbps, 0 if mbps >= 10 else 1, lang) + " Mbps"
    if unit == "days":
        return _num(value, 0 if value == int(value) else 1, lang) + " " + word("days", lang)
    if unit == "bytes":
        return _num(value / 2**20, 1, lang) + " MiB"
    return _num(value, 0 if value == int(value) else 2, lang)


def fmt_time(ts: float | None) -> str:
    if not ts:
        return "—"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def fmt_duration(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{int(seconds // 86400)}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 60:.0f}m"


def fmt_span(seconds: float | None) -> str:
    """An outage length to the second: `45s`, `1m 30s`, `2h 05m`, `3d 4h`."""
    if seconds is None:
        return "—"
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def fmt_clock(ts: float | None) -> str:
    """A time to the second (outage starts and ends)."""
    if not ts:
        return "—"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_reason(reason: str | None, lang: str) -> str:
    """A Reason value in the reader's language ('—' when none)."""
    if not reason:
        return "—"
    return _REASONS.get(reason, reason) if lang == "vi" else reason


def fmt_compare(op: str) -> str:
    """The comparison as printed: ≥ and ≤ read better than >= and <= in a report."""
    return {">=": "≥", "<=": "≤", "==": "="}.get(op, op)

"""The status page's fixed words in Vietnamese and English (check messages carry their own).

Kept beside the page rather than in `dxagent.i18n`: only the page uses them, and the page's
script receives the few it needs (status words, "since", "stale") as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["WORDS", "pick", "words_for"]

WORDS: Mapping[str, tuple[str, str]] = {
    "title": ("Site status", "Tình trạng hệ thống"),
    "OK": ("OK", "Tốt"),
    "WARN": ("Warning", "Cảnh báo"),
    "CRIT": ("Critical", "Lỗi"),
    "UNKNOWN": ("Unknown", "Không rõ"),
    "PENDING": ("Not run yet", "Chưa chạy"),
    "stale": ("stale", "cũ"),
    "stale_long": ("no fresh result: last run {age} ago (every {interval})",
                   "không có kết quả mới: lần chạy cuối cách đây {age} (chu kỳ {interval})"),
    "problems": ("What needs attention", "Cần xử lý"),
    "no_problems": ("Nothing needs attention: every check is OK.", "Không có gì cần xử lý: mọi kiểm tra đều tốt."),
    "since": ("since", "từ"),
    "since_before": ("for more than {days} days", "hơn {days} ngày"),
    "what_to_do": ("What to do", "Cần làm"),
    "check": ("Check", "Kiểm tra"),
    "target": ("Target", "Đích"),
    "status": ("Status", "Trạng thái"),
    "result": ("Result", "Kết quả"),
    "last_run": ("Last run", "Lần chạy cuối"),
    "duration": ("Took", "Thời gian"),
    "page_title": ("page title", "tiêu đề trang"),
    "run_now": ("Run now", "Chạy ngay"),
    "run_group": ("Run all", "Chạy tất cả"),
    "running": ("running…", "đang chạy…"),
    "requested": ("Run requested: {what}. The result appears here within seconds.",
                  "Đã yêu cầu chạy: {what}. Kết quả sẽ hiện ở đây sau vài giây."),
    "refused": ("Not run: {why}", "Không chạy: {why}"),
    "limited": ("{what} ran moments ago; try again in {secs} s", "{what} vừa chạy; thử lại sau {secs} giây"),
    "areas": ("All checks", "Tất cả kiểm tra"),
    "area_links": ("Network links", "Đường truyền"),
    "area_portals": ("Portals and services", "Cổng thông tin và dịch vụ"),
    "area_certificates": ("Certificates and time", "Chứng thư số và thời gian"),
    "area_workstations": ("This machine and workstations", "Máy này và máy trạm"),
    "area_meeting": ("Meeting bridge", "Hội nghị trực tuyến"),
    "area_other": ("Other checks", "Kiểm tra khác"),
    "readiness": ("Readiness", "Mức sẵn sàng"),
    "score": ("Score", "Điểm"),
    "met": ("met", "đạt"),
    "not_met": ("not met", "không đạt"),
    "unknown_outcome": ("no data", "chưa có dữ liệu"),
    "targets_not_met": ("Targets not met", "Tiêu chí chưa đạt"),
    "all_met": ("Every target with data is met.", "Mọi tiêu chí có dữ liệu đều đạt."),
    "no_target_data": ("No target has data yet: the history is too short.",
                       "Chưa tiêu chí nào có dữ liệu: lịch sử đo còn quá ngắn."),
    "full_report": ("Full site report", "Báo cáo đầy đủ"),
    "no_readiness": ("Readiness is not evaluated yet (it needs the history).",
                     "Chưa đánh giá mức sẵn sàng (cần lịch sử đo)."),
    "outages": ("Link outages, last 7 days", "Sự cố đường truyền 7 ngày qua"),
    "no_outages": ("No outage of the uplink or TSLCD links in the last 7 days.",
                   "Không có sự cố đường truyền (uplink, TSLCD) trong 7 ngày qua."),
    "no_outage_checks": ("No uplink or TSLCD check is configured (groups uplink, tslcd, internet).",
                         "Chưa cấu hình kiểm tra đường truyền (nhóm uplink, tslcd, internet)."),
    "no_history": ("Outages need the agent's history, which is not available (see the agent's log).",
                   "Cần lịch sử đo của agent để liệt kê sự cố, nhưng lịch sử không dùng được (xem nhật ký agent)."),
    "start": ("Start", "Bắt đầu"),
    "end": ("End", "Kết thúc"),
    "length": ("Length", "Kéo dài"),
    "ongoing": ("ongoing", "đang diễn ra"),
    "cause": ("Cause", "Nguyên nhân"),
    "province": ("Province", "Tỉnh"),
    "version": ("Agent", "Phần mềm"),
    "uptime": ("Running for", "Đã chạy"),
    "config_age": ("Config changed", "Cấu hình sửa"),
    "ago": ("{age} ago", "{age} trước"),
    "builtin_config": ("built-in config", "cấu hình mặc định"),
    "updated": ("Updated", "Cập nhật"),
    "auto_refresh": ("refreshes every 15 s", "tự cập nhật mỗi 15 giây"),
    "offline": ("cannot reach the agent: showing the last data", "không kết nối được tới agent: đang hiện dữ liệu cũ"),
    "language": ("Tiếng Việt", "English"),
    "total": ("checks", "kiểm tra"),
}


def pick(key: str, lang: str, **params: object) -> str:
    """One word or sentence in `lang` (Vietnamese for "vi", else English)."""
    en, vi = WORDS[key]
    text = vi if lang == "vi" else en
    return text.format(**params) if params else text


def words_for(lang: str, keys: tuple[str, ...]) -> dict[str, str]:
    """The words the page's script needs, in one language."""
    return {k: pick(k, lang) for k in keys}

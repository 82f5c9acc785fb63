"""Language choice and the CLI's own words in Vietnamese and English.

Check messages carry both languages themselves (`dxagent.model.Text`); this module only
holds the fixed words of the terminal table and picks the language.
"""

from __future__ import annotations

import os

__all__ = ["detect_lang", "word", "LANGS"]

LANGS = ("vi", "en")

_WORDS: dict[str, tuple[str, str]] = {
    "status": ("STATUS", "TRẠNG THÁI"),
    "check": ("CHECK", "KIỂM TRA"),
    "target": ("TARGET", "ĐÍCH"),
    "summary": ("SUMMARY", "KẾT QUẢ"),
    "hint": ("hint", "gợi ý"),
    "total": ("{ok} OK, {warn} WARN, {crit} CRIT, {unknown} UNKNOWN in {secs:.1f}s: exit {code}",
              "{ok} OK, {warn} CẢNH BÁO, {crit} LỖI, {unknown} KHÔNG RÕ trong {secs:.1f}s: mã thoát {code}"),
    "OK": ("OK", "OK"),
    "WARN": ("WARN", "CẢNH BÁO"),
    "CRIT": ("CRIT", "LỖI"),
    "UNKNOWN": ("UNKNOWN", "KHÔNG RÕ"),
    "no_checks": ("no checks selected", "không có kiểm tra nào được chọn"),
    "details": ("details", "chi tiết"),
    "samples": ("samples", "số đo"),
}


def word(key: str, lang: str, **params: object) -> str:
    en, vi = _WORDS[key]
    text = vi if lang == "vi" else en
    return text.format(**params) if params else text


def detect_lang(preferred: str | None = None) -> str:
    """--lang, else the config's `lang`, else Vietnamese when $LANG/$LC_ALL say so, else English."""
    if preferred in LANGS:
        return preferred
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            return "vi" if value.lower().startswith("vi") else "en"
    return "en"

"""Logging for `dxagent run`: one line per event on stderr, plain or JSON, journald-friendly.

Under systemd (`$JOURNAL_STREAM` set) the plain format drops the timestamp, which journald
adds itself, and prefixes each line with the `<N>` syslog priority that journald turns into the
entry's level (`journalctl -p warning` then works). Messages never span lines: a newline in a
message or traceback is escaped, so one event is always one line for grep and log shippers.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any, TextIO

__all__ = ["LEVELS", "FORMATS", "setup", "PlainFormatter", "JsonFormatter"]

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")

# Attributes every LogRecord has; anything else was passed with `extra=` and is context.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def _context(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _one_line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


class PlainFormatter(logging.Formatter):
    """`2025-07-01T08:00:00+0700 WARNING dxagent.daemon: message key=value`, one line."""

    def __init__(self, journald: bool = False) -> None:
        super().__init__()
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        if self.journald:
            parts.append(f"<{_PRIORITY.get(record.levelno, 6)}>{record.levelname}")
        else:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(record.created))
            parts.append(f"{stamp} {record.levelname}")
        parts.append(f"{record.name}: {record.getMessage()}")
        for key, value in _context(record).items():
            parts.append(f"{key}={value}")
        if record.exc_info:
            parts.append("| " + self.formatException(record.exc_info))
        return _one_line(" ".join(parts))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg and any context (check, target, …)."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _context(record).items():
            doc[key] = value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def setup(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Route all logging to one stderr handler with the chosen level and format.

    Third-party chatter (APScheduler's per-run INFO lines) is held at WARNING so that a
    day of normal operation does not bury the events that matter.
    """
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    journald = bool(os.environ.get("JOURNAL_STREAM")) and stream is None
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter(journald=journald))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    third_party = "WARNING" if level != "debug" else "INFO"
    for name in ("apscheduler", "asyncio"):
        logging.getLogger(name).setLevel(third_party)
    # httpx/httpcore log every request's full URL (query strings carry tokens) at INFO/DEBUG:
    # never below WARNING, whatever the agent's level, so secrets cannot reach the journal.
    for name in ("httpx", "httpcore", "hpack", "pysnmp", "aionut"):
        logging.getLogger(name).setLevel("WARNING")

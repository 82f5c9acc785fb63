"""Opening the history file safely: WAL and pragmas, quick_check, migrations, moving a bad file aside.

Apart from `History` so the rules for "is this file usable" sit in one short place: a file that
is not a database or fails `PRAGMA quick_check` raises `Unusable`, and `move_aside` renames it
(with its WAL) so a fresh file can start while the old one stays for examination.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

from dxagent.history.schema import NewerSchemaError, migrate

__all__ = ["WAL_CHECKPOINT_PAGES", "WAL_LIMIT_BYTES", "HistoryError", "Unusable", "is_corrupt", "connect", "move_aside", "open_or_replace"]

_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
WAL_CHECKPOINT_PAGES = 256
WAL_LIMIT_BYTES = 2**20
CANTOPEN = 14


class HistoryError(Exception):
    """The history file cannot be used at all (e.g. the state directory is not writable)."""


class Unusable(Exception):
    """Internal: the file must be moved aside; the message says why, the suffix how it is named."""

    def __init__(self, why: str, suffix: str = "corrupt") -> None:
        super().__init__(why)
        self.suffix = suffix


def is_corrupt(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _CORRUPT_CODES
    text = str(exc)
    return "malformed" in text or "not a database" in text


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    try:
        if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only possible before the first table
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise HistoryError(f"cannot use WAL journal on {path} (got {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        # A small state folder must not fill up by itself: the WAL is checkpointed every ~1 MiB (256
        # pages of 4 KiB instead of SQLite's 1000) and cut back to 1 MiB after each checkpoint, so the
        # history needs its database plus about 1 MiB (compaction truncates it to zero afterwards).
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
        # The page cache's default (2 MiB) fills once the file outgrows it, days into a run, and stays
        # resident: 512 KiB keeps the daemon 1.6 MiB smaller with the same query and compaction times
        # (the OS caches the file anyway; measured over 20 simulated days, docs/history.md).
        conn.execute("PRAGMA cache_size = -512")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise Unusable(f"quick_check: {check}")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def move_aside(path: Path, suffix: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = path.with_name(f"{path.name}.{suffix}-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.{suffix}-{stamp}-{n}")
    os.replace(path, aside)
    for extra in ("-wal", "-shm"):
        side = Path(str(path) + extra)
        if side.exists():
            if extra == "-wal":
                os.replace(side, Path(str(aside) + extra))  # kept with the file: it may hold the last writes
            else:
                side.unlink()
    return aside


def open_or_replace(path: Path, log: logging.Logger) -> sqlite3.Connection:
    """Connect; if the file is unusable, move it aside, log why on `log`, and start a fresh one."""
    try:
        return connect(path)
    except NewerSchemaError as exc:
        reason: Unusable = Unusable(f"written by a newer dxagent ({exc})", "newer")
    except Unusable as exc:
        reason = exc
    except sqlite3.DatabaseError as exc:
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        unreadable = code == CANTOPEN and path.exists() and not os.access(path, os.R_OK | os.W_OK)
        if not (is_corrupt(exc) or unreadable):
            raise HistoryError(f"cannot open history {path}: {exc}") from None
        reason = Unusable(str(exc))
    try:
        aside = move_aside(path, reason.suffix)
    except OSError as exc:
        raise HistoryError(f"history {path} is unusable ({reason}) and cannot be moved aside: {exc}") from None
    log.error("history file %s is unusable (%s); moved it aside to %s and started a new file", path, reason, aside)
    try:
        return connect(path)
    except (sqlite3.Error, Unusable) as exc:
        raise HistoryError(f"cannot create a new history file {path}: {exc}") from None

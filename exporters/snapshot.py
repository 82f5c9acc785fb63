"""The JSON snapshot file: the latest results, written atomically, for offline reports.

Same document as `dxagent check --format json` (schema in dxagent/schemas). A reader (the
report command, a USB-stick collection at a site without a link) must never see half a file,
so it is written to a temporary file in the same folder, flushed to disk, then renamed over
the old one; the folder is synced too so that the rename survives a power cut.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dxagent.model import Result
from dxagent.render import document

__all__ = ["write_snapshot", "write_atomic"]


def write_atomic(path: Path, data: bytes, mode: int = 0o640) -> None:
    """Replace `path` with `data` so that readers see the old or the new file, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def write_snapshot(path: Path, results: Sequence[Result], site: Any, lang: str, generated: float | None = None) -> None:
    """Write the results document to `path` atomically."""
    doc = document(results, site, lang, generated)
    # Compact, so json uses its C encoder: with `indent` it falls back to the pure-Python one, and
    # writing the snapshot was then the daemon's largest single CPU cost at 200 checks. It is read
    # by programs (reports, roll-ups); `python -m json.tool` pretty-prints it for a person.
    write_atomic(path, json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8"))

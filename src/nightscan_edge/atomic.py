"""Atomic file writes: a reader (the web UI, a resumed run, a second process) never sees half a file.

Every result file (status, report, manifest, cache entries) is written to a temporary file in the same
folder and renamed over the target; ``os.replace`` is atomic on POSIX within one file system, so a crash
leaves either the old file or the new one, never a mixture.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """``write_bytes_atomic`` for UTF-8 text."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, payload: Any, indent: int | None = 2) -> Path:
    """JSON (strict: NaN/Infinity refused, so every reader, browsers included, can parse it) written atomically."""
    return write_text_atomic(path, json.dumps(payload, indent=indent, allow_nan=False) + "\n")

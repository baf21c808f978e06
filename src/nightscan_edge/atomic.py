"""Atomic file writes: a reader (the web UI, a resumed run, a second process) never sees half a file.

Every result file (status, report, manifest, cache entries) is written to a temporary file in the same
folder and renamed over the target; ``os.replace`` is atomic on POSIX within one file system, so a crash
leaves either the old file or the new one, never a mixture.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any


def finite_json(value: Any) -> Any:
    """``value`` with every NaN/Infinity float replaced by ``None``: browsers' ``JSON.parse`` rejects the bare
    ``NaN`` tokens Python's json module would write, and one such line would break the live page."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item) for item in value]
    return value


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling and an atomic rename."""
    with _open_atomic(path, "wb") as stream:
        stream.write(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """``write_bytes_atomic`` for UTF-8 text."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, payload: Any, indent: int | None = 2) -> Path:
    """JSON (strict: NaN/Infinity refused, so every reader, browsers included, can parse it) written atomically."""
    return write_text_atomic(path, json.dumps(payload, indent=indent, allow_nan=False) + "\n")


@contextmanager
def _open_atomic(path: str | Path, mode: str, **text_options: Any) -> Iterator[IO[Any]]:
    """A handle on a temporary sibling of ``path``, renamed over it (after fsync) when the block succeeds and
    removed when it fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, mode, **text_options) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def remove_atomic_leftovers(folder: str | Path) -> list[Path]:
    """Delete the temporary siblings (``.NAME.XXXX.tmp``) that a writer killed mid-write (kill -9, power loss)
    left in ``folder``; returns what it removed. Only the folder's one writer may call it, under its lock: a live
    writer's temporary file would otherwise vanish before its rename."""
    removed = [path for path in Path(folder).glob(".*.tmp") if path.is_file()]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def open_text_atomic(
    path: str | Path, newline: str | None = "", errors: str = "strict"
) -> AbstractContextManager[IO[str]]:
    """A text handle for streaming a whole file (a predictions CSV) that appears at ``path`` only when the block
    ends without an error; a crash part-way leaves the previous file (or none), never half a file."""
    return _open_atomic(path, "w", encoding="utf-8", newline=newline, errors=errors)

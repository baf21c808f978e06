"""Decoded-media cache, keyed by file identity (path, size, mtime) + the preprocessing that shaped it.

Decoding FLAC/MP3 and resampling dominates an audio epoch; with the cache every epoch after the first reads
arrays from memory (or ``.npy`` files on disk when the set does not fit in memory or is reused across runs).
A changed file gets a new key, so a stale entry is never served.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nightscan_edge.atomic import write_bytes_atomic
from nightscan_edge.data.errors import DataError

DEFAULT_MEMORY_BUDGET_BYTES = 4 * 1024**3


def cache_key(path: Path, variant: str) -> str:
    """``variant`` names the preprocessing (e.g. ``audio@22050``, ``image@64x3``)."""
    stat = Path(path).stat()
    # bytes, not str: a file name that is not valid UTF-8 (lone surrogates after os.fsdecode) still hashes
    identity = os.fsencode(Path(path).resolve()) + f"|{stat.st_size}|{stat.st_mtime_ns}|{variant}".encode()
    return hashlib.sha1(identity).hexdigest()


class _MemoryStore:
    """Least-recently-used arrays up to a byte budget, shared by every data set in the process."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.entries: OrderedDict[str, np.ndarray] = OrderedDict()
        self.bytes = 0

    def get(self, key: str) -> np.ndarray | None:
        value = self.entries.get(key)
        if value is not None:
            self.entries.move_to_end(key)
        return value

    def put(self, key: str, value: np.ndarray) -> None:
        if key in self.entries:
            return
        self.entries[key] = value
        self.bytes += value.nbytes
        while self.bytes > self.budget_bytes and len(self.entries) > 1:
            _, evicted = self.entries.popitem(last=False)
            self.bytes -= evicted.nbytes

    def clear(self) -> None:
        self.entries.clear()
        self.bytes = 0


MEMORY = _MemoryStore(DEFAULT_MEMORY_BUDGET_BYTES)


def check_cache_folder(folder: Path, needed_bytes: int = 0) -> None:
    """One clear line before any epoch when the cache folder cannot take the cache (read-only or full)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(
            f"cache folder {folder} cannot be created ({error.strerror or error}); set data.cache_dir "
            "to a writable folder or use data.cache=memory"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(
            f"cache folder {folder} is read-only; set data.cache_dir to a writable folder or use data.cache=memory"
        )
    free = shutil.disk_usage(folder).free
    if free < needed_bytes + 16 * 1024**2:
        raise DataError(
            f"cache folder {folder} is full ({free / 1024**2:.0f} MB free, the cache needs "
            f"{needed_bytes / 1024**2:.0f} MB); free space, set data.cache_dir elsewhere or use "
            "data.cache=memory"
        )


class MediaCache:
    """``get_or_load(path, variant, loader)``; counts decodes so tests and benchmarks can check the cache."""

    def __init__(self, mode: str = "memory", cache_dir: str | Path | None = None) -> None:
        if mode not in ("memory", "disk", "none"):
            raise ValueError(f"cache mode must be memory, disk or none; got {mode!r}")
        self.mode = mode
        self.cache_dir = (
            Path(cache_dir or Path.home() / ".cache" / "nightscan-edge" / "media") if mode == "disk" else None
        )
        if self.cache_dir is not None:
            check_cache_folder(self.cache_dir)
        self.decodes = 0

    def get_or_load(self, path: Path, variant: str, loader: Callable[[Path], np.ndarray]) -> np.ndarray:
        if self.mode == "none":
            self.decodes += 1
            return loader(path)
        key = cache_key(path, variant)
        if self.mode == "memory":
            value = MEMORY.get(key)
            if value is None:
                self.decodes += 1
                value = loader(path)
                MEMORY.put(key, value)
            return value
        if self.cache_dir is None:  # set for mode "disk", the one mode left here
            raise ValueError(f"cache mode {self.mode!r} has no cache folder")
        file = self.cache_dir / f"{key}.npy"
        if file.is_file():
            mapped: np.ndarray = np.load(file, mmap_mode="r")  # pages in on use: sets larger than memory still train
            return mapped
        self.decodes += 1
        value = loader(path)
        buffer = io.BytesIO()
        np.save(buffer, value)
        try:
            write_bytes_atomic(file, buffer.getvalue())  # a parallel run never reads half a file
        except OSError as error:
            raise DataError(
                f"cannot write to the cache folder {self.cache_dir}: {error.strerror or error}; free space "
                "there, set data.cache_dir to another folder, or use data.cache=memory"
            ) from None
        return value

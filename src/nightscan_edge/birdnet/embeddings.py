"""BirdNET embeddings per file and window, cached: a second training or a second head never runs the network
again. Each entry is written through a temporary file and renamed, so an interrupted run never leaves half a
file. Windows follow the project's rule (50 % overlap, last aligned to the end; a clip shorter than 3 s becomes
one zero-filled window, as BirdNET-Analyzer fills its last chunk).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nightscan_edge.atomic import write_bytes_atomic
from nightscan_edge.data.cache import cache_key
from nightscan_edge.data.datasets import clip_windows
from nightscan_edge.data.media import media_segment
from nightscan_edge.models.birdnet_extractor import BIRDNET_SPEC, MODEL_ID, BirdNet, get_birdnet, locate_birdnet


def birdnet_windows(clip: np.ndarray) -> np.ndarray:
    """A 48 kHz clip's windows by the project's rule (50 % overlap, last aligned to the end; a clip shorter
    than 3 s becomes one zero-filled window, as BirdNET-Analyzer fills its last chunk)."""
    return clip_windows(clip, BIRDNET_SPEC)


class EmbeddingCache:
    """``.npy`` per (file identity, model, window rule) under ``directory``; written atomically.

    The key is the media cache's (resolved path, size, mtime) identity plus the model's file size and the
    window rule, so an edited recording or another BirdNET build is never served a stale row.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        base = Path(directory) if directory else Path.home() / ".cache" / "nightscan-edge"
        self.directory = base / "birdnet-embeddings"

    def key(self, path: Path, rule: str) -> str:
        model = locate_birdnet().model
        source, segment = media_segment(Path(path))  # a background window keys on its file + its times
        return cache_key(source, f"{MODEL_ID}|{model.stat().st_size}|{rule}|{segment}")

    def _file(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npy"

    def load(self, key: str) -> np.ndarray | None:
        file = self._file(key)
        if not file.is_file():
            return None
        try:
            embeddings: np.ndarray = np.load(file, allow_pickle=False)
            return embeddings
        except (OSError, ValueError):
            return None  # unreadable entry: recompute and overwrite

    def save(self, key: str, array: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
        write_bytes_atomic(self._file(key), buffer.getvalue())


@dataclass
class EmbeddingStats:
    """What one embedding pass cost: clips and windows computed vs served from the cache, and seconds."""

    clips: int = 0
    windows_computed: int = 0
    windows_cached: int = 0
    seconds: float = 0.0

    @property
    def seconds_per_clip(self) -> float:
        return self.seconds / self.clips if self.clips else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "clips": self.clips,
            "windows_computed": self.windows_computed,
            "windows_cached": self.windows_cached,
            "seconds": round(self.seconds, 3),
            "seconds_per_clip": round(self.seconds_per_clip, 4),
        }


WINDOW_RULE = "clip_windows@3s/50%"


def embed_clips(
    clips: Sequence[np.ndarray],
    paths: Sequence[Path | None],
    cache: EmbeddingCache | None,
    birdnet: BirdNet | None = None,
    threads: int = 1,
    rule: str = WINDOW_RULE,
    windows_of: Callable[[np.ndarray], np.ndarray] = birdnet_windows,
) -> tuple[list[np.ndarray], EmbeddingStats]:
    """48 kHz clips -> one ``(windows, 1024)`` array per clip; cached rows are read, the rest computed in batches
    across clips (a short clip does not waste a batch) and saved per file. ``paths[i] = None``: not cacheable."""
    started = time.perf_counter()
    stats = EmbeddingStats(clips=len(clips))
    results: list[np.ndarray | None] = [None] * len(clips)
    keys: list[str | None] = [None] * len(clips)
    pending: list[tuple[int, np.ndarray]] = []
    for index, (clip, path) in enumerate(zip(clips, paths, strict=True)):
        if cache is not None and path is not None:
            key = keys[index] = cache.key(Path(path), rule)
            cached = cache.load(key)
            if cached is not None:
                results[index] = cached
                stats.windows_cached += len(cached)
                continue
        pending.append((index, windows_of(clip)))
    if pending:
        birdnet = birdnet or get_birdnet(threads)
        embeddings = birdnet.embed(np.concatenate([windows for _, windows in pending]))
        offset = 0
        for index, windows in pending:
            rows = embeddings[offset : offset + len(windows)]
            offset += len(windows)
            results[index] = rows
            stats.windows_computed += len(rows)
            saved_key = keys[index]
            if cache is not None and saved_key is not None:  # a key is set only when there is a cache
                cache.save(saved_key, rows)
    stats.seconds = time.perf_counter() - started
    return [r for r in results if r is not None], stats

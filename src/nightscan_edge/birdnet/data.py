"""Prepared (decoded, split) data -> BirdNET embeddings per clip and window: what ``birdnet_head`` trains on.

Silent clips are set aside with the unreadable ones (BirdNET's embedding of digital silence describes nothing),
and they count against ``data.max_bad_fraction`` like any bad file. Clips shorter than 3 s are zero-filled to one
window, as BirdNET-Analyzer fills its last chunk, and said once in the run's log.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from nightscan_edge.birdnet.embeddings import EmbeddingCache, EmbeddingStats, embed_clips
from nightscan_edge.data.errors import DataError
from nightscan_edge.data.prepare import PreparedData, SplitData, check_bad_fraction
from nightscan_edge.models.birdnet_extractor import BIRDNET_SAMPLE_RATE, BIRDNET_WINDOW_SAMPLES, is_silent


def embed_prepared(
    prepared: PreparedData, cache_dir: str | None, threads: int = 1, max_bad_fraction: float = 0.1
) -> tuple[PreparedData, EmbeddingStats, list[str]]:
    """Replace every split's waveforms by ``(windows, 1024)`` embeddings; returns the stats and log notes."""
    if prepared.spec.sample_rate != BIRDNET_SAMPLE_RATE:
        raise ValueError(
            f"embed_prepared needs clips decoded at {BIRDNET_SAMPLE_RATE} Hz; got {prepared.spec.sample_rate}"
        )
    cache = EmbeddingCache(cache_dir)
    splits: dict[str, SplitData] = {}
    stats = EmbeddingStats()
    silent: list[tuple[Path, str]] = []
    short = 0
    total = sum(len(split.labels) for split in prepared.splits.values())
    for name, split in prepared.splits.items():
        keep = [i for i, clip in enumerate(split.arrays) if not is_silent(clip)]
        kept = set(keep)
        silent += [
            (split.paths[i], f"{split.paths[i]}: silent (peak below -100 dBFS); nothing for BirdNET to hear")
            for i in range(len(split.arrays))
            if i not in kept
        ]
        short += sum(split.arrays[i].size < BIRDNET_WINDOW_SAMPLES for i in keep)
        embeddings, part = embed_clips(
            [split.arrays[i] for i in keep], [split.paths[i] for i in keep], cache, threads=threads
        )
        for field_name in ("clips", "windows_computed", "windows_cached", "seconds"):
            setattr(stats, field_name, getattr(stats, field_name) + getattr(part, field_name))
        splits[name] = SplitData(embeddings, [split.labels[i] for i in keep], [split.paths[i] for i in keep])
    check_bad_fraction(prepared.bad_files + silent, total + len(prepared.bad_files), max_bad_fraction)
    notes = [
        f"BirdNET embeddings: {stats.windows_computed} window(s) computed, {stats.windows_cached} from the cache "
        f"({cache.directory}), {stats.seconds:.1f} s ({stats.seconds_per_clip * 1000:.0f} ms per clip)"
    ]
    if short:
        notes.append(
            f"{short} clip(s) shorter than 3 s were zero-filled to one 3 s window, as BirdNET-Analyzer fills "
            "its last chunk"
        )
    if silent:
        notes.append(f"set aside {len(silent)} silent clip(s): " + "; ".join(str(p) for p, _ in silent[:5]))
    for name, split in splits.items():
        if not split.labels:
            raise DataError(f"no {name} clips left after setting aside silent ones; check the recordings")
    embedded = replace(prepared, splits=splits, bad_files=prepared.bad_files + silent, inputs="embedding")
    return embedded, stats, notes

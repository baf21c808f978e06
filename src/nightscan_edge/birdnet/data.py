"""Prepared (decoded, split) data -> BirdNET embeddings per clip and window: what ``birdnet_head`` trains on.

Silent clips and clips under ``MIN_CLIP_SECONDS`` (0.1 s) are set aside with the unreadable ones, before BirdNET
runs (BirdNET's embedding of digital silence or of a click describes nothing), and they count against
``data.max_bad_fraction`` like any bad file. Clips from 0.1 to 3 s are zero-filled to one window, as birdnetlib
and BirdNET-Analyzer fill a short chunk, and said once in the run's log.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import cast

import numpy as np

from nightscan_edge.audio.recording import AudioClip
from nightscan_edge.birdnet.embeddings import EmbeddingCache, EmbeddingStats, embed_clips
from nightscan_edge.data.errors import DataError
from nightscan_edge.data.prepare import PreparedData, SplitData, check_bad_fraction
from nightscan_edge.models.birdnet_extractor import BIRDNET_SAMPLE_RATE, BIRDNET_WINDOW_SAMPLES, unusable_reason
from nightscan_edge.spec import AudioSpec


def embed_prepared(
    prepared: PreparedData, cache_dir: str | None, threads: int = 1, max_bad_fraction: float = 0.1
) -> tuple[PreparedData, EmbeddingStats, list[str]]:
    """Replace every split's waveforms by ``(windows, 1024)`` embeddings; returns the stats and log notes."""
    spec = prepared.spec
    if not isinstance(spec, AudioSpec):
        raise ValueError(f"embed_prepared needs audio clips; got a {type(spec).__name__}")
    if spec.sample_rate != BIRDNET_SAMPLE_RATE:
        raise ValueError(f"embed_prepared needs clips decoded at {BIRDNET_SAMPLE_RATE} Hz; got {spec.sample_rate}")
    cache = EmbeddingCache(cache_dir)
    splits: dict[str, SplitData] = {}
    stats = EmbeddingStats()
    # Set aside before BirdNET runs: a data set that is mostly unusable fails at once, with nothing computed.
    unusable: list[tuple[Path, str]] = []
    keep: dict[str, list[int]] = {}
    for name, split in prepared.splits.items():
        keep[name] = []
        for index, clip in enumerate(split.arrays):
            # a long recording is a SeekableRecording here: the silence check reads it a stretch at a time
            reason = unusable_reason(clip, BIRDNET_SAMPLE_RATE)
            if reason is None:
                keep[name].append(index)
            else:
                unusable.append((split.paths[index], f"{split.paths[index]}: {reason}"))
    total = sum(len(split.labels) for split in prepared.splits.values())
    check_bad_fraction(
        prepared.bad_files + unusable,
        total + len(prepared.bad_files),
        max_bad_fraction,
        "unreadable, silent or too short",
    )
    for name, chosen in keep.items():
        if not chosen:
            raise DataError(
                f"no {name} clips left after setting aside silent and too short ones ({unusable[0][1]}); "
                "check the recordings"
            )
    short = 0
    for name, split in prepared.splits.items():
        chosen = keep[name]
        short += sum(split.arrays[i].size < BIRDNET_WINDOW_SAMPLES for i in chosen)
        embeddings, part = embed_clips(
            # a SeekableRecording here only reaches birdnet_windows -> clip_windows, which takes either (AudioClip)
            cast(list[np.ndarray], [split.arrays[i] for i in chosen]),
            [split.paths[i] for i in chosen],
            cache,
            threads=threads,
        )
        for field_name in ("clips", "windows_computed", "windows_cached", "seconds"):
            setattr(stats, field_name, getattr(stats, field_name) + getattr(part, field_name))
        splits[name] = split.take(chosen, cast(list[AudioClip], embeddings))
    notes = [
        f"BirdNET embeddings: {stats.windows_computed} window(s) computed, {stats.windows_cached} from the cache "
        f"({cache.directory}), {stats.seconds:.1f} s ({stats.seconds_per_clip * 1000:.0f} ms per clip)"
    ]
    if short:
        notes.append(
            f"{short} clip(s) shorter than 3 s were zero-filled to one 3 s window, as BirdNET-Analyzer "
            "fills a short chunk"
        )
    if unusable:
        notes.append(f"set aside {len(unusable)} silent or too short clip(s): " + "; ".join(r for _, r in unusable[:5]))
    embedded = replace(prepared, splits=splits, bad_files=prepared.bad_files + unusable, inputs="embedding")
    return embedded, stats, notes

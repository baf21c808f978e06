"""BirdNET's embedding of a student's windows on a fixed grid over each clip, cached per file: what both BirdNET
teachers of an edge student read (the ``birdnet_head`` teacher's soft labels, and the embedding the student learns
to reproduce in feature distillation).

Time alignment: the student hears ``clip_samples`` at its own rate (2.95 s at 22.05 kHz by default), BirdNET 3 s
at 48 kHz. BirdNET's view of a student window is that same window resampled to 48 kHz (soxr HQ) with the missing
time zero-filled at the end, so both describe the same seconds of the recording. Running BirdNET on every
augmented training window would cost ~60 ms per window per step; the grid (every ``grid_seconds``) is computed
once per file and kept in the embedding cache under a rule naming the student's rate, window, hop and padding, so
the two teachers, a second run and another seed on the same files never run BirdNET again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from nightscan_edge.audio.decode import fit_to_length, window_starts
from nightscan_edge.audio.recording import AudioClip
from nightscan_edge.birdnet.embeddings import EmbeddingCache, EmbeddingStats, embed_clips
from nightscan_edge.models.birdnet_extractor import (
    BIRDNET_LICENCE,
    EMBEDDING_SIZE,
    check_audible,
    require_birdnet,
    to_birdnet_rate,
)
from nightscan_edge.spec import AudioSpec


@dataclass
class GridEmbeddings:
    """Per clip: the grid's window offsets (student samples) and BirdNET's ``(windows, 1024)`` embeddings there."""

    starts: list[np.ndarray]
    embeddings: list[np.ndarray]


class StudentGrid:
    """BirdNET embeddings of a student's grid windows; ``stats`` adds up what every call computed or read."""

    name = "BirdNET V2.4"
    dim = EMBEDDING_SIZE
    licence = BIRDNET_LICENCE

    def __init__(self, spec: AudioSpec, grid_seconds: float, cache_dir: str | None, threads: int = 1) -> None:
        require_birdnet()
        check_audible(spec, "the student's model.audio")
        self.spec = spec
        self.hop = max(1, int(round(grid_seconds * spec.sample_rate)))
        self.cache = EmbeddingCache(cache_dir)
        self.threads = threads
        self.stats = EmbeddingStats()

    def rule(self) -> str:
        """The cache's window rule: a grid for another rate, window, hop or padding is another entry."""
        spec = self.spec
        return f"student-grid|{spec.sample_rate}|{spec.clip_samples}|{self.hop}|{spec.pad_mode}"

    def starts(self, clip: AudioClip) -> np.ndarray:
        """Window offsets over ``clip`` (at least one; the last ends at the clip's end)."""
        return np.asarray(window_starts(clip.size, self.spec.clip_samples, self.hop))

    def windows(self, clip: AudioClip) -> np.ndarray:
        """The student's windows at the grid's offsets, padded as the student pads a short clip."""
        length, pad_mode = self.spec.clip_samples, self.spec.pad_mode
        return np.stack([fit_to_length(clip[s : s + length], length, pad_mode) for s in self.starts(clip)])

    def embed(self, clips: list[AudioClip], paths: list[Path | None]) -> GridEmbeddings:
        """BirdNET's embedding of every grid window of ``clips`` (cached per file; ``None`` paths are not cached)."""
        embeddings, stats = embed_clips(
            # embed_clips hands each clip only to windows_of, whose slices a SeekableRecording reads by seeking
            cast(list[np.ndarray], clips),
            paths,
            self.cache,
            threads=self.threads,
            rule=self.rule(),
            windows_of=lambda clip: to_birdnet_rate(self.windows(clip), self.spec.sample_rate),
        )
        for name in ("clips", "windows_computed", "windows_cached", "seconds"):
            setattr(self.stats, name, getattr(self.stats, name) + getattr(stats, name))
        return GridEmbeddings([self.starts(clip) for clip in clips], embeddings)

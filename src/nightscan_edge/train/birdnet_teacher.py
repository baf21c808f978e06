"""A ``birdnet_head`` run as the teacher of an edge student, and soft pseudo-labels on unlabelled recordings.

Time alignment: the student hears 2.95 s at 22.05 kHz, BirdNET 3 s at 48 kHz. The teacher's view of a student
window is that same window resampled to 48 kHz (soxr HQ) with the missing 50 ms zero-filled at the end, so both
describe the same seconds of the recording.

What is cached: running BirdNET on every augmented training window costs ~60 ms per window on one core (a
64-window step would take 4 s). The student draws its window at a random offset; the teacher instead scores, once,
a grid of windows over each clip (every ``teacher_grid_seconds``), cached per file in the embedding cache, and
a training window takes the teacher's logits of the grid window nearest its offset (at most half a grid step
away). Gain and SpecAugment are the student's alone: the teacher describes the clean signal, which is the target
the student should learn to recover. A window with no known offset (no positions in the batch) is scored exactly.

Unlabelled recordings (``--unlabeled DIR``) are cut into the same grid; each training step adds a batch of them,
augmented like the labelled windows, whose only loss is the KL divergence to the teacher's soft labels. With few
labelled clips per class this is the lever that matters most: the teacher's knowledge reaches the student
through many more windows than the labels alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nightscan_edge.audio.decode import fit_to_length, window_starts
from nightscan_edge.birdnet.embeddings import EmbeddingCache, EmbeddingStats, embed_clips
from nightscan_edge.checkpoint import TrainedModel
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.data.augment import WaveformAugment
from nightscan_edge.data.cache import MediaCache
from nightscan_edge.data.errors import DataError
from nightscan_edge.data.prepare import check_bad_fraction, decode_all
from nightscan_edge.data.sources import unlabelled_recordings
from nightscan_edge.models.birdnet_extractor import (
    check_audible,
    require_birdnet,
    to_birdnet_rate,
    unusable_reason,
)
from nightscan_edge.spec import AudioSpec
from nightscan_edge.train.losses import blend_with_teacher


def label_columns(teacher_labels: list[str], student_labels: list[str], source: str) -> list[int]:
    """Teacher output column of each student label, matched by name (any teacher: a BirdNET head or a trained run);
    a label the teacher never learnt is refused."""
    missing = [label for label in student_labels if label not in teacher_labels]
    if missing:
        raise ConfigError(
            f"teacher {source} cannot map the student's label(s) {', '.join(missing)}: it was trained on "
            f"{', '.join(teacher_labels)}; distill on the same classes: train the teacher on them (and with "
            "--background if the student has one)"
        )
    return [teacher_labels.index(label) for label in student_labels]


@dataclass
class TeacherGrid:
    """Per clip: grid window offsets (student samples) and the teacher's logits there (student label order)."""

    starts: list[np.ndarray]
    logits: list[torch.Tensor]

    def lookup(self, clip_index: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        rows = []
        for index, offset in zip(clip_index.tolist(), start.tolist(), strict=True):
            starts = self.starts[index]
            rows.append(self.logits[index][int(np.abs(starts - offset).argmin())])
        return torch.stack(rows)


class BirdNetTeacher:
    """Soft targets from a birdnet_head run for a student with its own spectrogram front-end."""

    def __init__(
        self,
        trained: TrainedModel,
        student_labels: list[str],
        student_spec: AudioSpec,
        temperature: float,
        alpha: float,
        cache_dir: str | None,
        grid_seconds: float,
        threads: int = 1,
    ) -> None:
        require_birdnet()
        check_audible(student_spec, "the student's model.audio")
        self.head = trained.model.eval()
        for parameter in self.head.parameters():
            parameter.requires_grad_(False)
        self.columns = torch.tensor(label_columns(trained.labels, student_labels, str(trained.run_dir)))
        self.student_spec = student_spec
        self.temperature = temperature
        self.alpha = alpha
        self.licence = trained.licence
        self.cache = EmbeddingCache(cache_dir)
        self.hop = max(1, int(round(grid_seconds * student_spec.sample_rate)))
        self.threads = threads
        self.grid: TeacherGrid | None = None
        self.stats = EmbeddingStats()

    def to(self, device: torch.device) -> BirdNetTeacher:
        return self  # the head is tiny and runs where the cached logits live (CPU)

    # -- the grid -------------------------------------------------------------------------------------------
    def _rule(self) -> str:
        spec = self.student_spec
        return f"student-grid|{spec.sample_rate}|{spec.clip_samples}|{self.hop}|{spec.pad_mode}"

    def _grid_windows(self, clip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        spec = self.student_spec
        starts = np.asarray(window_starts(clip.size, spec.clip_samples, self.hop))
        windows = np.stack(
            [fit_to_length(clip[s : s + spec.clip_samples], spec.clip_samples, spec.pad_mode) for s in starts]
        )
        return starts, windows

    @torch.no_grad()
    def score_grid(self, clips: list[np.ndarray], paths: list[Path | None]) -> TeacherGrid:
        """Teacher logits on every grid window of ``clips`` (embeddings cached per file)."""
        spec = self.student_spec
        embeddings, stats = embed_clips(
            clips,
            paths,
            self.cache,
            threads=self.threads,
            rule=self._rule(),
            windows_of=lambda clip: to_birdnet_rate(self._grid_windows(clip)[1], spec.sample_rate),
        )
        for name in ("clips", "windows_computed", "windows_cached", "seconds"):
            setattr(self.stats, name, getattr(self.stats, name) + getattr(stats, name))
        starts = [self._grid_windows(clip)[0] if clip.size > spec.clip_samples else np.zeros(1, int) for clip in clips]
        logits = [self.head(torch.from_numpy(rows))[:, self.columns] for rows in embeddings]
        return TeacherGrid(starts, logits)

    def prepare(self, clips: list[np.ndarray], paths: list[Path]) -> None:
        self.grid = self.score_grid(clips, list(paths))

    # -- the loss -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def logits(self, raw: torch.Tensor, positions: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        if positions is not None and self.grid is not None:
            return self.grid.lookup(*positions).to(raw.device)
        windows = to_birdnet_rate(raw.detach().cpu().numpy(), self.student_spec.sample_rate)
        return self.head.forward_waveform(torch.from_numpy(windows))[:, self.columns].to(raw.device)

    def distillation_loss(
        self,
        student_logits: torch.Tensor,
        raw: torch.Tensor,
        student_input: torch.Tensor,
        hard_loss: torch.Tensor,
        positions: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        teacher_logits = self.logits(raw, positions)
        return blend_with_teacher(student_logits, teacher_logits, hard_loss, self.temperature, self.alpha)


class UnlabeledWindows:
    """Unlabelled recordings on the teacher's grid: windows drawn per step, with the teacher's soft labels."""

    def __init__(self, clips: list[np.ndarray], grid: TeacherGrid, spec: AudioSpec, augment: WaveformAugment) -> None:
        self.clips, self.grid, self.spec, self.augment = clips, grid, spec, augment
        self.items = [(c, g) for c, starts in enumerate(grid.starts) for g in range(len(starts))]
        if not self.items:
            raise DataError("--unlabeled holds no usable windows")

    def __len__(self) -> int:
        return len(self.items)

    def to(self, device: torch.device) -> UnlabeledWindows:
        return self  # windows are cut on the CPU per step; the module moves each batch

    def batch(self, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` random windows (augmented with the student's waveform augmentation) and teacher logits."""
        augment = self.augment
        picks = rng.integers(0, len(self.items), size=size)
        windows, targets = [], []
        for pick in picks:
            clip_index, grid_index = self.items[int(pick)]
            clip, start, length = (
                self.clips[clip_index],
                int(self.grid.starts[clip_index][grid_index]),
                self.spec.clip_samples,
            )
            window = fit_to_length(clip[start : start + length], length, self.spec.pad_mode)
            params = augment.make_params(rng, length, length)
            windows.append(augment.apply(window, params))
            targets.append(self.grid.logits[clip_index][grid_index])
        return torch.from_numpy(np.stack(windows).astype(np.float32)), torch.stack(targets)


def load_unlabeled(
    folder: str, teacher: BirdNetTeacher, max_bad_fraction: float, augment: WaveformAugment
) -> UnlabeledWindows:
    """Every audio file under ``folder`` (labels, if any, are ignored), decoded at the student's rate."""
    paths = unlabelled_recordings(folder, "--unlabeled", "recordings without labels")
    arrays, bad = decode_all(paths, teacher.student_spec, MediaCache("memory"))
    rate = teacher.student_spec.sample_rate
    unusable = {p: reason for p, clip in arrays.items() if (reason := unusable_reason(clip, rate)) is not None}
    bad += [(p, f"{p}: {unusable[p]}") for p in sorted(unusable)]
    check_bad_fraction(bad, len(paths), max_bad_fraction, "unreadable, silent or too short")
    good = [p for p in paths if p in arrays and p not in unusable]
    clips = [arrays[p] for p in good]
    return UnlabeledWindows(clips, teacher.score_grid(clips, list(good)), teacher.student_spec, augment)

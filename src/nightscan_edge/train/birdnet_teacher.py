"""A ``birdnet_head`` run as the teacher of an edge student, and soft pseudo-labels on unlabelled recordings.

Time alignment and caching live in ``nightscan_edge.birdnet.grid``: BirdNET embeds, once per file, a grid of the
student's windows (every ``teacher_grid_seconds``, resampled to 48 kHz), and a training window takes the teacher's
logits of the grid window nearest its random offset (at most half a grid step away). Gain and SpecAugment are the
student's alone: the teacher describes the clean signal, which is the target the student should learn to recover.
A window with no known offset (no positions in the batch) is scored exactly.

Unlabelled recordings (``--unlabeled DIR``) are cut into the same grid; each training step adds a batch of them,
augmented like the labelled windows, whose only loss is the KL divergence to the teacher's soft labels. With few
labelled clips per class this is the lever that matters most: the teacher's knowledge reaches the student
through many more windows than the labels alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from nightscan_edge.audio.recording import AudioClip
from nightscan_edge.birdnet.embeddings import EmbeddingStats
from nightscan_edge.birdnet.grid import StudentGrid
from nightscan_edge.checkpoint import TrainedModel
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.data.augment import WaveformAugment
from nightscan_edge.data.cache import MediaCache
from nightscan_edge.data.prepare import check_bad_fraction, decode_all
from nightscan_edge.data.sources import unlabelled_recordings
from nightscan_edge.models.birdnet_extractor import to_birdnet_rate, unusable_reason
from nightscan_edge.spec import AudioSpec
from nightscan_edge.train.grid_windows import GridWindows
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


@dataclass(frozen=True)
class TeacherHead:
    """What scores BirdNET embeddings for a teacher: the head (``forward(embeddings)``, ``forward_waveform(48 kHz
    windows)``), its labels, where it came from (for messages) and the licence it passes on."""

    model: nn.Module
    labels: list[str]
    source: str
    licence: str | None

    @classmethod
    def of_run(cls, trained: TrainedModel) -> TeacherHead:
        return cls(trained.model, trained.labels, str(trained.run_dir), trained.licence)


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
    """Soft targets from a head on BirdNET's embedding -- a birdnet_head run's, or BirdNET's own species classifier
    (``train.birdnet_species``, ``train.teacher=birdnet``) -- for a student with its own spectrogram front-end."""

    def __init__(
        self,
        head: TeacherHead,
        student_labels: list[str],
        student_spec: AudioSpec,
        temperature: float,
        alpha: float,
        cache_dir: str | None,
        grid_seconds: float,
        threads: int = 1,
        multilabel: bool = False,
    ) -> None:
        # a multi-label head run teaches each class's sigmoid (losses.soft_loss), a softmax one its distribution
        self.multilabel = multilabel
        self.grid_embeddings = StudentGrid(student_spec, grid_seconds, cache_dir, threads)
        self.head = head.model.eval()
        for parameter in self.head.parameters():
            parameter.requires_grad_(False)
        self.columns = torch.tensor(label_columns(head.labels, student_labels, head.source))
        self.student_spec = student_spec
        self.temperature = temperature
        self.alpha = alpha
        self.licence = head.licence
        self.grid: TeacherGrid | None = None

    @property
    def stats(self) -> EmbeddingStats:
        return self.grid_embeddings.stats

    def to(self, device: torch.device) -> BirdNetTeacher:
        return self  # the head is tiny and runs where the cached logits live (CPU)

    # -- the grid -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def score_grid(self, clips: list[AudioClip], paths: list[Path | None]) -> TeacherGrid:
        """Teacher logits on every grid window of ``clips`` (embeddings cached per file)."""
        grid = self.grid_embeddings.embed(clips, paths)
        logits = [self.head(torch.from_numpy(rows))[:, self.columns] for rows in grid.embeddings]
        return TeacherGrid(grid.starts, logits)

    def prepare(self, clips: list[AudioClip], paths: list[Path]) -> None:
        self.grid = self.score_grid(clips, list(paths))

    # -- the loss -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def logits(self, raw: torch.Tensor, positions: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        if positions is not None and self.grid is not None:
            return self.grid.lookup(*positions).to(raw.device)
        windows = to_birdnet_rate(raw.detach().cpu().numpy(), self.student_spec.sample_rate)
        # every teacher head (BirdNetHead, BirdNetSpeciesHead) also takes 48 kHz windows
        scores: torch.Tensor = cast(Any, self.head).forward_waveform(torch.from_numpy(windows))
        return scores[:, self.columns].to(raw.device)

    def distillation_loss(
        self,
        student_logits: torch.Tensor,
        raw: torch.Tensor,
        student_input: torch.Tensor,
        hard_loss: torch.Tensor,
        positions: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        teacher_logits = self.logits(raw, positions)
        return blend_with_teacher(
            student_logits, teacher_logits, hard_loss, self.temperature, self.alpha, self.multilabel
        )


class UnlabeledWindows(GridWindows):
    """Unlabelled recordings on the teacher's grid: windows drawn per step (augmented with the student's waveform
    augmentation), with the teacher's soft labels."""

    def __init__(self, clips: list[AudioClip], grid: TeacherGrid, spec: AudioSpec, augment: WaveformAugment) -> None:
        super().__init__(clips, grid.starts, grid.logits, spec, "--unlabeled")
        self.grid, self.augment = grid, augment

    def to(self, device: torch.device) -> UnlabeledWindows:
        return self  # windows are cut on the CPU per step; the module moves each batch

    def batch(self, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` random windows and the teacher's logits on them."""
        return self.draw(rng, size, self.augment)


def decode_recordings(
    folder: str, option: str, spec: AudioSpec, max_bad_fraction: float
) -> tuple[list[AudioClip], list[Path]]:
    """Every audio file under ``folder`` (labels, if any, are ignored), decoded at the student's rate; unreadable,
    silent and too short files are set aside (they count against ``max_bad_fraction``)."""
    paths = unlabelled_recordings(folder, option, "recordings without labels")
    arrays, bad = decode_all(paths, spec, MediaCache("memory"))
    rate = spec.sample_rate
    # a long recording is a SeekableRecording here: the silence check reads it a stretch at a time
    unusable = {p: reason for p, clip in arrays.items() if (reason := unusable_reason(clip, rate)) is not None}
    bad += [(p, f"{p}: {unusable[p]}") for p in sorted(unusable)]
    check_bad_fraction(bad, len(paths), max_bad_fraction, "unreadable, silent or too short")
    good = [p for p in paths if p in arrays and p not in unusable]
    return [arrays[p] for p in good], good


def load_unlabeled(
    folder: str, teacher: BirdNetTeacher, max_bad_fraction: float, augment: WaveformAugment
) -> UnlabeledWindows:
    """Every audio file under ``folder`` with the teacher's soft labels on its grid windows."""
    clips, paths = decode_recordings(folder, "--unlabeled", teacher.student_spec, max_bad_fraction)
    return UnlabeledWindows(clips, teacher.score_grid(clips, list(paths)), teacher.student_spec, augment)

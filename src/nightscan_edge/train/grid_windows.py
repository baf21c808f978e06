"""Windows of recordings on a teacher's grid, each with its cached target, drawn per training step.

What both BirdNET teachers feed a student beyond the labelled batches: unlabelled windows with the head's soft
labels (``--unlabeled``), and every window at hand with BirdNET's embedding (feature distillation). A draw takes
``size`` random grid windows, augments them with the student's waveform augmentation (the teacher's target
describes the clean signal, which the student should learn to recover) and stacks their targets.
"""

from __future__ import annotations

import numpy as np
import torch

from nightscan_edge.audio.decode import fit_to_length
from nightscan_edge.audio.recording import AudioClip
from nightscan_edge.data.augment import WaveformAugment
from nightscan_edge.data.errors import DataError
from nightscan_edge.spec import AudioSpec


class GridWindows:
    """``clips`` at the student's rate, per clip the grid's window offsets and a ``(windows, ...)`` target tensor."""

    def __init__(
        self, clips: list[AudioClip], starts: list[np.ndarray], targets: list[torch.Tensor], spec: AudioSpec, what: str
    ) -> None:
        self.clips, self.starts, self.targets, self.spec = clips, starts, targets, spec
        self.items = [(c, g) for c, offsets in enumerate(starts) for g in range(len(offsets))]
        if not self.items:
            raise DataError(f"{what} holds no usable windows")

    def __len__(self) -> int:
        return len(self.items)

    def draw(self, rng: np.random.Generator, size: int, augment: WaveformAugment) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` random windows (augmented) and their targets."""
        picks = rng.integers(0, len(self.items), size=size)
        length = self.spec.clip_samples
        windows, targets = [], []
        for pick in picks:
            clip_index, grid_index = self.items[int(pick)]
            start = int(self.starts[clip_index][grid_index])
            window = fit_to_length(self.clips[clip_index][start : start + length], length, self.spec.pad_mode)
            params = augment.make_params(rng, length, length)
            windows.append(augment.apply(window, params))
            targets.append(self.targets[clip_index][grid_index])
        return torch.from_numpy(np.stack(windows).astype(np.float32)), torch.stack(targets)

"""Torch data sets over decoded (cached) media, and the epoch-seeded sampler that makes epochs reproducible.

The sampler's order is a function of (run seed, epoch), so epoch ``k`` draws the same items whether or not the
run was stopped and resumed before it; training batches and their augmentation are built from it in
``nightscan_edge.data.batches``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler
from torchvision.transforms import v2

from nightscan_edge.audio.decode import fit_to_length, window_starts
from nightscan_edge.spec import AudioSpec, ImageSpec


def epoch_seed(seed: int, epoch: int, salt: int = 0) -> int:
    return int(np.random.SeedSequence([seed, epoch, salt]).generate_state(1)[0])


class EpochSeededSampler(Sampler):
    """Shuffles (or draws with class weights, with replacement) from a seed fixed per epoch.

    ``draws`` (default: one per example) can exceed the data set: a small data set then passes over its
    examples more than once per epoch -- each pass a fresh permutation, and for audio a fresh random window and
    augmentation per draw -- so that an epoch has enough optimizer steps (see ``train.min_steps_per_epoch``).
    """

    def __init__(self, labels: Sequence[int], seed: int, weighted: bool = False, draws: int | None = None) -> None:
        self.labels = np.asarray(labels)
        self.seed = seed
        self.weighted = weighted
        self.draws = max(len(self.labels), draws or 0)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.draws

    def indices(self) -> np.ndarray:
        """This epoch's draws, in order (a function of the seed and the epoch only)."""
        rng = np.random.default_rng(epoch_seed(self.seed, self.epoch))
        if self.weighted:
            counts = np.bincount(self.labels)
            probabilities = 1.0 / counts[self.labels]
            return rng.choice(len(self.labels), size=self.draws, replace=True, p=probabilities / probabilities.sum())
        passes = -(-self.draws // len(self.labels))
        return np.concatenate([rng.permutation(len(self.labels)) for _ in range(passes)])[: self.draws]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())


def clip_windows(clip: np.ndarray, spec: AudioSpec) -> np.ndarray:
    """Every window of a clip at 50 % overlap (the last one aligned to the end) -> ``(W, clip_samples)``.

    The same rule as long-recording prediction, so validation scores what the field app will score.
    """
    window = spec.clip_samples
    if clip.size <= window:
        return fit_to_length(clip, window, spec.pad_mode)[None].astype(np.float32)
    return np.stack([clip[s : s + window] for s in window_starts(clip.size, window, max(1, window // 2))])


class AudioEvalDataset(Dataset):
    """All windows of a clip; ``collate_windows`` flattens a batch and says which clip owns each window."""

    def __init__(self, clips: list[np.ndarray], labels: list[int], spec: AudioSpec) -> None:
        self.clips, self.labels, self.spec = clips, labels, spec

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(clip_windows(self.clips[index], self.spec)), self.labels[index]


def collate_windows(items: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    windows = torch.cat([w for w, _ in items])
    labels = torch.tensor([label for _, label in items], dtype=torch.long)
    owner = torch.cat([torch.full((w.shape[0],), i, dtype=torch.long) for i, (w, _) in enumerate(items)])
    return windows, labels, owner


def image_transform(spec: ImageSpec):
    """transforms v2 on the cached, already resized uint8 image: scale and normalise (validation, prediction).

    Training augments whole uint8 batches on the device instead (``nightscan_edge.data.photo_augment``).
    """

    return v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(spec.mean), list(spec.std))])


class ImageDataset(Dataset):
    """Photos as normalised ``(C, H, W)``, unaugmented (validation and the first-inputs BatchNorm pass)."""

    def __init__(self, images: list[np.ndarray], labels: list[int], spec: ImageSpec) -> None:
        self.images, self.labels, self.spec = images, labels, spec
        self.transform = image_transform(spec)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(torch.from_numpy(self.images[index])), self.labels[index]


def collate_images(items: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    images = torch.stack([image for image, _ in items])
    labels = torch.tensor([label for _, label in items], dtype=torch.long)
    return images, labels, torch.arange(len(items))

"""Torch data sets over decoded (cached) media, and the epoch-seeded sampler that makes epochs reproducible.

Training items are addressed as ``(index, item_seed)``: the sampler derives every seed from (run seed, epoch,
position), so epoch ``k`` draws the same order and the same augmentation whether or not the run was stopped
and resumed before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler
from torchvision import tv_tensors
from torchvision.transforms import v2

from nightscan_edge.audio.decode import fit_to_length, window_starts
from nightscan_edge.audio.recording import AudioClip
from nightscan_edge.config import PhotoAugmentConfig
from nightscan_edge.data.augment import WaveformAugment
from nightscan_edge.spec import AudioSpec, ImageSpec


def epoch_seed(seed: int, epoch: int, salt: int = 0) -> int:
    return int(np.random.SeedSequence([seed, epoch, salt]).generate_state(1)[0])


# What a data set's __getitem__ takes: an index, or (index, item seed) from EpochSeededSampler.
ItemKey = int | tuple[int, int] | list[int]
# The targets of a split's items: class indices, or (multi-label) an (N, C) multi-hot array; one item's target is
# then an int or a (C,) row.
Targets = Sequence[int] | np.ndarray
Target = int | np.ndarray
# One training item: (input, target), or with the clip index and window offset (``with_position``).
Item = tuple[torch.Tensor, Target]
PositionedItem = tuple[torch.Tensor, Target, int, int]


class EpochSeededSampler(Sampler[tuple[int, int]]):
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

    def _order(self, rng: np.random.Generator) -> np.ndarray:
        if self.weighted:
            counts = np.bincount(self.labels)
            probabilities = 1.0 / counts[self.labels]
            return rng.choice(len(self.labels), size=self.draws, replace=True, p=probabilities / probabilities.sum())
        passes = -(-self.draws // len(self.labels))
        return np.concatenate([rng.permutation(len(self.labels)) for _ in range(passes)])[: self.draws]

    def indices(self) -> np.ndarray:
        """This epoch's draws in order, as one array (the batch data path, ``data.batches.EpochBatches``)."""
        return self._order(np.random.default_rng(epoch_seed(self.seed, self.epoch)))

    def __iter__(self) -> Iterator[tuple[int, int]]:
        """``(index, item_seed)`` per draw, for the per-clip data sets (frozen embeddings, BirdNET distillation)."""
        rng = np.random.default_rng(epoch_seed(self.seed, self.epoch))
        order = self._order(rng)
        item_seeds = rng.integers(0, 2**63 - 1, size=len(order))
        return iter([(int(i), int(s)) for i, s in zip(order, item_seeds, strict=False)])


def _split_key(key: ItemKey) -> tuple[int, int | None]:
    return (int(key[0]), int(key[1])) if isinstance(key, (tuple, list)) else (int(key), None)


class AudioTrainDataset(Dataset[Item | PositionedItem]):
    """One random window per clip and draw (loop/zero padded when short), augmented on the waveform."""

    def __init__(
        self,
        clips: Sequence[AudioClip],
        labels: Targets,
        spec: AudioSpec,
        augment: WaveformAugment,
        with_position: bool = False,
    ) -> None:
        self.clips, self.labels, self.spec, self.augment = clips, labels, spec, augment
        # (clip index, window offset) too: a teacher with cached scores looks up the same seconds of the clip
        self.with_position = with_position

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, key: ItemKey) -> Item | PositionedItem:
        index, item_seed = _split_key(key)
        clip, window = self.clips[index], self.spec.clip_samples
        rng = np.random.default_rng(item_seed if item_seed is not None else index)
        params = self.augment.make_params(rng, clip.size, window)
        samples = fit_to_length(clip[params.start : params.start + window], window, self.spec.pad_mode)
        waveform = torch.from_numpy(np.ascontiguousarray(self.augment.apply(samples, params)))
        if self.with_position:
            return waveform, self.labels[index], index, params.start
        return waveform, self.labels[index]


def clip_windows(clip: AudioClip, spec: AudioSpec) -> np.ndarray:
    """Every window of a clip at 50 % overlap (the last one aligned to the end) -> ``(W, clip_samples)``.

    The same rule as long-recording prediction, so validation scores what the field app will score.
    """
    window = spec.clip_samples
    if clip.size <= window:
        return fit_to_length(clip[:window], window, spec.pad_mode)[None].astype(np.float32)
    return np.stack([clip[s : s + window] for s in window_starts(clip.size, window, max(1, window // 2))])


class AudioEvalDataset(Dataset[Item]):
    """All windows of a clip; ``collate_windows`` flattens a batch and says which clip owns each window."""

    def __init__(self, clips: Sequence[AudioClip], labels: Targets, spec: AudioSpec) -> None:
        self.clips, self.labels, self.spec = clips, labels, spec

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> Item:
        return torch.from_numpy(clip_windows(self.clips[index], self.spec)), self.labels[index]


class EmbeddingTrainDataset(Dataset[Item]):
    """Per clip a ``(windows, dim)`` array of frozen embeddings (BirdNET); one random window per draw -- the
    embedding-side counterpart of a random window offset."""

    def __init__(self, clips: list[np.ndarray], labels: Targets) -> None:
        self.clips, self.labels = clips, labels

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, key: ItemKey) -> Item:
        index, item_seed = _split_key(key)
        rows = self.clips[index]
        row = int(np.random.default_rng(item_seed if item_seed is not None else index).integers(len(rows)))
        return torch.from_numpy(np.ascontiguousarray(rows[row], dtype=np.float32)), self.labels[index]


class EmbeddingEvalDataset(Dataset[Item]):
    """Every window's embedding of a clip (``collate_windows`` flattens them, as for waveforms)."""

    def __init__(self, clips: list[np.ndarray], labels: Targets) -> None:
        self.clips, self.labels = clips, labels

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> Item:
        return torch.from_numpy(np.ascontiguousarray(self.clips[index], dtype=np.float32)), self.labels[index]


def collate_targets(targets: list[Target]) -> torch.Tensor:
    """Class indices -> ``(B,)`` int64; multi-hot rows -> ``(B, C)`` float32."""
    if targets and isinstance(targets[0], np.ndarray):
        return torch.from_numpy(np.stack([np.asarray(t, dtype=np.float32) for t in targets]))
    return torch.tensor(targets, dtype=torch.long)


def collate_windows(items: list[Item]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    windows = torch.cat([w for w, _ in items])
    labels = collate_targets([label for _, label in items])
    owner = torch.cat([torch.full((w.shape[0],), i, dtype=torch.long) for i, (w, _) in enumerate(items)])
    return windows, labels, owner


def image_transform(
    spec: ImageSpec, augment: PhotoAugmentConfig | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """transforms v2 on the cached, already resized uint8 image: [crop, flip, rotation, TrivialAugment,] scale,
    normalise[, erasing] (erasing fills with 0, the mean once normalised).

    The random crop is not in the seed's list; it is the augmentation that matters most for small photo sets
    (animals framed off-centre, at varying distance), so it is on by default and switchable.
    """

    steps = []
    if augment is not None:
        if augment.crop_scale < 1:
            size = [spec.image_size, spec.image_size]
            steps.append(v2.RandomResizedCrop(size, scale=(augment.crop_scale, 1.0), antialias=True))
        steps += [
            v2.RandomHorizontalFlip(p=augment.horizontal_flip_probability),
            v2.RandomRotation(augment.rotation_degrees),
        ]
        if augment.trivial_augment:
            steps.append(v2.TrivialAugmentWide())
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(spec.mean), list(spec.std))]
    if augment is not None and augment.erasing_probability > 0:
        steps.append(v2.RandomErasing(p=augment.erasing_probability))
    transform: Callable[[torch.Tensor], torch.Tensor] = v2.Compose(steps)
    return transform


class ImageDataset(Dataset[Item]):
    """Photos as normalised ``(C, H, W)``; training draws flip/rotation from the item's seed."""

    def __init__(
        self,
        images: list[np.ndarray],
        labels: Targets,
        spec: ImageSpec,
        augment: PhotoAugmentConfig | None = None,
    ) -> None:

        self.images = [tv_tensors.Image(torch.from_numpy(image)) for image in images]
        self.labels, self.spec = labels, spec
        self.transform = image_transform(spec, augment)
        self.random = augment is not None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: ItemKey) -> Item:
        index, item_seed = _split_key(key)
        if not self.random:
            return self.transform(self.images[index]).as_subclass(torch.Tensor), self.labels[index]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(item_seed if item_seed is not None else index)
            image = self.transform(self.images[index])
        return image.as_subclass(torch.Tensor), self.labels[index]


def collate_images(items: list[Item]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    images = torch.stack([image for image, _ in items])
    labels = collate_targets([label for _, label in items])
    return images, labels, torch.arange(len(items))

"""The data loaders of a run: whole training batches from (seed, epoch, step), augmented on the device; every
window of every validation clip.

Training goes through ``nightscan_edge.data.batches``: the split laid out as one array, a batch gathered with
one fancy index, its augmentation parameters drawn per batch and applied by ``augment`` on the training
device. Under DDP each rank takes its share of every global batch, so Lightning's distributed sampler is off
(``use_distributed_sampler=False``) and every rank validates the whole (small) validation set.

Frozen embeddings (``birdnet_head``) and BirdNET distillation (teacher scores cached per clip and window
offset, unlabelled windows) keep the per-clip path: one item per draw, seeded per item. A photo teacher's fixed
views (``train.teacher_views``) ride on the batch data path: a batch picks one view per photo and carries the
teacher's logits on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from torch.utils.data import DataLoader, Dataset

from nightscan_edge.config import Config
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.data.augment import WaveformAugment, load_backgrounds
from nightscan_edge.data.batches import BatchAugment, EpochBatches, train_data
from nightscan_edge.data.datasets import (
    AudioEvalDataset,
    AudioTrainDataset,
    EmbeddingEvalDataset,
    EmbeddingTrainDataset,
    EpochSeededSampler,
    ImageDataset,
    collate_images,
    collate_windows,
)
from nightscan_edge.data.photo_views import PhotoViews
from nightscan_edge.data.prepare import PreparedData, SplitData
from nightscan_edge.spec import AudioSpec
from nightscan_edge.train.devices import channels_last


@dataclass
class Loaders:
    """Training and validation loaders; ``sampler`` is the training order (the module sets its epoch and rank),
    ``augment`` the device half of the batch data path (None on the per-clip path)."""

    train: DataLoader[Any]  # batch dicts (the batch path) or (input, label[, ...]) tuples (per clip)
    val: DataLoader[Any]
    sampler: EpochBatches | EpochSeededSampler
    augment: BatchAugment | None = None


def build_loaders(
    config: Config,
    prepared: PreparedData,
    on_cuda: bool = False,
    teacher_positions: bool = False,
    unlabeled_windows: int = 0,
    teacher_views: PhotoViews | None = None,
) -> Loaders:
    """``on_cuda``: pinned host memory, so Lightning's non-blocking copies overlap with compute;
    ``teacher_positions``: training items also say (clip index, window offset), for a teacher with cached scores;
    ``unlabeled_windows``: each step also takes a batch of those (``--unlabeled``), so an epoch has enough steps
    to pass over them once -- otherwise a few labelled clips would cap how much of the unlabelled audio an epoch
    sees (the few-shot benchmark's student was still improving at its last epoch); for photos, the unlabelled photos;
    ``teacher_views``: a photo teacher's fixed views of the training photos, scored once."""
    val_set, collate = eval_dataset(prepared, prepared.splits["val"])
    workers = config.data.num_workers
    val_loader = DataLoader(
        val_set,
        batch_size=config.train.batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate,
        persistent_workers=workers > 0,
        pin_memory=on_cuda,
    )
    if prepared.inputs == "embedding" or teacher_positions or (unlabeled_windows > 0 and prepared.kind == "audio"):
        train_loader, sampler = _per_clip_train_loader(config, prepared, teacher_positions, unlabeled_windows)
        return Loaders(train_loader, val_loader, sampler)
    data = train_data(
        config,
        prepared,
        pin_memory=on_cuda,
        channels_last=channels_last(config, on_cuda),
        views=teacher_views,
        min_draws=unlabeled_windows,
    )
    return Loaders(data.loader, val_loader, data.batches, data.augment)


def _per_clip_train_loader(
    config: Config, prepared: PreparedData, teacher_positions: bool, unlabeled_windows: int
) -> tuple[DataLoader[Any], EpochSeededSampler]:
    train_split = prepared.splits["train"]
    batch_size, workers = config.train.batch_size, config.data.num_workers
    sampler = EpochSeededSampler(
        train_split.labels,
        config.train.seed,
        weighted=config.data.weighted_sampler,
        draws=max(config.train.min_steps_per_epoch * batch_size, unlabeled_windows),
    )
    train_set: Dataset[Any]
    spec = prepared.spec
    if prepared.inputs == "embedding":
        # embedding inputs: per clip a (windows, dim) array, never a SeekableRecording
        train_set = EmbeddingTrainDataset(cast(list[np.ndarray], train_split.arrays), train_split.item_targets)
    elif isinstance(spec, AudioSpec):  # prepared.kind == "audio"
        audio = config.data.audio_augment
        if config.data.augment and audio.overlay_probability > 0:
            raise ConfigError(
                "data.audio_augment.overlay_probability works on the batch data path, which BirdNET distillation, "
                "a teacher with cached scores and --unlabeled audio do not take; set it to 0 for this run"
            )
        backgrounds = (
            load_backgrounds(audio.noise_dir, spec.sample_rate)
            if (config.data.augment and audio.noise_mix_probability > 0)
            else []
        )
        train_set = AudioTrainDataset(
            train_split.arrays,
            train_split.item_targets,
            spec,
            WaveformAugment(audio, backgrounds, enabled=config.data.augment),
            with_position=teacher_positions,
        )
    else:
        augment = config.data.photo_augment if config.data.augment else None
        # photos: decoded arrays (only audio is seekable)
        train_set = ImageDataset(cast(list[np.ndarray], train_split.arrays), train_split.item_targets, spec, augment)
    train_loader = DataLoader(
        train_set,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=len(sampler) % batch_size == 1,
        persistent_workers=workers > 0,
    )
    return train_loader, sampler


def eval_dataset(prepared: PreparedData, split: SplitData) -> tuple[Dataset[Any], Callable[..., Any]]:
    """An unaugmented data set of one split (every window of a clip) and its collate function."""
    spec = prepared.spec
    if prepared.inputs == "embedding":
        return EmbeddingEvalDataset(
            cast(list[np.ndarray], split.arrays), split.item_targets
        ), collate_windows  # embeddings
    if isinstance(spec, AudioSpec):  # prepared.kind == "audio"
        return AudioEvalDataset(split.arrays, split.item_targets, spec), collate_windows
    return ImageDataset(cast(list[np.ndarray], split.arrays), split.item_targets, spec, None), collate_images  # photos

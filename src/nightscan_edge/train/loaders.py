"""The data loaders of a run: whole training batches from (seed, epoch, step), augmented on the device; every
window of every validation clip.

Training goes through ``nightscan_edge.data.batches``: the split laid out as one array, a batch gathered with
one fancy index, its augmentation parameters drawn per batch and applied by ``augment`` on the training
device. Under DDP each rank takes its share of every global batch, so Lightning's distributed sampler is off
(``use_distributed_sampler=False``) and every rank validates the whole (small) validation set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch.utils.data import DataLoader, Dataset

from nightscan_edge.config import Config
from nightscan_edge.data.batches import BatchAugment, EpochBatches, train_data
from nightscan_edge.data.datasets import AudioEvalDataset, ImageDataset, collate_images, collate_windows
from nightscan_edge.data.prepare import PreparedData, SplitData
from nightscan_edge.train.devices import channels_last


@dataclass
class Loaders:
    """Training and validation loaders; ``sampler`` is the training order (the module sets its epoch and rank),
    ``augment`` the device half of the training data path."""

    train: DataLoader
    val: DataLoader
    sampler: EpochBatches
    augment: BatchAugment


def build_loaders(config: Config, prepared: PreparedData, on_cuda: bool = False) -> Loaders:
    """``on_cuda``: pinned host memory, so Lightning's non-blocking copies overlap with compute."""
    data = train_data(config, prepared, pin_memory=on_cuda, channels_last=channels_last(config, on_cuda))
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
    return Loaders(data.loader, val_loader, data.batches, data.augment)


def eval_dataset(prepared: PreparedData, split: SplitData) -> tuple[Dataset, Callable[..., Any]]:
    """An unaugmented data set of one split (every window of a clip) and its collate function."""
    if prepared.kind == "audio":
        return AudioEvalDataset(split.arrays, split.labels, prepared.spec), collate_windows
    return ImageDataset(split.arrays, split.labels, prepared.spec), collate_images

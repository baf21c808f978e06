"""The training data path, one batch at a time.

A split is laid out for speed once: audio as one contiguous float32 array with offsets (in memory, or an
``np.memmap`` in the cache folder for sets larger than memory), photos as one uint8 tensor at the training
size. An epoch is a list of batches drawn from (run seed, epoch): ``EpochBatches`` yields ``(epoch, step,
indices)`` and ``TrainBatches[...]`` gathers the batch with one fancy index and draws its augmentation
parameters from (seed, epoch, step) -- so the same step of the same epoch is the same batch, resumed or not,
on one device or several. The augmentation itself is applied on the training device (``BatchAugment``).

Under DDP every rank draws the same global batch of ``train.batch_size`` items and keeps its own contiguous
share of rows, so N devices see exactly the batches one device sees (see ``docs/throughput.md``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from nightscan_edge.audio.decode import fit_to_length
from nightscan_edge.audio.recording import AudioClip, SeekableRecording
from nightscan_edge.config import Config
from nightscan_edge.data.augment import SCALAR_KEYS, AudioAugment, BatchParams, load_backgrounds, overlay
from nightscan_edge.data.cache import cache_key, check_cache_folder
from nightscan_edge.data.datasets import EpochSeededSampler, epoch_seed
from nightscan_edge.data.errors import DataError
from nightscan_edge.data.photo_augment import PhotoAugment, normalise
from nightscan_edge.data.photo_views import PhotoViews
from nightscan_edge.data.prepare import PreparedData
from nightscan_edge.spec import AudioSpec, ImageSpec


# -- layout ---------------------------------------------------------------------------------------------------
@dataclass
class AudioBank:
    """Every clip of a split back to back in one float32 array; clip ``i`` is
    ``samples[offsets[i]:offsets[i] + lengths[i]]``."""

    samples: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    # clip index -> a long recording read a window at a time (its length is in ``lengths``, its samples are not)
    recordings: dict[int, SeekableRecording] = field(default_factory=dict)

    @classmethod
    def from_clips(cls, clips: Sequence[AudioClip], file: Path | None = None) -> AudioBank:
        """In memory, or (``file``) an ``np.memmap`` written once through a temporary name and reused when a
        complete one is already there. A long recording (``SeekableRecording``) takes no room in the array: its
        windows are read from its file when drawn."""
        recordings = {i: clip for i, clip in enumerate(clips) if isinstance(clip, SeekableRecording)}
        stored = [np.zeros(0, np.float32) if isinstance(clip, SeekableRecording) else clip for clip in clips]
        lengths = np.array([clip.size for clip in stored], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(clips) else lengths
        total = int(lengths.sum())
        lengths = np.array([clip.size for clip in clips], dtype=np.int64)
        if file is None:
            samples = np.empty(total, dtype=np.float32)
            for clip, offset in zip(stored, offsets, strict=True):
                samples[offset : offset + clip.size] = clip
            return cls(samples, offsets, lengths, recordings)
        if not (file.is_file() and file.stat().st_size == 4 * total):
            _write_memmap(file, stored, offsets, total)
        return cls(np.memmap(file, dtype=np.float32, mode="r", shape=(total,)), offsets, lengths, recordings)

    def __len__(self) -> int:
        return len(self.lengths)

    def windows(
        self, index: np.ndarray, start: np.ndarray, roll: np.ndarray | None, window: int, pad_mode: str
    ) -> np.ndarray:
        """``(B, window)``: clip ``index[b]`` from ``start[b]``, padded and shifted (see ``_bank_windows``); rows
        of long recordings are read from their files."""
        if not self.recordings:
            return self._bank_windows(index, start, roll, window, pad_mode)
        seeking = np.isin(index, list(self.recordings))
        out = np.empty((len(index), window), dtype=np.float32)
        for row in np.flatnonzero(seeking):
            shift = int(roll[row]) if roll is not None else 0
            out[row] = self._recording_window(int(index[row]), int(start[row]), shift, window, pad_mode)
        if not seeking.all():
            rest = ~seeking
            out[rest] = self._bank_windows(
                index[rest], start[rest], roll[rest] if roll is not None else None, window, pad_mode
            )
        return out

    def _recording_window(self, index: int, start: int, roll: int, window: int, pad_mode: str) -> np.ndarray:
        """What ``_padded`` gives for the same clip held in memory: looped from its start (or zeros) past its end."""
        recording = self.recordings[index]
        samples = recording[start : start + window]
        if samples.size < window:
            tail = recording[: window - samples.size] if pad_mode == "loop" else np.zeros(0, np.float32)
            samples = fit_to_length(np.concatenate([samples, tail]), window, "zero")
        return np.roll(samples, roll) if roll else samples

    def _bank_windows(
        self, index: np.ndarray, start: np.ndarray, roll: np.ndarray | None, window: int, pad_mode: str
    ) -> np.ndarray:
        """``(B, window)``: clip ``index[b]`` from ``start[b]``, padded as ``fit_to_length`` pads (loop or
        zeros) when shorter, then circularly shifted by ``roll[b]``. Rows that are a plain slice of the bank
        (the usual case: a clip at least a window long) are copied through one strided view; only padded or
        shifted rows take the index arithmetic."""
        out = np.empty((len(index), window), dtype=np.float32)
        plain = self.lengths[index] >= start + window
        if roll is not None:
            plain &= roll == 0
        if self.samples.size < window:
            plain[:] = False
        if plain.any():
            view = np.lib.stride_tricks.sliding_window_view(self.samples, window)
            out[plain] = view[self.offsets[index[plain]] + start[plain]]
        if not plain.all():
            rest = ~plain
            shift = roll[rest] if roll is not None else None
            out[rest] = self._padded(index[rest], start[rest], shift, window, pad_mode)
        return out

    def _padded(
        self, index: np.ndarray, start: np.ndarray, roll: np.ndarray | None, window: int, pad_mode: str
    ) -> np.ndarray:
        # int32 positions while the bank allows (half the memory traffic of int64 over B x window indices)
        kind: type[np.signedinteger[Any]] = np.int32 if self.samples.size < 2**31 - window else np.int64
        lengths = self.lengths[index].astype(kind)[:, None]
        position = np.broadcast_to(np.arange(window, dtype=kind)[None, :], (len(index), window))
        if roll is not None:
            position = (position - roll.astype(kind)[:, None]) % kind(window)
        if pad_mode == "loop":  # a loop-padded position is always inside its clip
            source = self.offsets[index].astype(kind)[:, None] + (start.astype(kind)[:, None] + position) % np.maximum(
                lengths, 1
            )
            return (
                np.asarray(self.samples[source], dtype=np.float32)
                if self.samples.size
                else np.zeros(source.shape, np.float32)
            )
        inside = (start.astype(kind)[:, None] + position) < lengths
        source = np.where(inside, self.offsets[index].astype(kind)[:, None] + start.astype(kind)[:, None] + position, 0)
        out = (
            np.asarray(self.samples[source], dtype=np.float32)
            if self.samples.size
            else np.zeros(source.shape, np.float32)
        )
        out[~inside] = 0.0
        return out


def _write_memmap(file: Path, clips: list[np.ndarray], offsets: np.ndarray, total: int) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    check_cache_folder(file.parent, needed_bytes=4 * total)
    temporary = file.with_name(file.name + f".{os.getpid()}.tmp")
    try:
        array = np.memmap(temporary, dtype=np.float32, mode="w+", shape=(max(total, 1),))
        for clip, offset in zip(clips, offsets, strict=True):
            array[offset : offset + clip.size] = clip
        array.flush()
        del array
        temporary.replace(file)  # atomic: a parallel run never maps half a file
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise DataError(
            f"cannot write the audio cache in {file.parent}: {error.strerror or error}; free space there, "
            "set data.cache_dir to another folder, or use data.cache=memory"
        ) from None


def bank_file(config: Config, paths: list[Path], spec: AudioSpec) -> Path | None:
    """Where a split's audio bank lives on disk (``data.cache=disk``); named by the files' identities."""
    if config.data.cache != "disk":
        return None
    from nightscan_edge.data.media import media_variant

    folder = Path(config.data.cache_dir or Path.home() / ".cache" / "nightscan-edge" / "media") / "banks"
    identity = hashlib.sha1("\n".join(cache_key(p, media_variant(spec)) for p in paths).encode()).hexdigest()
    return folder / f"{identity}.f32"


def photo_bank(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 ``(N, C, S, S)``: the cached photos are already at the training size."""
    return torch.from_numpy(np.stack(images)) if images else torch.zeros(0, dtype=torch.uint8)


# -- order ----------------------------------------------------------------------------------------------------
def rank_rows(batch: int, rank: int, world: int) -> slice:
    """This rank's contiguous share of a global batch (shares differ by at most one row)."""
    bounds = np.linspace(0, batch, world + 1).round().astype(int)
    return slice(int(bounds[rank]), int(bounds[rank + 1]))


# One global batch of an epoch, as EpochBatches yields it and TrainBatches reads it.
BatchKey = tuple[int, int, int, int, np.ndarray]  # (epoch, step, rank, world, indices)
# One rank's batch: tensors, and Python ints for SCALAR_KEYS.
TrainBatch = dict[str, torch.Tensor | int]


class EpochBatches(Sampler[BatchKey]):
    """``(epoch, step, rank, world, indices)`` per global batch of an epoch; the order comes from
    ``EpochSeededSampler`` (whole permutations, or class-weighted draws). The last batch is dropped when a
    rank's share of it would be a single item (BatchNorm cannot train on one)."""

    def __init__(self, order: EpochSeededSampler, batch_size: int) -> None:
        self.order, self.batch_size = order, batch_size
        self.rank, self.world = 0, 1

    def set_epoch(self, epoch: int) -> None:
        self.order.set_epoch(epoch)

    def set_rank(self, rank: int, world: int) -> None:
        self.rank, self.world = rank, world

    @property
    def epoch(self) -> int:
        return self.order.epoch

    def _sizes(self) -> list[int]:
        full, rest = divmod(len(self.order), self.batch_size)
        sizes = [self.batch_size] * full + ([rest] if rest else [])
        if sizes and (sizes[-1] // self.world) < 2 and len(sizes) > 1:
            sizes.pop()
        return sizes

    def __len__(self) -> int:
        return len(self._sizes())

    def __iter__(self) -> Iterator[BatchKey]:
        indices = self.order.indices()
        start = 0
        for step, size in enumerate(self._sizes()):
            yield self.epoch, step, self.rank, self.world, indices[start : start + size]
            start += size


# -- batches --------------------------------------------------------------------------------------------------
class TrainBatches(Dataset[TrainBatch]):
    """``dataset[(epoch, step, rank, world, indices)]`` -> one batch dict of tensors: ``x`` (gathered windows,
    or uint8 photos), ``y`` and the augmentation parameters of this rank's rows."""

    def __init__(
        self,
        data: AudioBank | torch.Tensor,
        labels: np.ndarray,
        augment: AudioAugment | PhotoAugment,
        seed: int,
        backgrounds: AudioBank | None = None,
        views: PhotoViews | None = None,
    ) -> None:
        # class indices as int64, or (multi-label) multi-hot rows as float32: ``y`` of each batch
        targets = np.asarray(labels)
        self.labels = targets.astype(np.float32 if targets.ndim == 2 else np.int64)
        self.data, self.augment, self.seed = data, augment, seed
        self.backgrounds = backgrounds
        self.views = views  # a photo teacher's fixed views: draws pick among them and carry its logits

    def __len__(self) -> int:
        return len(self.labels)

    def draw(self, epoch: int, step: int, indices: np.ndarray) -> BatchParams:
        """The global batch's parameters: a function of (seed, epoch, step) only."""
        rng = np.random.default_rng(epoch_seed(self.seed, epoch, salt=1000 + step))
        if isinstance(self.augment, AudioAugment):
            return self.augment.draw(rng, self._audio().lengths[indices])
        if self.views is not None:
            rows = self.views.rows(indices, rng)
            return {**self.views.params_of(rows), "teacher_logits": self.views.logits[rows]}
        return self.augment.draw(rng, len(indices))

    def _audio(self) -> AudioBank:
        if not isinstance(self.data, AudioBank):  # audio augmentation is built with an audio bank only
            raise TypeError(f"audio batches need an AudioBank; got {type(self.data).__name__}")
        return self.data

    def __getitem__(self, key: BatchKey) -> TrainBatch:
        epoch, step, rank, world, indices = key
        params = self.draw(epoch, step, indices)
        rows = rank_rows(len(indices), rank, world)
        mine = indices[rows]
        params = {k: (v if k in SCALAR_KEYS else v[rows]) for k, v in params.items()}
        targets = torch.from_numpy(self.labels[mine])
        batch: TrainBatch = {"y": targets}
        if isinstance(self.augment, AudioAugment):
            spec = self.augment.spec
            windows = torch.from_numpy(
                self._audio().windows(
                    mine, params.pop("start"), params.pop("roll", None), spec.clip_samples, spec.pad_mode
                )
            )
            if "overlay_db" in params:  # multi-label (the config refuses it otherwise): targets are multi-hot
                level, shift = torch.from_numpy(params.pop("overlay_db")), int(params.pop("overlay_shift"))
                windows, batch["y"] = overlay(windows, targets, level, shift)
            batch["x"] = windows
            if "noise_snr_db" in params:
                params["row"] = np.arange(rows.start, rows.stop)
                params["noise_rows"] = np.asarray(len(indices), dtype=np.int64)
                if self.backgrounds is not None:
                    batch["noise"] = torch.from_numpy(_noise(params, self.backgrounds, spec.clip_samples))
        else:
            if isinstance(self.data, AudioBank):  # photo augmentation is built with a photo tensor only
                raise TypeError("photo batches need a tensor of photos; got an AudioBank")
            batch["x"] = self.data[torch.from_numpy(mine)]
        # Scalars stay Python ints: read on the device they would make the step wait for it (a GPU sync).
        batch.update({k: int(v) if k in SCALAR_KEYS else torch.as_tensor(v) for k, v in params.items()})
        return batch


def _noise(params: BatchParams, backgrounds: AudioBank, window: int) -> np.ndarray:
    """A window of a background recording per row (looped when the recording is shorter)."""
    index = params.pop("noise_index")
    span = np.maximum(backgrounds.lengths[index] - window + 1, 1)
    return backgrounds.windows(index, params.pop("noise_offset") % span, None, window, "loop")


class BatchAugment:
    """The device half of the data path: ``(batch dict on the device) -> (augmented raw input, labels)``.

    Raw input = the augmented waveform (the module's LogMel and ``mask_spectrogram`` follow) or the normalised
    photo batch, channels-last when asked.
    """

    def __init__(
        self, augment: AudioAugment | PhotoAugment | None, spec: AudioSpec | ImageSpec, channels_last: bool = False
    ) -> None:
        self.augment, self.spec, self.channels_last = augment, spec, channels_last

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x = batch["x"]
        if isinstance(self.augment, AudioAugment):
            return self.augment.apply(x, batch, batch.get("noise"))
        if isinstance(self.augment, PhotoAugment):
            x = self.augment.apply(x, batch)
        elif x.dtype == torch.uint8 and isinstance(self.spec, ImageSpec):  # uint8 input is photos
            x = normalise(x, self.spec)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.ndim == 4 else x

    def mask_spectrogram(self, spectrogram: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if isinstance(self.augment, AudioAugment):
            return self.augment.mask_spectrogram(spectrogram, batch)
        return spectrogram


@dataclass
class TrainData:
    """What the engine needs: the loader, its batch sampler (epoch/rank set by the module), the device half."""

    loader: DataLoader[TrainBatch]
    batches: EpochBatches
    augment: BatchAugment


def train_data(
    config: Config,
    prepared: PreparedData,
    pin_memory: bool = False,
    channels_last: bool = False,
    views: PhotoViews | None = None,
    min_draws: int = 0,
) -> TrainData:
    """The training split laid out as one array, batches drawn per epoch, augmentation parameters per batch (or,
    with ``views``, one of a photo teacher's fixed views per photo); an epoch draws at least ``min_draws`` items."""
    split, spec = prepared.splits["train"], prepared.spec
    batch_size = config.train.batch_size
    order = EpochSeededSampler(
        split.labels,
        config.train.seed,
        weighted=config.data.weighted_sampler,
        draws=max(config.train.min_steps_per_epoch * batch_size, min_draws),
    )
    backgrounds = None
    data: AudioBank | torch.Tensor
    augment: AudioAugment | PhotoAugment
    if isinstance(spec, AudioSpec):  # prepared.kind == "audio"
        audio = config.data.audio_augment
        data = AudioBank.from_clips(split.arrays, bank_file(config, split.paths, spec))
        if config.data.augment and audio.noise_mix_probability > 0 and audio.noise_dir:
            backgrounds = AudioBank.from_clips(load_backgrounds(audio.noise_dir, spec.sample_rate))
        augment = AudioAugment(
            audio, spec, enabled=config.data.augment, backgrounds=len(backgrounds) if backgrounds is not None else 0
        )
        device_augment = BatchAugment(augment, spec)
    else:
        data = photo_bank([np.asarray(array) for array in split.arrays])
        augment = PhotoAugment(config.data.photo_augment, spec)
        device_augment = BatchAugment(augment if config.data.augment else None, spec, channels_last)
    dataset = TrainBatches(data, np.asarray(split.item_targets), augment, config.train.seed, backgrounds, views)
    batches = EpochBatches(order, batch_size)
    workers = config.data.num_workers
    loader = DataLoader(
        dataset,
        sampler=batches,
        batch_size=None,
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
    )
    return TrainData(loader, batches, device_augment)

"""Model-ready samples for export, calibration, benchmarks and prediction checks.

Inputs are exactly what an exported model takes -- audio: raw waveform windows ``(N, clip_samples)`` cut by
the same rule as validation and long-recording prediction; photo: normalised ``(N, C, H, W)`` -- so INT8
calibration and parity checks see the data the model was trained and evaluated on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from nightscan_edge.audio.recording import AudioClip
from nightscan_edge.data.cache import MediaCache
from nightscan_edge.data.datasets import clip_windows, image_transform
from nightscan_edge.data.errors import DataError
from nightscan_edge.data.media import MediaError, load_cached_media
from nightscan_edge.data.sources import list_dataset
from nightscan_edge.objective import MULTILABEL
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.spec import AudioSpec, ImageSpec, spec_from_dict


def model_inputs(array: AudioClip, spec: AudioSpec | ImageSpec) -> np.ndarray:
    """One decoded file -> model inputs: every window of a clip, or one normalised image ``(1, C, H, W)``."""
    if isinstance(spec, AudioSpec):
        return clip_windows(array, spec)
    image: np.ndarray = image_transform(spec)(torch.from_numpy(np.asarray(array))).numpy()[None].astype(np.float32)
    return image


def _collect(
    items: Sequence[tuple[Path, int | np.ndarray]],
    spec: AudioSpec | ImageSpec,
    limit: int | None,
    seed: int,
    cache: MediaCache,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Inputs, their targets (class indices, or multi-hot rows) and their files."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of samples; got {limit}")
    order = np.random.default_rng(seed).permutation(len(items)) if limit is not None else np.arange(len(items))
    inputs: list[np.ndarray] = []
    labels: list[int | np.ndarray] = []
    sources: list[str] = []
    for position in order:
        path, label = items[position]
        try:
            array = load_cached_media(path, spec, cache)
        except (MediaError, FileNotFoundError):
            continue  # the training run reported unreadable files already; samples are only drawn from good ones
        windows = model_inputs(array, spec)
        inputs.append(windows)
        labels += [label] * len(windows)
        sources += [str(path)] * len(windows)
        if limit is not None and len(labels) >= limit:
            break
    if not inputs:
        raise DataError("no readable samples found")
    stacked = np.concatenate(inputs).astype(np.float32)
    if limit is not None:
        stacked, labels, sources = stacked[:limit], labels[:limit], sources[:limit]
    targets = np.stack(labels).astype(np.float32) if isinstance(labels[0], np.ndarray) else np.asarray(labels, np.int64)
    return stacked, targets, sources


def load_run_samples(
    run_dir: str | Path,
    split: str = "val",
    limit: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(inputs float32, labels int64, sources)`` for one split of a training run (labels index labels.txt).

    A multi-label run (``train.objective=multilabel``) gets ``(N, classes)`` float32 multi-hot targets instead of
    class indices: an entry's ``labels`` set from split.csv (empty: a negative window), else its one label.
    With ``limit`` the files are drawn in a seeded random order (varied calibration data); without it every
    file of the split is used in split order.
    """
    run = RunFolder(run_dir)
    for path in (run.config, run.split, run.labels_file):
        if not path.is_file():
            raise DataError(f"{run.path} has no {path.name}; give a run folder made by `nightscan-edge train`")
    config = run.read_config()  # only for the decode cache settings
    saved = run.read_checkpoint_metadata()  # what the weights were trained with: spec and objective
    spec = spec_from_dict(saved["spec"])
    index = {label: i for i, label in enumerate(run.read_labels())}
    plan = run.read_split()
    entries = plan.of(split)
    if not entries:
        raise DataError(
            f"{run.split} has no '{split}' files; splits: train, val" + (", test" if plan.of("test") else "")
        )
    items: list[tuple[Path, int | np.ndarray]]
    if saved.get("objective") == MULTILABEL:
        items = [(e.path, _multi_hot(e.targets if e.targets is not None else (e.label,), index)) for e in entries]
    else:
        items = [(e.path, index[e.label]) for e in entries]
    return _collect(items, spec, limit, seed, MediaCache(config.data.cache, config.data.cache_dir))


def _multi_hot(positives: Sequence[str], index: dict[str, int]) -> np.ndarray:
    row = np.zeros(len(index), dtype=np.float32)
    row[[index[label] for label in positives]] = 1.0
    return row


def load_folder_samples(
    data_path: str | Path, spec: AudioSpec | ImageSpec, labels: list[str], limit: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The same for any labeled folder or manifest, with its labels mapped onto the model's label order."""
    listing = list_dataset(data_path)
    if listing.kind != spec.kind:
        raise DataError(f"{data_path} holds {listing.kind} files but the model takes {spec.kind}")
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({label for s in listing.samples for label in s.classes} - set(index))
    if unknown:
        raise DataError(
            f"{data_path} has classes the model does not know: {', '.join(unknown)}; "
            f"the model knows: {', '.join(labels)}"
        )
    items: list[tuple[Path, int | np.ndarray]]
    if listing.multilabel:  # a labels column: multi-hot rows over the model's labels (bench of a multi-label file)
        items = [(s.path, _multi_hot(s.classes, index)) for s in listing.samples]
    else:
        items = [(s.path, index[s.label]) for s in listing.samples]
    return _collect(items, spec, limit, seed, MediaCache("memory"))

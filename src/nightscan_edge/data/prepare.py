"""From a config to ready data: list -> decode once (cached; bad files set aside) -> split -> per-split arrays.

Everything a user can get wrong about their data is found here, before a model is built: a missing path,
the wrong media kind for the model, too many unreadable files, too few classes or examples.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nightscan_edge.audio.recording import AudioClip
from nightscan_edge.config import Config
from nightscan_edge.data.annotation_windows import annotation_samples, is_annotation_table
from nightscan_edge.data.background import add_background
from nightscan_edge.data.cache import MediaCache
from nightscan_edge.data.errors import DataError
from nightscan_edge.data.long_clips import LongClip, far_longer_clips
from nightscan_edge.data.media import MediaError, load_cached_media
from nightscan_edge.data.sources import Sample, list_dataset, skip_reason
from nightscan_edge.data.splits import SplitEntry, SplitPlan, entry_classes, make_split, read_split
from nightscan_edge.data.targets import as_multilabel, as_single_label, multi_hot, positive_weights, strata
from nightscan_edge.models import MODELS
from nightscan_edge.paths import display_path
from nightscan_edge.spec import BACKGROUND_LABEL, AudioSpec, ImageSpec

log = logging.getLogger(__name__)

GRAYSCALE_MEAN, GRAYSCALE_STD = (0.449,), (0.226,)  # ImageNet mean/std averaged over RGB


def spec_from_config(config: Config) -> AudioSpec | ImageSpec:
    """The preprocessing spec a run's model is built with (saved in its checkpoints)."""

    entry = MODELS.get(config.model.name)
    if entry.input_kind == "audio":
        return entry.input_spec(config.model.audio) if entry.input_spec else config.model.audio
    if config.model.channels == 1:
        return ImageSpec(image_size=config.model.image_size, channels=1, mean=GRAYSCALE_MEAN, std=GRAYSCALE_STD)
    return ImageSpec(image_size=config.model.image_size, channels=3)


@dataclass
class SplitData:
    # decoded clips and photos; a recording of data.media.SEEK_READ_MIN_SECONDS or more is a SeekableRecording
    arrays: list[AudioClip]
    # the class index of each clip; multi-label: its stratum (rarest positive label, C for a negative), for samplers
    labels: list[int]
    paths: list[Path]
    # multi-label: (N, C) float32 multi-hot targets (an all-zero row: nothing calls); None for single-label
    targets: np.ndarray | None = None

    @property
    def item_targets(self) -> list[int] | np.ndarray:
        """What a data set yields as the target of each item: the class index, or the multi-hot row."""
        return self.targets if self.targets is not None else self.labels

    def take(self, indices: list[int], arrays: list[AudioClip]) -> SplitData:
        """The clips at ``indices`` with new ``arrays`` (e.g. their embeddings), labels and targets kept."""
        return SplitData(
            arrays,
            [self.labels[i] for i in indices],
            [self.paths[i] for i in indices],
            self.targets[indices] if self.targets is not None else None,
        )


@dataclass
class PreparedData:
    spec: AudioSpec | ImageSpec
    labels: list[str]
    plan: SplitPlan
    splits: dict[str, SplitData]
    bad_files: list[tuple[Path, str]] = field(default_factory=list)
    decodes: int = 0
    # "waveform": arrays are decoded clips; "embedding": per clip a (windows, dim) array of frozen embeddings
    # (birdnet_head trains on those, see birdnet/data.py).
    inputs: str = "waveform"
    # Audio clips far longer than the others of their class (likely unlabelled recordings): training says so.
    long_clips: list[LongClip] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def multilabel(self) -> bool:
        return self.splits["train"].targets is not None

    def counts(self, split: str) -> dict[str, int]:
        """Clips per class (multi-label: clips positive for each label)."""
        data = self.splits.get(split)
        if data is not None and data.targets is not None:
            counts = data.targets.sum(axis=0).astype(int)
        else:
            counts = np.bincount(data.labels, minlength=len(self.labels)) if data else np.zeros(len(self.labels), int)
        return {label: int(n) for label, n in zip(self.labels, counts, strict=False)}

    def positive_weights(self) -> np.ndarray:
        """Multi-label: BCE ``pos_weight`` per label from the training split (negatives / positives)."""
        targets = self.splits["train"].targets
        if targets is None:
            raise ValueError("positive weights are for multi-label data; this data set is single-label")
        return positive_weights(targets)

    def class_weights(self) -> np.ndarray:
        """Inverse-frequency weights (mean 1) from the training split."""
        counts = np.bincount(self.splits["train"].labels, minlength=len(self.labels)).astype(np.float64)
        weights: np.ndarray = counts.sum() / (len(self.labels) * np.maximum(counts, 1))
        return weights.astype(np.float32)


def decode_all(
    paths: list[Path], spec: AudioSpec | ImageSpec, cache: MediaCache
) -> tuple[dict[Path, AudioClip], list[tuple[Path, str]]]:
    """Decode every file once (through the cache); unreadable ones come back as (path, reason)."""
    arrays: dict[Path, AudioClip] = {}
    bad: list[tuple[Path, str]] = []
    for path in paths:
        try:
            arrays[path] = load_cached_media(path, spec, cache)
        except MediaError as error:
            bad.append((path, str(error)))
    return arrays, bad


def check_bad_fraction(
    bad: list[tuple[Path, str]], total: int, max_bad_fraction: float, what: str = "unreadable"
) -> None:
    """Fail when more than ``max_bad_fraction`` of the files are bad (``what`` says how), naming the first reason;
    otherwise log the ones skipped."""
    if not bad:
        return
    listing = "; ".join(display_path(path) for path, _ in bad[:10]) + (
        f"; ... {len(bad) - 10} more" if len(bad) > 10 else ""
    )
    fraction = len(bad) / max(total, 1)
    if fraction > max_bad_fraction:
        first = bad[0][1].splitlines()[0] if bad[0][1] else display_path(bad[0][0])
        raise DataError(
            f"{len(bad)} of {total} files are {what} ({fraction:.0%} > data.max_bad_fraction="
            f"{max_bad_fraction:g}), e.g. {first}; all: {listing}; fix or remove them, or raise data.max_bad_fraction"
        )
    log.warning("skipping %d %s file(s) of %d: %s", len(bad), what, total, listing)


def _list_samples(config: Config, spec: AudioSpec | ImageSpec, model_kind: str) -> tuple[list[Sample], list[Path]]:
    """The data set's samples and its listed files that are not media: a folder tree or manifest, or the windows
    of an annotation table (audio only; multi-label targets by overlap, ``data.min_overlap``)."""
    path = Path(str(config.data.path)).expanduser()
    if is_annotation_table(path):
        if not isinstance(spec, AudioSpec):
            raise DataError(f"{path} is an annotation table (times in recordings); it trains audio models only")
        return annotation_samples(path, spec.clip_samples / spec.sample_rate, config.data.min_overlap), []
    listing = list_dataset(path, config.data.duplicates)
    if listing.kind != model_kind:
        raise DataError(
            f"{config.data.path} holds {listing.kind} files but model {config.model.name} takes "
            f"{model_kind}; pick a matching --model (see `nightscan-edge models`)"
        )
    return listing.samples, listing.not_media


def _split_data(
    entries: list[SplitEntry], arrays: dict[Path, AudioClip], labels: list[str], multilabel: bool
) -> SplitData | None:
    if not entries:
        return None
    clips, paths = [arrays[e.path] for e in entries], [e.path for e in entries]
    if multilabel:
        targets = multi_hot([entry_classes(e) for e in entries], labels)
        return SplitData(clips, strata(targets), paths, targets)
    index = {label: i for i, label in enumerate(labels)}
    return SplitData(clips, [index[e.label] for e in entries], paths)


def prepare_data(config: Config, split_file: Path | None = None, cache: MediaCache | None = None) -> PreparedData:
    """Config (+ a saved ``split.csv`` on resume) -> decoded, split, label-indexed data."""

    if config.data.path is None:
        raise DataError("no data given; pass --data PATH (class-per-folder tree or manifest CSV) or set data.path")
    spec = spec_from_config(config)
    model_kind = MODELS.get(config.model.name).input_kind
    cache = cache or MediaCache(config.data.cache, config.data.cache_dir)
    multilabel = config.train.objective == "multilabel"
    if split_file is not None:
        plan = read_split(split_file)
        samples = [Sample(e.path, e.label, e.split, None, e.group, e.targets) for e in plan.entries]
        not_media: list[Path] = []
    else:
        samples, not_media = _list_samples(config, spec, model_kind)
        if config.data.background:
            if not isinstance(spec, AudioSpec):
                raise DataError("--background adds ambient audio windows; it applies to audio models only")
            samples = add_background(
                samples, config.data.background, spec, config.data.background_windows, config.data.split_seed
            )
        samples = (
            as_multilabel(samples, background=config.data.background is not None)
            if multilabel
            else as_single_label(samples, str(config.data.path))
        )
    arrays, bad = decode_all([s.path for s in samples], spec, cache)
    bad += [(path, f"{display_path(path)}: {skip_reason(path, model_kind)}") for path in not_media]
    check_bad_fraction(bad, len(samples) + len(not_media), config.data.max_bad_fraction)
    good = [s for s in samples if s.path in arrays]
    if split_file is None:
        plan = make_split(
            good,
            val_fraction=config.data.val_fraction,
            test_fraction=config.data.test_fraction,
            seed=config.data.split_seed,
            val_fold=config.data.val_fold,
        )
    else:
        plan = SplitPlan([e for e in plan.entries if e.path in arrays], plan.method)
    labels = sorted({label for e in plan.entries for label in entry_classes(e)})
    made = {split: _split_data(plan.of(split), arrays, labels, multilabel) for split in ("train", "val", "test")}
    splits = {split: data for split, data in made.items() if data is not None}
    long_clips = []
    # the background class is ambience of any length by design; multi-label clips (label sets, annotation windows)
    # have no one class whose clip lengths to compare
    if isinstance(spec, AudioSpec):
        long_clips = far_longer_clips(
            (e.path, e.label, arrays[e.path].shape[-1] / spec.sample_rate)
            for e in plan.entries
            if e.label != BACKGROUND_LABEL and e.targets is None
        )
    return PreparedData(spec, labels, plan, splits, bad, cache.decodes, long_clips=long_clips)

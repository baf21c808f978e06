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
from nightscan_edge.data.background import add_background
from nightscan_edge.data.cache import MediaCache
from nightscan_edge.data.errors import DataError
from nightscan_edge.data.long_clips import LongClip, far_longer_clips
from nightscan_edge.data.media import MediaError, load_cached_media
from nightscan_edge.data.sources import Sample, list_dataset, skip_reason
from nightscan_edge.data.splits import SplitEntry, SplitPlan, make_split, read_split
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
    labels: list[int]
    paths: list[Path]


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

    def counts(self, split: str) -> dict[str, int]:
        data = self.splits.get(split)
        counts = np.bincount(data.labels, minlength=len(self.labels)) if data else np.zeros(len(self.labels), int)
        return {label: int(n) for label, n in zip(self.labels, counts, strict=False)}

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


def prepare_data(config: Config, split_file: Path | None = None, cache: MediaCache | None = None) -> PreparedData:
    """Config (+ a saved ``split.csv`` on resume) -> decoded, split, label-indexed data."""

    if config.data.path is None:
        raise DataError("no data given; pass --data PATH (class-per-folder tree or manifest CSV) or set data.path")
    spec = spec_from_config(config)
    model_kind = MODELS.get(config.model.name).input_kind
    cache = cache or MediaCache(config.data.cache, config.data.cache_dir)
    if split_file is not None:
        plan = read_split(split_file)
        samples = [Sample(e.path, e.label, e.split, None, e.group) for e in plan.entries]
        not_media: list[Path] = []
    else:
        listing = list_dataset(config.data.path, config.data.duplicates)
        if listing.kind != model_kind:
            raise DataError(
                f"{config.data.path} holds {listing.kind} files but model {config.model.name} takes "
                f"{model_kind}; pick a matching --model (see `nightscan-edge models`)"
            )
        samples, not_media = listing.samples, listing.not_media
        if config.data.background:
            if not isinstance(spec, AudioSpec):
                raise DataError("--background adds ambient audio windows; it applies to audio models only")
            samples = add_background(
                samples, config.data.background, spec, config.data.background_windows, config.data.split_seed
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
    labels = sorted({e.label for e in plan.entries})
    index = {label: i for i, label in enumerate(labels)}
    splits = {}
    for split in ("train", "val", "test"):
        entries: list[SplitEntry] = plan.of(split)
        if entries:
            splits[split] = SplitData(
                [arrays[e.path] for e in entries], [index[e.label] for e in entries], [e.path for e in entries]
            )
    long_clips = []
    if isinstance(spec, AudioSpec):  # the background class is ambience of any length by design
        long_clips = far_longer_clips(
            (e.path, e.label, arrays[e.path].shape[-1] / spec.sample_rate)
            for e in plan.entries
            if e.label != BACKGROUND_LABEL
        )
    return PreparedData(spec, labels, plan, splits, bad, cache.decodes, long_clips=long_clips)

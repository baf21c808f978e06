"""A ``background`` class for night recordings: random windows of ambient audio with no target call.

Why: most windows of a night hold no call, and a classifier that has never seen "nothing" labels every window as
an animal. Users of BirdNET's custom classifiers report that adding local non-event sounds helps most. With
``--background DIR`` (ambient recordings of the site) every audio model, ``birdnet_head`` included, learns an
extra class named ``background``; prediction never reports it as a detection.

The windows are drawn at random offsets (seeded by ``data.split_seed``) and listed as media-fragment paths
(``night.wav#t=12.000,14.949``), so split.csv names exactly what was used and a resumed run reads the same audio.
Windows of one recording stay in one split when there are several recordings, so validation hears a place and
time the model did not train on.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile

from nightscan_edge.data.errors import DataError
from nightscan_edge.data.media import segment_path
from nightscan_edge.data.sources import Sample, unlabelled_recordings
from nightscan_edge.spec import BACKGROUND_LABEL, AudioSpec


def background_samples(folder: str | Path, spec: AudioSpec, count: int, seed: int) -> list[Sample]:
    """``count`` random windows (one model window long) from the recordings under ``folder``, labelled
    ``background``; grouped by recording when there are at least two."""
    if count < 2:
        raise DataError(
            f"data.background_windows must be at least 2 (one for training, one for validation); got {count}"
        )
    paths = unlabelled_recordings(folder, "--background", "ambient recordings (no target calls)")
    seconds: list[float] = []
    for path in paths:
        try:
            seconds.append(soundfile.info(str(path)).duration)
        except Exception as error:  # libsndfile raises several types for unreadable files
            raise DataError(f"--background: {path} is not readable audio ({error})") from None
    window_s = spec.clip_samples / spec.sample_rate
    durations = np.asarray(seconds)
    if durations.sum() < window_s:
        raise DataError(
            f"--background {folder} holds {durations.sum():.1f} s of audio; need at least one {window_s:.2f} s window"
        )
    rng = np.random.default_rng([seed, 20260])
    weights = np.maximum(durations - window_s, 1e-3)
    grouped = len(paths) >= 2
    samples = []
    for pick in rng.choice(len(paths), size=count, p=weights / weights.sum()):
        start = float(rng.uniform(0, max(durations[pick] - window_s, 0.0)))
        end = min(start + window_s, float(durations[pick]))
        group = f"{BACKGROUND_LABEL}:{paths[pick]}" if grouped else None
        samples.append(Sample(segment_path(paths[pick], start, end), BACKGROUND_LABEL, None, None, group))
    return samples


def add_background(
    samples: list[Sample], folder: str | Path, spec: AudioSpec, count: int | None, seed: int
) -> list[Sample]:
    """The data set's samples plus the background windows (as many as the median class by default)."""
    if any(s.label == BACKGROUND_LABEL for s in samples):
        raise DataError(f"the data set already has a class named '{BACKGROUND_LABEL}'; rename it or drop --background")
    if any(s.fold for s in samples):
        raise DataError("--background cannot follow a manifest's fold column; use a split column or none")
    if count is None:
        _, counts = np.unique([s.label for s in samples], return_counts=True)
        count = max(2, int(np.median(counts)))
    background = background_samples(folder, spec, count, seed)
    splits = {s.split for s in samples if s.split}
    if splits:
        # The manifest fixes its own splits: background windows join them in proportion to the data's own split
        # sizes (seeded), with at least one window in validation.
        names = sorted(splits)
        shares = np.array([sum(s.split == name for s in samples) for name in names], dtype=float)
        rng = np.random.default_rng([seed, 20261])
        chosen = list(rng.choice(names, size=len(background), p=shares / shares.sum()))
        if "val" in names and "val" not in chosen:
            chosen[0] = "val"
        if "train" in names and "train" not in chosen:
            chosen[-1] = "train"
        background = [replace(b, split=str(split), group=None) for b, split in zip(background, chosen, strict=True)]
    return samples + background


def quiet_stretches(
    clip: np.ndarray,
    sample_rate: int,
    frame_seconds: float = 0.1,
    below_call_db: float = 20.0,
    margin_seconds: float = 0.3,
    min_seconds: float = 1.0,
    floor_dbfs: float = -90.0,
) -> list[tuple[float, float]]:
    """The no-call stretches of a labelled clip, as ``(start_s, end_s)``: real site background for a background
    class or for measuring false detections when no ambient recordings exist.

    Why this criterion: a field clip's call is its loudest part, so the clip's own call level is the 95th
    percentile of its frame levels (RMS in ``frame_seconds`` frames, dBFS). A frame is quiet when it stays at least
    ``below_call_db`` under that level; every frame within ``margin_seconds`` of a louder one is dropped too (call
    onsets and reverberant tails), and so is digital silence (below ``floor_dbfs``: a zero-padded edit, not a
    site). Runs of at least ``min_seconds`` are kept. Energy alone cannot tell a faint distant call from wind,
    so a caller that can afford it should also ask a detector (BirdNET) to veto stretches it recognises.
    """
    frame = max(1, int(round(frame_seconds * sample_rate)))
    count = clip.size // frame
    if count == 0:
        return []
    power = np.mean(np.square(clip[: count * frame].astype(np.float64)).reshape(count, frame), axis=1)
    level = 10 * np.log10(power + 1e-20)
    loud = level > np.percentile(level, 95) - below_call_db
    margin = int(round(margin_seconds / frame_seconds))
    near_loud = np.convolve(loud.astype(int), np.ones(2 * margin + 1, dtype=int))[margin : margin + count] > 0
    usable = ~near_loud & (level > floor_dbfs)
    stretches, start = [], None
    for index, ok in enumerate([*usable.tolist(), False]):
        if ok and start is None:
            start = index
        elif not ok and start is not None:
            if (index - start) * frame_seconds >= min_seconds - 1e-9:
                stretches.append((start * frame / sample_rate, index * frame / sample_rate))
            start = None
    return stretches

"""Sliding windows over a streamed recording, and merging window scores into detections.

These rules are the contract the JS client mirrors (README "Prediction on the edge" section): windows at
``0, hop, 2*hop, ...``, one extra window aligned to the recording's end when the hops do not reach it (the
tail is scored on real audio, as ``nightscan_edge.audio.window_starts`` does for training), and recordings
shorter than one window padded per ``spec.pad_mode``. Decoding is streamed, so memory holds about one block
plus one window.
Windows are views into the current block (each buffer is replaced, never written to), so cutting them
copies nothing; the batch built from them is the one copy a model input needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from nightscan_edge.audio.decode import fit_to_length
from nightscan_edge.spec import BACKGROUND_LABEL


@dataclass(frozen=True)
class Window:
    """One model input cut from a recording; ``end_sample`` excludes padding."""

    start_sample: int
    end_sample: int
    samples: np.ndarray


def hop_samples(clip_samples: int, sample_rate: int, hop_seconds: float | None) -> int:
    """The hop in samples: 50 % overlap by default; must be positive."""
    if hop_seconds is None:
        return max(1, clip_samples // 2)
    hop = int(round(hop_seconds * sample_rate))
    if hop < 1:
        raise ValueError(
            f"hop of {hop_seconds} s is shorter than one sample at {sample_rate} Hz; use a larger --hop-seconds"
        )
    return hop


def sliding_windows(
    blocks: Iterable[np.ndarray], clip_samples: int, hop: int, pad_mode: str = "loop"
) -> Iterator[Window]:
    """Cut a stream of mono blocks into windows; only the samples still needed are kept in memory."""
    buffer = np.zeros(0, dtype=np.float32)
    buffer_start = 0  # absolute index of buffer[0]
    next_start = 0
    last_emitted_end = 0
    total = 0
    for block in blocks:
        buffer = np.concatenate([buffer, np.asarray(block, dtype=np.float32)])
        total += len(block)
        while next_start + clip_samples <= total:
            offset = next_start - buffer_start
            yield Window(next_start, next_start + clip_samples, buffer[offset : offset + clip_samples])
            last_emitted_end = next_start + clip_samples
            next_start += hop
        # Keep the last clip_samples (for an end-aligned final window) and everything from next_start on.
        keep_from = min(next_start, max(0, total - clip_samples))
        if keep_from > buffer_start:
            buffer = buffer[keep_from - buffer_start :]
            buffer_start = keep_from
    if total == 0:
        return
    if last_emitted_end == 0:  # shorter than one window
        yield Window(0, total, fit_to_length(buffer, clip_samples, pad_mode).astype(np.float32))
    elif last_emitted_end < total:
        offset = total - clip_samples - buffer_start
        yield Window(total - clip_samples, total, buffer[offset : offset + clip_samples])


def batched(windows: Iterable[Window], batch_size: int) -> Iterator[list[Window]]:
    batch: list[Window] = []
    for window in windows:
        batch.append(window)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class ScoredWindow:
    """A window's time span, its (calibrated) class probabilities and where they came from."""

    start_s: float
    end_s: float
    probabilities: np.ndarray
    source: str = "edge"
    fallback_failed: bool = False

    @property
    def top_index(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.top_index])


@dataclass
class Detection:
    """Consecutive windows with one top-1 label and one source, merged (times are None for photos)."""

    start_s: float | None
    end_s: float | None
    label: str
    confidence: float
    source: str
    top_k: list[tuple[str, float]] = field(default_factory=list)
    fallback_failed: bool = False


def top_k_labels(probabilities: np.ndarray, labels: Sequence[str], k: int) -> list[tuple[str, float]]:
    order = np.argsort(-probabilities, kind="stable")[: max(1, k)]
    return [(labels[i], float(probabilities[i])) for i in order]


def _open_detection(window: ScoredWindow, label: str, score: float, labels: Sequence[str], top_k: int) -> Detection:
    top = top_k_labels(window.probabilities, labels, top_k)
    return Detection(window.start_s, window.end_s, label, score, window.source, top, window.fallback_failed)


def _extend(current: Detection, window: ScoredWindow, score: float, labels: Sequence[str], top_k: int) -> None:
    """One more window in the run: the end moves, the best window's score (and top-k) stands for the run."""
    # a detection merged from windows always has times (None is for photos)
    current.end_s = window.end_s if current.end_s is None else max(current.end_s, window.end_s)
    current.fallback_failed = current.fallback_failed or window.fallback_failed
    if score > current.confidence:
        current.confidence = score
        current.top_k = top_k_labels(window.probabilities, labels, top_k)


def merge_windows(windows: Sequence[ScoredWindow], labels: Sequence[str], top_k: int = 1) -> list[Detection]:
    """Merge runs of windows sharing top-1 label and source; confidence = the run's best top-1 probability."""
    detections: list[Detection] = []
    for window in windows:
        label = labels[window.top_index]
        current = detections[-1] if detections else None
        if current is not None and current.label == label and current.source == window.source:
            _extend(current, window, window.confidence, labels, top_k)
        else:
            detections.append(_open_detection(window, label, window.confidence, labels, top_k))
    return detections


def merge_present_windows(
    windows: Sequence[ScoredWindow], labels: Sequence[str], thresholds: np.ndarray, top_k: int = 1
) -> list[Detection]:
    """Multi-label: per class, runs of consecutive windows (one source) whose score reaches the class's threshold,
    one detection each (confidence = the run's best score). Classes overlap in time: an owl over a frog chorus is
    two detections sharing seconds. Sorted by start time, then label order."""
    detections: list[Detection] = []
    for index, label in enumerate(labels):
        current: Detection | None = None
        for window in windows:
            score = float(window.probabilities[index])
            if score < thresholds[index]:
                current = None
                continue
            if current is not None and current.source == window.source:
                _extend(current, window, score, labels, top_k)
            else:
                current = _open_detection(window, label, score, labels, top_k)
                detections.append(current)
    order = {label: i for i, label in enumerate(labels)}
    return sorted(detections, key=lambda d: (d.start_s if d.start_s is not None else 0.0, order[d.label]))


def near_thresholds(probabilities: np.ndarray, thresholds: np.ndarray, margin: float) -> bool:
    """A multi-label window is unsure when any class's score lies within ``margin`` of its threshold."""
    return bool(np.any(np.abs(np.asarray(probabilities) - thresholds) < margin))


def reported_detections(
    windows: Sequence[ScoredWindow], labels: Sequence[str], top_k: int = 1, thresholds: np.ndarray | None = None
) -> list[Detection]:
    """What a recording's report lists: ``merge_windows`` without the background class's runs, or for a multi-label
    model (``thresholds`` given) every class above its threshold (``merge_present_windows``)."""
    if thresholds is not None:
        return merge_present_windows(windows, labels, thresholds, top_k)
    return [d for d in merge_windows(windows, labels, top_k) if d.label != BACKGROUND_LABEL]

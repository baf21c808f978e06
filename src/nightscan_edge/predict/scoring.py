"""Scoring whole files with one classifier: windows of a recording, or one image.

Shared by the edge predictor (which may then replace unsure windows with the server's answer) and the
server's ``POST /api/predict`` (which summarises the windows into one file-level answer).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from nightscan_edge.audio.decode import AudioDecodeError
from nightscan_edge.predict.classifier import Classifier
from nightscan_edge.predict.inputs import InputError, audio_windows, image_array
from nightscan_edge.predict.windows import ScoredWindow, Window, batched


def score_audio_batches(
    classifier: Classifier,
    path: Path,
    hop_seconds: float | None = None,
    batch_windows: int = 16,
    span: tuple[int, int | None] | None = None,
) -> Iterator[tuple[list[Window], list[ScoredWindow]]]:
    """Yield (windows, scores) batch by batch, so callers can stream and keep the samples of unsure windows.

    A decoding error part-way (truncated file) is raised only after the windows decoded before it are scored.
    ``span``: only that part of the recording (see ``audio_windows``).
    """
    rate = classifier.audio_spec.sample_rate
    failure: Exception | None = None

    def windows_until_failure() -> Iterator[Window]:
        nonlocal failure
        try:
            yield from audio_windows(path, classifier.audio_spec, hop_seconds, span)
        except (InputError, AudioDecodeError) as error:
            failure = error

    for batch in batched(windows_until_failure(), batch_windows):
        probabilities = classifier.probabilities(np.stack([window.samples for window in batch]))
        yield (
            batch,
            [
                ScoredWindow(window.start_sample / rate, window.end_sample / rate, row, classifier.source)
                for window, row in zip(batch, probabilities, strict=False)
            ],
        )
    if failure is not None:
        raise failure


def score_audio(classifier: Classifier, path: Path, hop_seconds: float | None = None) -> list[ScoredWindow]:
    return [score for _, scores in score_audio_batches(classifier, path, hop_seconds) for score in scores]


def score_image(classifier: Classifier, source: Path | bytes) -> np.ndarray:
    """Calibrated class probabilities for one image."""
    probabilities: np.ndarray = classifier.probabilities(image_array(source, classifier.image_spec)[None])[0]
    return probabilities


def summarise(
    scores: list[ScoredWindow], labels: list[str], multilabel: bool = False
) -> tuple[str, float, dict[str, float]]:
    """File-level answer from windows: the mean of their probabilities (one window: that window); a multi-label
    model's per-class maximum, since a call in one window of ten is present in the file."""
    stacked = [score.probabilities for score in scores]
    mean = np.max(stacked, axis=0) if multilabel else np.mean(stacked, axis=0)
    best = int(np.argmax(mean))
    return labels[best], float(mean[best]), {label: float(p) for label, p in zip(labels, mean, strict=False)}

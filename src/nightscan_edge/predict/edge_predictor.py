"""``EdgePredictor``: the field app's policy -- edge model first, the server only when the edge is unsure.

A window (audio) or image whose calibrated top-1 confidence is below ``threshold`` is sent to the server; for a
multi-label model (docs/multilabel.md), one where any class's score lies within ``near_threshold`` of that
class's own threshold (the decision could go either way). If the server cannot answer in ``timeout_s`` the edge
result is kept and flagged ``fallback_failed``, so a prediction is never lost. Without ``server_url`` it is a
plain edge predictor (the ``predict`` command); a multi-label one reports every class above its threshold.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nightscan_edge.audio.decode import AudioDecodeError
from nightscan_edge.paths import display_path
from nightscan_edge.predict.classifier import Classifier, load_edge_classifier
from nightscan_edge.predict.inputs import InputError, expand_paths
from nightscan_edge.predict.scoring import score_audio_batches, score_image
from nightscan_edge.predict.server_client import FallbackFailed, ServerAnswer, ServerClient, wav_bytes
from nightscan_edge.predict.windows import (
    Detection,
    ScoredWindow,
    hop_samples,
    near_thresholds,
    reported_detections,
    top_k_labels,
)

# Multi-label fallback: a window goes to the server when a class's score is this close to its threshold.
DEFAULT_NEAR_THRESHOLD = 0.1

log = logging.getLogger(__name__)


@dataclass
class FilePrediction:
    """Everything predicted for one file; ``error`` is set when (part of) the file could not be processed."""

    file: str
    detections: list[Detection] = field(default_factory=list)
    error: str | None = None
    windows: int = 0
    sent_to_server: int = 0
    fallback_failed: int = 0
    kind: str = "audio"

    @property
    def best(self) -> Detection | None:
        return max(self.detections, key=lambda d: d.confidence, default=None)


class EdgePredictor:
    def __init__(
        self,
        edge_artifact: str | Path | Classifier,
        server_url: str | None = None,
        threshold: float = 0.8,
        timeout_s: float = 5.0,
        hop_seconds: float | None = None,
        top_k: int = 1,
        threads: int | None = None,
        near_threshold: float = DEFAULT_NEAR_THRESHOLD,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1; got {threshold}")
        if not 0.0 <= near_threshold <= 1.0:
            raise ValueError(f"near_threshold must be between 0 and 1; got {near_threshold}")
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1; got {top_k}")
        self.classifier = (
            edge_artifact if isinstance(edge_artifact, Classifier) else load_edge_classifier(edge_artifact, threads)
        )
        if self.classifier.input_kind == "audio":  # a bad hop is the caller's error, not each file's
            hop_samples(self.classifier.audio_spec.clip_samples, self.classifier.audio_spec.sample_rate, hop_seconds)
        self.threshold = threshold
        self.near_threshold = near_threshold
        # multi-label: the per-class thresholds in output order (None: one label per window)
        self.thresholds = self.classifier.threshold_array if self.classifier.multilabel else None
        self.hop_seconds = hop_seconds
        self.top_k = top_k
        self.server = ServerClient(server_url, timeout_s) if server_url else None

    @property
    def labels(self) -> list[str]:
        return self.classifier.labels

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    def __enter__(self) -> EdgePredictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- fallback ------------------------------------------------------------------------------------------
    def _needs_server(self, score: ScoredWindow) -> bool:
        if self.server is None:
            return False
        if self.thresholds is not None:
            return near_thresholds(score.probabilities, self.thresholds, self.near_threshold)
        return score.confidence < self.threshold

    def _server_probabilities(self, answer: ServerAnswer) -> np.ndarray:
        if answer.objective != self.classifier.objective:
            raise FallbackFailed(
                f"server model is {answer.objective}, the edge model {self.classifier.objective}: scores do not compare"
            )
        unknown = sorted(set(answer.probabilities) - set(self.labels))
        if unknown or answer.label not in self.labels:
            raise FallbackFailed(f"server model has labels the edge model lacks ({', '.join(unknown) or answer.label})")
        return np.array([answer.probabilities.get(label, 0.0) for label in self.labels], dtype=np.float32)

    def _ask_server(self, score: ScoredWindow, data: bytes, filename: str, result: FilePrediction) -> None:
        """Replace ``score`` by the server's answer in place, or flag it ``fallback_failed``."""
        server = self.server
        if server is None:  # asked only after _needs_server, which requires a server
            raise RuntimeError("no fallback server is configured")
        result.sent_to_server += 1
        try:
            score.probabilities = self._server_probabilities(server.predict(data, filename))
            score.source = "server"
        except FallbackFailed:
            score.fallback_failed = True
            result.fallback_failed += 1

    # -- files ---------------------------------------------------------------------------------------------
    def predict_file(self, path: str | Path) -> FilePrediction:
        path = Path(path)
        if self.classifier.input_kind == "image":
            return self._predict_image(path)
        return self._predict_audio(path)

    predict = predict_file  # the field app's one call: a clip or photo in, its prediction(s) out

    def predict_files(self, paths: Iterable[str | Path]) -> Iterator[FilePrediction]:
        """Files and folders; a file that fails yields an error result and the batch goes on."""
        for path in expand_paths(list(paths), self.classifier.input_kind):
            try:
                result = self.predict_file(path)
            except Exception as error:  # per-file problems never stop the batch; the row names the cause
                log.debug("predicting %s failed", display_path(path), exc_info=True)
                result = FilePrediction(display_path(path), kind=self.classifier.input_kind)
                result.error = f"{display_path(path)}: {type(error).__name__}: {display_path(str(error))}"
            if not result.error and any(not math.isfinite(d.confidence) for d in result.detections):
                result.detections, result.error = (
                    [],
                    f"{result.file}: the model gave non-finite scores (NaN/Inf input?)",
                )
            yield result

    def score_audio_file(
        self,
        path: str | Path,
        span: tuple[int, int | None] | None = None,
    ) -> tuple[FilePrediction, list[ScoredWindow]]:
        """The scored windows of a recording (or of a ``span`` of it), fallback applied, not yet merged.

        The result carries the counts and the error; the archive engine scores spans of a long file on
        several workers and merges their windows once, in order, as ``_predict_audio`` does for one file.
        """
        path = Path(path)
        result = FilePrediction(display_path(path), kind="audio")
        scores: list[ScoredWindow] = []
        rate = self.classifier.audio_spec.sample_rate
        try:
            for windows, batch_scores in score_audio_batches(self.classifier, path, self.hop_seconds, span=span):
                for window, score in zip(windows, batch_scores, strict=False):
                    if self._needs_server(score):
                        clip = window.samples[: window.end_sample - window.start_sample]
                        name = f"{path.stem}_{score.start_s:.3f}s.wav"
                        self._ask_server(score, wav_bytes(clip, rate), name, result)
                scores.extend(batch_scores)
        except (InputError, AudioDecodeError, OSError) as error:
            result.error = display_path(str(error))  # windows scored before a truncation are kept
        result.windows = len(scores)
        return result, scores

    def _predict_audio(self, path: Path) -> FilePrediction:
        result, scores = self.score_audio_file(path)
        result.detections = reported_detections(scores, self.labels, self.top_k, self.thresholds)
        return result

    def _predict_image(self, path: Path) -> FilePrediction:
        result = FilePrediction(display_path(path), kind="image")
        try:
            score = ScoredWindow(float("nan"), float("nan"), score_image(self.classifier, path), "edge")
            if self._needs_server(score):
                self._ask_server(score, path.read_bytes(), path.name, result)
        except (InputError, OSError) as error:
            result.error = display_path(str(error))
            return result
        result.windows = 1
        if self.thresholds is not None:  # every class above its threshold (none: nothing in the photo)
            result.detections = reported_detections([score], self.labels, self.top_k, self.thresholds)
            return result
        label = self.labels[score.top_index]
        result.detections = [
            Detection(
                None,
                None,
                label,
                score.confidence,
                score.source,
                top_k_labels(score.probabilities, self.labels, self.top_k),
                score.fallback_failed,
            )
        ]
        return result

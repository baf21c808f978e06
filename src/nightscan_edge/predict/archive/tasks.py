"""The work that runs on the Dask workers of an archive prediction (see ``engine`` for the client side).

Owns the worker plugin that loads the model once per worker process (``ArchiveModel``), the two task
functions the client submits (``score_span`` per recording or span, ``finish_file`` per recording), and the
compact ``SpanResult`` they pass between processes. Kept apart from the client so what a worker imports and
runs is in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from distributed import Worker, get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from nightscan_edge.predict.archive.plan import FilePlan
from nightscan_edge.predict.archive.store import OutputFolder, manifest_hash, printable
from nightscan_edge.predict.edge_predictor import EdgePredictor, FilePrediction
from nightscan_edge.predict.windows import ScoredWindow, merge_present_windows, merge_windows

PLUGIN_NAME = "nightscan-archive-model"


@dataclass
class SpanResult:
    """A span's windows in compact arrays (cheap to send between processes) plus its counts and error."""

    starts: np.ndarray
    ends: np.ndarray
    probabilities: np.ndarray
    sources: list[str]
    fallback_failed: np.ndarray
    windows: int = 0
    sent_to_server: int = 0
    fallback_failures: int = 0
    error: str | None = None

    def scored_windows(self) -> list[ScoredWindow]:
        return [
            ScoredWindow(float(s), float(e), p, src, bool(f))
            for s, e, p, src, f in zip(
                self.starts, self.ends, self.probabilities, self.sources, self.fallback_failed, strict=True
            )
        ]


class ArchiveModel(WorkerPlugin):
    """Loads the artifact once per worker process; tasks reach it through ``get_worker().plugins``."""

    name = PLUGIN_NAME

    def __init__(self, artifact: str, options: dict[str, Any]) -> None:
        self.artifact, self.options = artifact, options
        self.predictor: EdgePredictor | None = None
        self.digest = ""

    def setup(self, worker: Worker | None = None) -> None:
        self.predictor = EdgePredictor(self.artifact, **self.options)
        self.digest = manifest_hash(self.predictor.classifier.manifest)

    def teardown(self, worker: Worker | None = None) -> None:
        if self.predictor is not None:
            self.predictor.close()

    @property
    def loaded(self) -> EdgePredictor:
        """The predictor ``setup`` opened on this worker."""
        if self.predictor is None:
            raise RuntimeError("the archive model plugin was not set up on this worker")
        return self.predictor


def _model() -> ArchiveModel:
    plugin = get_worker().plugins[PLUGIN_NAME]
    if not isinstance(plugin, ArchiveModel):
        raise RuntimeError(f"worker plugin {PLUGIN_NAME!r} is a {type(plugin).__name__}, not the archive model")
    return plugin


def score_span(path: str, span: tuple[int, int | None] | None) -> SpanResult:
    """Task: the scored windows of one recording or one span of it (on a worker)."""
    predictor = _model().loaded
    result, scores = predictor.score_audio_file(Path(path), span)
    labels = len(predictor.labels)
    return SpanResult(
        starts=np.array([s.start_s for s in scores], dtype=np.float64),
        ends=np.array([s.end_s for s in scores], dtype=np.float64),
        probabilities=np.stack([s.probabilities for s in scores]) if scores else np.zeros((0, labels), np.float32),
        sources=[s.source for s in scores],
        fallback_failed=np.array([s.fallback_failed for s in scores], dtype=bool),
        windows=result.windows,
        sent_to_server=result.sent_to_server,
        fallback_failures=result.fallback_failed,
        error=result.error,
    )


def merge_spans(
    plan: FilePlan, spans: list[SpanResult], labels: list[str], top_k: int, thresholds: np.ndarray | None = None
) -> FilePrediction:
    """The recording's prediction from its spans, as ``EdgePredictor.predict_file`` gives it for the whole file;
    a multi-label model (``thresholds``) gets every class above its threshold, overlapping in time."""
    scores = [window for span in spans for window in span.scored_windows()]
    errors = list(dict.fromkeys(span.error for span in spans if span.error))
    detections = (
        merge_present_windows(scores, labels, thresholds, top_k)
        if thresholds is not None
        else merge_windows(scores, labels, top_k)
    )
    return FilePrediction(
        plan.path,
        detections,
        "; ".join(errors) or None,
        windows=sum(s.windows for s in spans),
        sent_to_server=sum(s.sent_to_server for s in spans),
        fallback_failed=sum(s.fallback_failures for s in spans),
    )


def finish_file(plan: FilePlan, out: str, *spans: SpanResult) -> tuple[int, str | None]:
    """Task: merge a recording's spans and write its Parquet file (atomic); returns (rows, error)."""
    model = _model()
    predictor = model.loaded
    result = merge_spans(plan, list(spans), predictor.labels, predictor.top_k, predictor.thresholds)
    OutputFolder(Path(out)).write(plan, result, model.digest)
    return len(result.detections) + bool(result.error), printable(result.error) if result.error else None

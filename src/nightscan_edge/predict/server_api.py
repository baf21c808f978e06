"""``POST /api/predict``: the server-side model behind the edge fallback, as a mountable FastAPI router.

The web app mounts ``create_predict_router(model_source)``; ``nightscan-edge serve-model`` runs it alone.
Decoding and inference run in the thread pool (``run_in_threadpool``) so the event loop keeps serving other
requests; the model is loaded on first use, once, behind a lock.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, FastAPI, HTTPException, UploadFile
from starlette.concurrency import run_in_threadpool

from nightscan_edge.audio.decode import AudioDecodeError
from nightscan_edge.errors import CheckpointError
from nightscan_edge.objective import labels_above_thresholds
from nightscan_edge.predict.classifier import Classifier, load_server_classifier
from nightscan_edge.predict.inputs import InputError
from nightscan_edge.predict.scoring import score_audio, score_image, summarise

ModelSource = Classifier | str | Path | Callable[[], Classifier]
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
_CHUNK_BYTES = 1024 * 1024


class _LazyClassifier:
    def __init__(self, source: ModelSource) -> None:
        self._source = source
        self._classifier = source if isinstance(source, Classifier) else None
        self._lock = threading.Lock()

    def get(self) -> Classifier:
        """The model, loaded once; a missing/broken run is HTTP 503 with the reason (the fallback then keeps edge)."""

        with self._lock:
            if self._classifier is None:
                source = self._source
                try:
                    if callable(source):
                        self._classifier = source()
                    elif isinstance(source, Classifier):  # set in __init__ already; the type checker asks
                        self._classifier = source
                    else:
                        self._classifier = load_server_classifier(source)
                except (CheckpointError, FileNotFoundError) as error:
                    raise HTTPException(503, f"server model unavailable: {error}") from error
            return self._classifier


def predict_upload(classifier: Classifier, path: Path, hop_seconds: float | None = None) -> dict[str, Any]:
    """The response body for one uploaded file (schema in docs/architecture.md)."""
    model = {"name": classifier.name, "run_id": classifier.run_id}
    if classifier.input_kind == "image":
        image_probabilities = score_image(classifier, path)
        best = int(image_probabilities.argmax())
        return {
            "label": classifier.labels[best],
            "confidence": float(image_probabilities[best]),
            "probabilities": {
                label: float(p) for label, p in zip(classifier.labels, image_probabilities, strict=False)
            },
            "source": "server",
            "model": model,
            **_multilabel_keys(classifier, image_probabilities),
        }
    scores = score_audio(classifier, path, hop_seconds)
    if not scores:
        raise InputError(f"{path.name}: audio file has no samples")
    label, confidence, probabilities = summarise(scores, classifier.labels, classifier.multilabel)
    windows = [
        {
            "start_s": round(s.start_s, 4),
            "end_s": round(s.end_s, 4),
            "label": classifier.labels[s.top_index],
            "confidence": s.confidence,
            **({"labels": _present(classifier, s.probabilities)} if classifier.multilabel else {}),
        }
        for s in scores
    ]
    return {
        "label": label,
        "confidence": confidence,
        "probabilities": probabilities,
        "source": "server",
        "model": model,
        "windows": windows,
        **_multilabel_keys(classifier, np.array([probabilities[name] for name in classifier.labels])),
    }


def _present(classifier: Classifier, scores: np.ndarray) -> list[str]:
    return labels_above_thresholds(
        dict(zip(classifier.labels, map(float, scores), strict=True)), classifier.thresholds or {}
    )


def _multilabel_keys(classifier: Classifier, scores: np.ndarray) -> dict[str, Any]:
    """A multi-label model's answer also says so, with every class above its threshold (docs/multilabel.md)."""
    if not classifier.multilabel:
        return {}
    return {"objective": "multilabel", "labels": _present(classifier, scores), "thresholds": classifier.thresholds}


def create_predict_router(model_source: ModelSource, max_upload_bytes: int = MAX_UPLOAD_BYTES) -> APIRouter:
    """Router with ``POST /api/predict`` and ``GET /api/predict/model`` for a run, checkpoint or Classifier."""
    lazy = _LazyClassifier(model_source)
    router = APIRouter(prefix="/api/predict", tags=["predict"])

    @router.get("/model")
    async def predict_model() -> dict[str, Any]:
        classifier = await run_in_threadpool(lazy.get)
        return {
            "name": classifier.name,
            "run_id": classifier.run_id,
            "labels": classifier.labels,
            "input_kind": classifier.input_kind,
            "spec": classifier.spec.model_dump(mode="json"),
            "objective": classifier.objective,
            "thresholds": classifier.thresholds,
        }

    @router.post("")
    async def predict(file: UploadFile) -> dict[str, Any]:
        suffix = Path(file.filename or "upload").suffix[:16]
        with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
            size = 0
            while chunk := await file.read(_CHUNK_BYTES):
                size += len(chunk)
                if size > max_upload_bytes:
                    raise HTTPException(413, f"upload over {max_upload_bytes // (1024 * 1024)} MB; send shorter clips")
                handle.write(chunk)
            handle.flush()
            if size == 0:
                raise HTTPException(422, f"{file.filename}: empty upload; send the file's bytes in field 'file'")
            classifier = await run_in_threadpool(lazy.get)
            try:
                return await run_in_threadpool(predict_upload, classifier, Path(handle.name))
            except (InputError, AudioDecodeError) as error:
                message = str(error).replace(handle.name, file.filename or "upload")
                raise HTTPException(422, message) from error

    return router


def create_predict_app(model_source: ModelSource) -> FastAPI:
    """A standalone app serving only the prediction API (``nightscan-edge serve-model``)."""
    app = FastAPI(title="NightScan Edge prediction server")
    app.include_router(create_predict_router(model_source))
    return app

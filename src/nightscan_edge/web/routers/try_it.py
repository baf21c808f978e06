""" "Try it": run an exported model on one recording or photo and see what the phone would see.

The model is the export's own file (ONNX first, the format the phone runs through onnxruntime), opened by
the same ``load_edge_classifier`` as ``nightscan-edge predict``; windows are cut and scored by the same
``score_audio``. The page shows each window's label and confidence on the recording's log-mel timeline, and
which windows the edge/server policy would send to the server at the chosen threshold (what the fallback
would add: a second opinion on exactly those windows).
"""

from __future__ import annotations

import base64
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import UploadFile

from nightscan_edge.audio import decode_audio
from nightscan_edge.errors import NightScanError
from nightscan_edge.predict.classifier import Classifier, load_edge_classifier
from nightscan_edge.predict.edge_predictor import DEFAULT_NEAR_THRESHOLD
from nightscan_edge.predict.scoring import score_audio, score_image
from nightscan_edge.predict.windows import near_thresholds
from nightscan_edge.spec import AudioSpec
from nightscan_edge.web.deps import SettingsDep, StoreDep, TemplatesDep
from nightscan_edge.web.media import MAX_SPECTROGRAM_SECONDS, render_spectrogram
from nightscan_edge.web.results import read_export_report
from nightscan_edge.web.routers.datasets import dataset_file, get_dataset_or_404
from nightscan_edge.web.store import Store

router = APIRouter(tags=["try"])
EDGE_FILES = ("model.onnx", "model.tflite", "bundle.zip")  # what the phone runs, most portable first
TOP_K = 3


def runnable_exports(store: Store) -> list[dict[str, Any]]:
    """Finished exports with a file the server can run, newest first, with their recommended threshold."""
    choices = []
    for job in reversed(store.exports(statuses=("done",))):
        if job["kind"] != "export":
            continue
        folder = Path(job["out_dir"])
        artifact = next((folder / name for name in EDGE_FILES if (folder / name).is_file()), None)
        if artifact is None:
            continue
        calibration = (read_export_report(folder) or {}).get("calibration") or {}
        choices.append(
            {
                "id": job["id"],
                "run_id": job["run_id"],
                "artifact": str(artifact),
                "file": artifact.name,
                "threshold": calibration.get("recommended_threshold"),
            }
        )
    return choices


def _top(probabilities: np.ndarray, labels: list[str]) -> list[dict[str, Any]]:
    order = np.argsort(probabilities)[::-1][:TOP_K]
    return [{"label": labels[i], "confidence": float(probabilities[i])} for i in order]


def _window(classifier: Classifier, probabilities: np.ndarray, threshold: float) -> dict[str, Any]:
    """One window's (or photo's) row: its top labels and whether the phone keeps it. A multi-label model's row
    names every class at or above its own threshold, and the phone keeps it unless a class is near its threshold
    (``predict --near-threshold``'s default; docs/multilabel.md)."""
    top = _top(probabilities, classifier.labels)
    if not classifier.multilabel:
        return {**top[0], "edge": top[0]["confidence"] >= threshold, "top": top}
    thresholds = classifier.threshold_array
    present = [classifier.labels[i] for i in np.argsort(-probabilities) if probabilities[i] >= thresholds[i]]
    return {
        "label": ", ".join(present) or "(none present)",
        "confidence": top[0]["confidence"],
        "labels": present,
        "edge": not near_thresholds(probabilities, thresholds, DEFAULT_NEAR_THRESHOLD),
        "top": top,
    }


def try_classifier(classifier: Classifier, path: Path, threshold: float) -> dict[str, Any]:
    """Windows (audio) or the photo's scores, each marked ``edge`` (kept on the phone) or sent to the server."""
    if classifier.input_kind != "audio":
        row = _window(classifier, score_image(classifier, path), threshold)
        return {
            "kind": "image",
            "windows": [{"start_s": 0.0, "end_s": 0.0, **row}],
            "sent": 0 if row["edge"] else 1,
            "total": 1,
            "picture": None,
        }
    windows = [
        {"start_s": scored.start_s, "end_s": scored.end_s, **_window(classifier, scored.probabilities, threshold)}
        for scored in score_audio(classifier, path)
    ]
    spec = classifier.spec
    if not isinstance(spec, AudioSpec):
        raise ValueError(f"{classifier.name} says it takes audio but carries a {type(spec).__name__}; re-export it")
    samples = decode_audio(path, spec.sample_rate)[: int(MAX_SPECTROGRAM_SECONDS * spec.sample_rate)]
    shown = [w for w in windows if w["start_s"] < MAX_SPECTROGRAM_SECONDS]
    png = render_spectrogram(samples, spec, shown, title=f"{classifier.name}: windows at threshold {threshold:.2f}")
    return {
        "kind": "audio",
        "windows": windows,
        "sent": sum(not w["edge"] for w in windows),
        "total": len(windows),
        "picture": "data:image/png;base64," + base64.b64encode(png).decode(),
    }


def _page(
    request: Request, templates: Jinja2Templates, store: Store, status_code: int = 200, **context: Any
) -> HTMLResponse:
    datasets = store.datasets()
    return templates.TemplateResponse(
        request,
        "try.html",
        {"page": "try", "exports": runnable_exports(store), "datasets": datasets, **context},
        status_code=status_code,
    )


@router.get("/try", response_class=HTMLResponse)
def try_page(request: Request, store: StoreDep, templates: TemplatesDep) -> HTMLResponse:
    return _page(request, templates, store)


@router.post("/try", response_class=HTMLResponse)
async def try_submit(request: Request, store: StoreDep, settings: SettingsDep, templates: TemplatesDep) -> HTMLResponse:
    form = await request.form()
    chosen = {e["id"]: e for e in runnable_exports(store)}.get(str(form.get("export", "")))
    upload = form.get("file")
    dataset_choice = str(form.get("dataset_file", ""))
    raw_threshold = form.get("threshold") or "0.8"
    try:
        threshold = float(raw_threshold) if isinstance(raw_threshold, str) else -1.0  # a file is no threshold
    except ValueError:
        threshold = -1.0
    if chosen is None:
        return _page(request, templates, store, 422, error="choose a finished export to try")
    if not 0 <= threshold <= 1:
        return _page(request, templates, store, 422, error="the threshold is a confidence between 0 and 1")
    scratch = Path(tempfile.mkdtemp(prefix="try-", dir=settings.data_dir))
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            if upload.size is not None and upload.size > settings.max_upload_bytes:
                raise HTTPException(413, f"the file is over the {settings.max_upload_mb:g} MB limit")
            path = scratch / Path(upload.filename).name
            with open(path, "wb") as sink:
                shutil.copyfileobj(upload.file, sink)
            source = Path(upload.filename).name
        elif "::" in dataset_choice:
            dataset_id, relative = dataset_choice.split("::", 1)
            path = dataset_file(get_dataset_or_404(store, dataset_id), relative)
            source = relative
        else:
            return _page(request, templates, store, 422, error="upload a recording or photo, or pick a dataset file")

        def predict() -> dict[str, Any]:
            return try_classifier(load_edge_classifier(chosen["artifact"]), path, threshold)

        try:
            result = await run_in_threadpool(predict)
        except (NightScanError, ValueError, OSError) as error:
            return _page(request, templates, store, 422, error=f"{source}: {error}", chosen=chosen["id"])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return _page(
        request, templates, store, result=result, source=source, chosen=chosen["id"], threshold=threshold, export=chosen
    )

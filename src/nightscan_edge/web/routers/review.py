"""The Review pages: a queue per data set, each window with its spectrogram, sound (or photo) and the model's
proposal; decisions by mouse or keyboard; accepted windows become a new version of the data set.

The queue and its decisions live in ``nightscan_edge.review`` (one SQLite file under the data dir), so several
tabs, ``review suggest`` from the CLI and a server restart all see the same state. A ``ReviewError`` becomes its
``http_status`` with its one line (404 gone window, 409 another tab decided first, 422 unknown label).
Every path from a request (a file of windows to import) and every recording served is confined to the registered
data set roots and the data dir.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from nightscan_edge.audio import AudioDecodeError
from nightscan_edge.data.annotations.clips import read_stretch
from nightscan_edge.errors import UserError
from nightscan_edge.paths import PathPolicyError, confine, display_path
from nightscan_edge.review import (
    ReviewError,
    ReviewStore,
    build_version,
    version_folders,
    windows_from_file,
)
from nightscan_edge.review.queue import Kind, QueuedWindow, QueueInfo, Window
from nightscan_edge.web.dataset_intake import register_dataset
from nightscan_edge.web.deps import SettingsDep, StoreDep, TemplatesDep
from nightscan_edge.web.media import window_spectrogram_png
from nightscan_edge.web.settings import Settings
from nightscan_edge.web.store import Store

router = APIRouter(tags=["review"])


def _review(request: Request) -> ReviewStore:
    review: ReviewStore = request.app.state.review
    return review


ReviewDep = Annotated[ReviewStore, Depends(_review)]


def review_roots(settings: Settings) -> tuple[Path, ...]:
    """Where a queued recording or an imported file may be: the data set roots and the data dir."""
    return (*settings.roots, settings.data_dir)


class CreateQueueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_id: str
    name: str | None = Field(None, description="queue name (default: the data set id)")


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="a `data prelabel` CSV, `predict` CSV, Raven table or archive folder on the server")


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window_id: int
    action: str = Field(description="accept | relabel | reject | background")
    label: str | None = None
    tab: str | None = Field(None, max_length=64, description="who decides (a browser tab), shown in a conflict")


class UndoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision_id: int | None = None
    tab: str | None = Field(None, max_length=64)


def _answer(error: ReviewError) -> HTTPException:
    return HTTPException(error.http_status, str(error))


def _queue_or_404(review: ReviewStore, name: str) -> QueueInfo:
    try:
        return review.queue(name)
    except ReviewError as error:
        raise _answer(error) from None


def window_json(queued: QueuedWindow) -> dict[str, Any]:
    window, decision = queued.window, queued.decision
    base = f"/review/{queued.queue}/windows/{queued.id}"
    return {
        "id": queued.id,
        "recording": display_path(window.recording),
        "name": display_path(window.recording.name),
        "start_s": window.start_s,
        "end_s": window.end_s,
        "label": window.label,
        "confidence": window.confidence,
        "source": window.source,
        "decision": None
        if decision is None
        else {"id": decision.id, "action": decision.action, "label": decision.label, "tab": decision.tab},
        "audio_url": None if window.end_s is None else f"{base}/audio.wav",
        "picture_url": f"{base}/photo" if window.end_s is None else f"{base}/spectrogram.png",
    }


def queue_json(review: ReviewStore, queue: QueueInfo) -> dict[str, Any]:
    counts = review.counts(queue.name)
    return {
        "name": queue.name,
        "kind": queue.kind,
        "labels": list(queue.allowed_labels),
        "dataset": None if queue.dataset is None else str(queue.dataset),
        "windows": counts.windows,
        "pending": counts.pending,
        "by_action": counts.by_action,
    }


# JSON API
@router.get("/api/review")
def list_queues(review: ReviewDep) -> list[dict[str, Any]]:
    return [queue_json(review, queue) for queue in review.queues()]


@router.post("/api/review", status_code=201)
def create_queue(body: CreateQueueRequest, review: ReviewDep, store: StoreDep) -> dict[str, Any]:
    """A queue for a registered data set: its classes are the labels a window may be filed under."""
    dataset = store.dataset(body.dataset_id)
    if dataset is None:
        raise HTTPException(404, f"unknown dataset {body.dataset_id!r}")
    summary = dataset["summary"]
    kind: Kind = "image" if summary.get("kind") == "image" else "audio"
    try:
        queue = review.create_queue(body.name or dataset["id"], summary.get("classes", []), kind, Path(dataset["path"]))
    except ReviewError as error:
        raise _answer(error) from None
    return queue_json(review, queue)


@router.get("/api/review/{queue}")
def get_queue(queue: str, review: ReviewDep) -> dict[str, Any]:
    return queue_json(review, _queue_or_404(review, queue))


@router.post("/api/review/{queue}/import", status_code=201)
async def import_windows(queue: str, body: ImportRequest, review: ReviewDep, settings: SettingsDep) -> dict[str, Any]:
    """Queue the windows of a file on the server (confined to the data set roots and the data dir)."""
    _queue_or_404(review, queue)
    roots = review_roots(settings)
    try:
        path = confine(body.path, roots, "path", must_exist=True)
        windows = await run_in_threadpool(windows_from_file, path)
        report = review.add_windows(queue, windows, roots)
    except ReviewError as error:
        raise _answer(error) from None
    except UserError as error:  # PathPolicyError and the annotation readers' one-liners
        raise HTTPException(422 if not isinstance(error, PathPolicyError) else 403, str(error)) from None
    return {"added": report.added, "already_queued": report.already_queued, **queue_json(review, review.queue(queue))}


@router.get("/api/review/{queue}/windows")
def list_windows(
    queue: str, review: ReviewDep, pending: bool = False, offset: int = 0, limit: int = 2000
) -> list[dict[str, Any]]:
    _queue_or_404(review, queue)
    return [window_json(q) for q in review.windows(queue, pending, max(offset, 0), max(1, min(limit, 10_000)))]


@router.delete("/api/review/{queue}/windows/{window_id}")
def remove_window(queue: str, window_id: int, review: ReviewDep) -> dict[str, Any]:
    try:
        review.remove_window(queue, window_id)
    except ReviewError as error:
        raise _answer(error) from None
    return {"removed": window_id}


@router.post("/api/review/{queue}/decisions", status_code=201)
def decide(queue: str, body: DecisionRequest, review: ReviewDep) -> dict[str, Any]:
    """One decision. The same decision sent again (a retried request) answers 201 with the first one; a different
    decision for a window another tab already decided answers 409 with who decided what."""
    try:
        review.decide(queue, body.window_id, body.action, body.label, body.tab)
        return window_json(review.window(queue, body.window_id))
    except ReviewError as error:
        raise _answer(error) from None


@router.post("/api/review/{queue}/undo")
def undo(queue: str, body: UndoRequest, review: ReviewDep) -> dict[str, Any]:
    try:
        decision = review.undo(queue, body.decision_id, body.tab)
        return window_json(review.window(queue, decision.window_id))
    except ReviewError as error:
        raise _answer(error) from None


@router.post("/api/review/{queue}/versions", status_code=201)
async def new_version(queue: str, review: ReviewDep, store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """Write the data set's next version (original files + filed windows) and register it: it shows on the data page
    and the run form like any data set."""
    _queue_or_404(review, queue)

    def build() -> dict[str, Any]:
        version = build_version(review, queue, settings.uploads_dir)
        return register_dataset(store, settings, version.path, f"{queue} v{version.version}", source="review")

    try:
        return await run_in_threadpool(build)
    except ReviewError as error:
        raise _answer(error) from None
    except UserError as error:
        raise HTTPException(400, str(error)) from None


# media of one window
def _recording(review: ReviewStore, settings: Settings, queue: str, window_id: int, audio: bool) -> Window:
    """The window, its recording confined again (the queue may have been filled by the CLI with any path), and of
    the kind the route serves (a stretch of a recording, or a whole photo)."""
    try:
        queued = review.window(queue, window_id)
        confine(str(queued.window.recording), review_roots(settings), "recording")
    except ReviewError as error:
        raise _answer(error) from None
    except PathPolicyError as error:
        raise HTTPException(403, f"{error}; start the server with --dataset-root covering it") from None
    if not queued.window.recording.is_file():
        raise HTTPException(
            410,
            f"recording {display_path(queued.window.recording)} is gone (moved or deleted); restore it, or take "
            f"window {window_id} out of the queue",
        )
    if audio and queued.window.end_s is None:
        raise HTTPException(404, f"window {window_id} is a photo; open its /photo")
    if not audio and queued.window.end_s is not None:
        raise HTTPException(404, f"window {window_id} is a stretch of a recording; open its spectrogram.png")
    return queued.window


def _media(body: bytes, media_type: str) -> Response:
    return Response(body, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


@router.get("/review/{queue}/windows/{window_id}/audio.wav")
async def window_audio(queue: str, window_id: int, review: ReviewDep, settings: SettingsDep) -> Response:
    window = _recording(review, settings, queue, window_id, audio=True)
    try:
        wav = await run_in_threadpool(read_stretch, window.recording, window.start_s, window.end_s or 0.0)
    except (OSError, RuntimeError) as error:
        raise HTTPException(422, f"{display_path(window.recording)} is not readable audio ({error})") from None
    return _media(wav, "audio/wav")


@router.get("/review/{queue}/windows/{window_id}/spectrogram.png")
async def window_spectrogram(queue: str, window_id: int, review: ReviewDep, settings: SettingsDep) -> Response:
    window = _recording(review, settings, queue, window_id, audio=True)
    pictures = settings.data_dir / "cache" / "pictures"
    try:
        png = await run_in_threadpool(
            window_spectrogram_png, window.recording, window.start_s, window.end_s or 0.0, pictures
        )
    except AudioDecodeError as error:
        raise HTTPException(422, str(error)) from None
    return _media(png, "image/png")


@router.get("/review/{queue}/windows/{window_id}/photo")
def window_photo(queue: str, window_id: int, review: ReviewDep, settings: SettingsDep) -> FileResponse:
    return FileResponse(_recording(review, settings, queue, window_id, audio=False).recording)


# pages
@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, review: ReviewDep, store: StoreDep, templates: TemplatesDep) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "review.html",
        {
            "page": "review",
            "queues": [queue_json(review, queue) for queue in review.queues()],
            "datasets": store.datasets(),
        },
    )


def _versions(settings: Settings, store: Store, queue: str) -> list[dict[str, Any]]:
    """The queue's versions that are registered data sets (newest first), for links to the data page."""
    found = []
    for folder in reversed(version_folders(settings.uploads_dir, queue)):
        dataset = store.dataset_by_path(str(folder.resolve()))
        found.append({"name": folder.name, "dataset": dataset})
    return found


@router.get("/review/{queue}", response_class=HTMLResponse)
def queue_page(
    queue: str, request: Request, review: ReviewDep, store: StoreDep, settings: SettingsDep, templates: TemplatesDep
) -> HTMLResponse:
    info = _queue_or_404(review, queue)
    return templates.TemplateResponse(
        request,
        "review_queue.html",
        {
            "page": "review",
            "queue": queue_json(review, info),
            "versions": _versions(settings, store, queue),
        },
    )

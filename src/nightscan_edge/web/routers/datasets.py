"""Datasets: register a folder under the allowed roots or upload a zip; each is inspected once on intake.

The routes and pages live here; the intake itself (confinement, inspection, unzipping) is
``nightscan_edge.web.dataset_intake``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict
from starlette.datastructures import UploadFile as StarletteUploadFile

from nightscan_edge.audio import AudioDecodeError
from nightscan_edge.errors import UserError
from nightscan_edge.paths import is_inside
from nightscan_edge.web.dataset_intake import register_dataset, register_upload
from nightscan_edge.web.deps import SettingsDep, StoreDep, TemplatesDep
from nightscan_edge.web.media import spectrogram_png, thumbnail_jpeg
from nightscan_edge.web.settings import Settings
from nightscan_edge.web.store import Store
from nightscan_edge.web.uploads import UploadError

router = APIRouter(tags=["datasets"])


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field (say an output path) is refused, not ignored

    path: str
    name: str | None = None


def _check_declared_size(request: Request, settings: Settings) -> None:
    """Refuse an oversized upload before reading it (browsers always declare the length of a form post)."""
    declared = request.headers.get("content-length")
    if declared is None:
        raise HTTPException(411, "send a Content-Length header with uploads")
    if int(declared) > settings.max_upload_bytes + 64 * 1024:
        raise HTTPException(413, f"the upload is over the {settings.max_upload_mb:g} MB limit")


# JSON API
@router.get("/api/datasets")
def list_datasets(store: StoreDep) -> list[dict[str, Any]]:
    return store.datasets()


@router.get("/api/datasets/{dataset_id}")
def get_dataset(dataset_id: str, store: StoreDep) -> dict[str, Any]:
    dataset = store.dataset(dataset_id)
    if dataset is None:
        raise HTTPException(404, f"unknown dataset {dataset_id!r}")
    return dataset


@router.delete("/api/datasets/{dataset_id}")
def api_delete(dataset_id: str, store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """Forget a dataset; an uploaded one's files go too (only ever inside the uploads folder). A registered
    folder stays on disk: the server never deletes what it did not create."""
    dataset = store.dataset(dataset_id)
    if dataset is None:
        raise HTTPException(404, f"unknown dataset {dataset_id!r}")
    active = [run["id"] for run in store.runs(("queued", "running")) if run["dataset_id"] == dataset_id]
    if active:
        raise HTTPException(
            409,
            f"dataset {dataset_id} is used by {len(active)} queued/running run(s) "
            f"({', '.join(active[:3])}); cancel them first",
        )
    removed = None
    if dataset["source"] == "upload":
        uploads = settings.uploads_dir.resolve()
        folder = Path(dataset["path"])
        # the upload's own folder: uploads/<id>/ (the dataset root may be its single top folder inside)
        while folder.parent.resolve() != uploads and folder.parent != folder:
            folder = folder.parent
        if folder.parent.resolve() == uploads and is_inside(folder, (uploads,)) and folder.resolve() != uploads:
            shutil.rmtree(folder, ignore_errors=True)
            removed = str(folder)
    store.delete_dataset(dataset_id)
    return {"deleted": dataset_id, "removed_files": removed}


@router.post("/api/datasets", status_code=201)
def api_register(body: RegisterRequest, store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    try:
        return register_dataset(store, settings, body.path, body.name)
    except UserError as error:
        raise HTTPException(400, str(error)) from None


@router.post("/api/datasets/upload", status_code=201)
async def api_upload(request: Request, store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    _check_declared_size(request, settings)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, StarletteUploadFile):
        raise HTTPException(400, "send the zip in a multipart field named 'file'")
    try:
        name = form.get("name")
        return await register_upload(store, settings, upload, name if isinstance(name, str) else None)
    except UserError as error:
        raise HTTPException(400, str(error)) from None


# pages
def _page(
    request: Request,
    templates: Jinja2Templates,
    store: Store,
    settings: Settings,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:

    return templates.TemplateResponse(
        request,
        "datasets.html",
        {
            "page": "datasets",
            "datasets": store.datasets(),
            "roots": settings.roots,
            "max_upload_mb": settings.max_upload_mb,
            **context,
        },
        status_code=status_code,
    )


@router.get("/datasets", response_class=HTMLResponse)
def datasets_page(request: Request, store: StoreDep, settings: SettingsDep, templates: TemplatesDep) -> HTMLResponse:
    return _page(request, templates, store, settings)


@router.post("/datasets/register", response_class=HTMLResponse)
async def register_form(request: Request, store: StoreDep, settings: SettingsDep, templates: TemplatesDep) -> Response:
    form = await request.form()
    path, name = str(form.get("path", "")), str(form.get("name", ""))
    try:
        dataset = await run_in_threadpool(register_dataset, store, settings, path, name)
    except UserError as error:
        return _page(request, templates, store, settings, 400, error=str(error), path=path, name=name)
    return RedirectResponse(f"/datasets#{dataset['id']}", status_code=303)


@router.post("/datasets/upload", response_class=HTMLResponse)
async def upload_form(request: Request, store: StoreDep, settings: SettingsDep, templates: TemplatesDep) -> Response:
    _check_declared_size(request, settings)
    form = await request.form()
    upload = form.get("file")
    try:
        if not isinstance(upload, StarletteUploadFile) or not upload.filename:
            raise UploadError("choose a .zip file to upload")
        dataset = await register_upload(store, settings, upload, str(form.get("name", "")))
    except UserError as error:
        return _page(request, templates, store, settings, 400, error=str(error))
    return RedirectResponse(f"/datasets#{dataset['id']}", status_code=303)


# one dataset: its files, their pictures and sounds; rename and delete
FILES_PER_PAGE = 100


class RenameRequest(BaseModel):
    name: str


def get_dataset_or_404(store: Store, dataset_id: str) -> dict[str, Any]:
    dataset = store.dataset(dataset_id)
    if dataset is None:
        raise HTTPException(404, f"unknown dataset {dataset_id!r}")
    return dataset


def dataset_file(dataset: dict[str, Any], relative: str) -> Path:
    """The file ``relative`` of a dataset, only if inspection listed it (nothing else under the root is served)."""
    listed = {row["path"] for row in dataset["summary"].get("files", [])}
    if relative not in listed:
        raise HTTPException(404, f"{relative!r} is not a file of dataset {dataset['id']}")
    root = Path(dataset["summary"]["root"])
    path = Path(relative) if Path(relative).is_absolute() else root / relative
    if not path.is_file():
        raise HTTPException(404, f"{relative} is gone from {root}")
    return path


def rename_dataset(store: Store, dataset_id: str, name: str) -> dict[str, Any]:
    get_dataset_or_404(store, dataset_id)
    name = name.strip()
    if not name or len(name) > 120:
        raise HTTPException(422, "a dataset name needs 1 to 120 characters")
    store.rename_dataset(dataset_id, name)
    return get_dataset_or_404(store, dataset_id)


def _media_response(body: bytes, media_type: str) -> Response:
    return Response(body, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


@router.patch("/api/datasets/{dataset_id}")
def api_rename(dataset_id: str, body: RenameRequest, store: StoreDep) -> dict[str, Any]:
    return rename_dataset(store, dataset_id, body.name)


@router.get("/datasets/{dataset_id}/media/{relative:path}")
def dataset_media(dataset_id: str, relative: str, store: StoreDep) -> FileResponse:
    return FileResponse(dataset_file(get_dataset_or_404(store, dataset_id), relative))


@router.get("/datasets/{dataset_id}/spectrogram/{relative:path}")
async def dataset_spectrogram(dataset_id: str, relative: str, store: StoreDep, settings: SettingsDep) -> Response:
    path = dataset_file(get_dataset_or_404(store, dataset_id), relative)
    try:
        png = await run_in_threadpool(spectrogram_png, path, settings.data_dir / "cache" / "pictures")
    except AudioDecodeError as error:
        raise HTTPException(422, str(error)) from None
    return _media_response(png, "image/png")


@router.get("/datasets/{dataset_id}/thumbnail/{relative:path}")
async def dataset_thumbnail(dataset_id: str, relative: str, store: StoreDep, settings: SettingsDep) -> Response:
    path = dataset_file(get_dataset_or_404(store, dataset_id), relative)
    try:
        jpeg = await run_in_threadpool(thumbnail_jpeg, path, settings.data_dir / "cache" / "pictures")
    except OSError as error:
        raise HTTPException(422, f"{relative}: not a readable image ({error})") from None
    return _media_response(jpeg, "image/jpeg")


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(
    dataset_id: str, request: Request, store: StoreDep, templates: TemplatesDep, page: int = 1
) -> HTMLResponse:
    dataset = get_dataset_or_404(store, dataset_id)
    files = dataset["summary"].get("files", [])
    pages = max(1, -(-len(files) // FILES_PER_PAGE))
    page = min(max(page, 1), pages)
    shown = files[(page - 1) * FILES_PER_PAGE : page * FILES_PER_PAGE]
    return templates.TemplateResponse(
        request,
        "dataset.html",
        {
            "page": "datasets",
            "dataset": dataset,
            "files": shown,
            "page_number": page,
            "pages": pages,
            "total_files": len(files),
        },
    )


@router.post("/datasets/{dataset_id}/rename")
async def rename_form(dataset_id: str, request: Request, store: StoreDep) -> RedirectResponse:
    form = await request.form()
    rename_dataset(store, dataset_id, str(form.get("name", "")))
    return RedirectResponse(f"/datasets/{dataset_id}", status_code=303)


@router.post("/datasets/{dataset_id}/delete")
def delete_form(dataset_id: str, store: StoreDep, settings: SettingsDep) -> RedirectResponse:
    api_delete(dataset_id, store, settings)
    return RedirectResponse("/datasets", status_code=303)

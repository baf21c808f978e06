"""Dataset intake: register a folder or unpack an uploaded zip, confine its files and inspect it once.

The datasets router (``web/routers/datasets.py``) owns the HTTP routes and pages; this module owns what
happens to a dataset on its way in, so the demo seeder and the runs router use the same checks as a request.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUploadFile

from nightscan_edge.data import inspect_dataset
from nightscan_edge.data.sources import list_dataset
from nightscan_edge.paths import display_path, is_displayable, is_inside
from nightscan_edge.web.settings import Settings
from nightscan_edge.web.store import Store
from nightscan_edge.web.uploads import UploadError, extract_zip, folder_bytes, resolve_under_roots, unzipped_bytes

_INTAKE = threading.Lock()  # one upload unpacks at a time, so two cannot both fit in the last of the quota


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def inspect_summary(path: Path) -> dict[str, Any]:
    """Classes, counts and unreadable files, from the training engine's own dataset reader."""

    try:
        summary: dict[str, Any] = _jsonable(inspect_dataset(path))
        return summary
    except (ValueError, FileNotFoundError) as error:
        raise UploadError(f"{display_path(path)} is not a usable dataset: {display_path(str(error))}") from None


def dataset_file_roots(settings: Settings, dataset: dict[str, Any]) -> tuple[Path, ...]:
    """Where a dataset's files may live: an uploaded zip's own folder; a registered folder's allowed roots."""
    if dataset.get("source") == "upload":
        return (Path(dataset["path"]),)
    return settings.roots


def confine_dataset_files(path: Path, roots: tuple[Path, ...]) -> None:
    """Refuse a dataset whose manifest rows or symlinks point outside ``roots`` (the list of offenders, first 5).

    A manifest CSV is data from the request, so its paths are confined like any other requested path: an
    uploaded ``manifest.csv`` listing ``/etc/...`` or ``../../other-user`` must not make the server read there.
    """

    try:
        listing = list_dataset(path)
    except (ValueError, OSError):
        return  # inspection reports why the dataset is unusable
    outside = [s.path for s in listing.samples if not is_inside(s.path, roots)]
    outside += [p for p in listing.not_media if not is_inside(p, roots)]
    if outside:
        shown = ", ".join(display_path(p) for p in outside[:5]) + (
            f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        )
        raise UploadError(
            f"{display_path(path)} lists {len(outside)} file(s) outside the allowed folders "
            f"({', '.join(display_path(r) for r in roots)}): {shown}; keep every file inside the dataset"
        )


def _new_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "dataset"
    return f"{slug}-{secrets.token_hex(3)}"


def register_dataset(
    store: Store, settings: Settings, path: str | Path, name: str | None, source: str = "folder"
) -> dict[str, Any]:
    real = resolve_under_roots(path, settings.roots)
    if not is_displayable(str(real)):
        raise UploadError(
            f"the dataset path {display_path(real)} is not valid UTF-8 (a name from another encoding); "
            "rename the folder and register it again"
        )
    existing = store.dataset_by_path(str(real))
    if existing:
        raise UploadError(f"{real} is already registered as dataset {existing['id']}")
    confine_dataset_files(real, settings.roots)
    summary = inspect_summary(real)
    name = (name or "").strip() or real.name
    return store.add_dataset(_new_id(name), name, str(real), source, summary)


async def register_upload(
    store: Store, settings: Settings, upload: StarletteUploadFile, name: str | None
) -> dict[str, Any]:
    size = upload.size if upload.size is not None else None
    if size is None:
        upload.file.seek(0, 2)
        size = upload.file.tell()
        upload.file.seek(0)
    if size > settings.max_upload_bytes:
        raise UploadError(f"the upload is {size / 2**20:.1f} MB, over the {settings.max_upload_mb:g} MB limit")
    filename = upload.filename or ""
    if not filename.lower().endswith(".zip"):
        raise UploadError("upload a .zip of a folder with one sub-folder per class (or a manifest.csv)")
    name = (name or "").strip() or Path(filename).stem

    dataset_id = _new_id(name)
    destination = settings.uploads_dir / dataset_id

    def intake() -> dict[str, Any]:
        with _INTAKE, tempfile.NamedTemporaryFile(suffix=".zip", dir=settings.data_dir) as spooled:
            shutil.copyfileobj(upload.file, spooled)
            spooled.flush()
            used = folder_bytes(settings.uploads_dir)
            room = settings.max_storage_bytes - used
            declared = unzipped_bytes(Path(spooled.name))
            if declared > room:
                raise UploadError(
                    f"refused zip: it unpacks to {declared / 2**20:.0f} MB and the server's dataset "
                    f"storage has {max(room, 0) / 2**20:.0f} MB left of its {settings.max_storage_gb:g} GB "
                    "quota; delete datasets or start the server with a larger --max-storage-gb"
                )
            root = extract_zip(
                Path(spooled.name), destination, min(int(settings.max_unzipped_mb * 2**20), max(room, 0))
            )
        try:
            confine_dataset_files(root, (destination.resolve(),))
            summary = inspect_summary(root)
            return store.add_dataset(dataset_id, name, str(root.resolve()), "upload", summary)
        except BaseException:
            shutil.rmtree(destination, ignore_errors=True)
            raise

    return await run_in_threadpool(intake)

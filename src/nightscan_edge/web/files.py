"""Downloads: any file (or folder, zipped on the fly) inside a run folder, never outside it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import HTTPException
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask


def list_files(folder: Path, skip: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Top-level artifacts of a folder: name, size and whether it is a folder (e.g. ``model.mlpackage``)."""
    if not folder.is_dir():
        return []
    entries = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name in skip:
            continue
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
        entries.append({"name": path.name, "size_bytes": size, "folder": path.is_dir()})
    return entries


def download(folder: Path, relative: str) -> FileResponse:
    if "\0" in relative:
        raise HTTPException(400, "file names never hold a NUL byte")
    folder = folder.resolve()
    target = (folder / relative).resolve()
    if not target.is_relative_to(folder) or target == folder or not target.exists():
        raise HTTPException(404, f"no file {relative!r} here")
    if target.is_dir():
        staging = Path(tempfile.mkdtemp(prefix="nightscan-download-"))
        archive = shutil.make_archive(str(staging / target.name), "zip", root_dir=target.parent, base_dir=target.name)
        return FileResponse(
            archive,
            filename=f"{target.name}.zip",
            background=BackgroundTask(shutil.rmtree, staging, ignore_errors=True),
        )
    return FileResponse(target, filename=target.name)

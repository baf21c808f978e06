"""The Search page: the `tune` studies under ``<data dir>/studies/``, their trials as they arrive, the front and
a button that opens the winning run.

Read-only: a study runs in its own ``nightscan-edge tune`` process (``--out <data dir>/studies/NAME``) and
rewrites its Pareto files after every trial; the page polls them. The files are named by ``StudyFolder``, so
the page works without the tune extra installed in the server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from nightscan_edge.study_folder import StudyFolder
from nightscan_edge.web.deps import SettingsDep, StoreDep, TemplatesDep
from nightscan_edge.web.run_records import adopt_folder
from nightscan_edge.web.settings import Settings
from nightscan_edge.web.store import Store

router = APIRouter(tags=["studies"])
STUDIES_DIR = "studies"  # under the data dir: `nightscan-edge tune --out <data dir>/studies/NAME`


def study_folders(settings: Settings) -> list[StudyFolder]:
    root = settings.data_dir / STUDIES_DIR
    if not root.is_dir():
        return []
    folders = (StudyFolder(path) for path in sorted(root.iterdir()) if path.is_dir())
    return [folder for folder in folders if folder.holds_study()]


def _study_or_404(settings: Settings, name: str) -> StudyFolder:
    """Only a name the listing holds (never a path built from the request)."""
    for folder in study_folders(settings):
        if folder.name == name:
            return folder
    raise HTTPException(404, f"unknown study {name!r}; studies live in {STUDIES_DIR}/ under the data folder")


def study_view(store: Store, folder: StudyFolder) -> dict[str, Any]:
    """The study's table, its winner and the run id the winner's button opens (recorded if the server had not)."""
    table = folder.read_table() or {"trials": [], "winner": None}
    trials: list[dict[str, Any]] = list(table.get("trials", []))
    winner = next((row for row in trials if row["trial"] == table.get("winner")), None)
    winner_run = None
    if winner is not None and winner.get("model_dir"):
        winner_run = adopt_folder(store, Path(winner["model_dir"]))
    confirmations: list[dict[str, Any]] = list(table.get("confirmations", []))
    return {
        "name": folder.name,
        "trials": trials,
        # tune --confirm: the winner's macro-F1 on each seed, or None (not confirmed, or none held on every seed)
        "confirmation": table.get("winner_confirmation"),
        "confirmed_candidates": len(confirmations),
        "measured": sum(1 for row in trials if row.get("macro_f1") is not None),
        "winner": winner,
        "winner_run": winner_run,
    }


@router.get("/api/studies")
def api_studies(settings: SettingsDep, store: StoreDep) -> list[dict[str, Any]]:
    return [study_view(store, folder) for folder in study_folders(settings)]


@router.get("/api/studies/{name}")
def api_study(name: str, settings: SettingsDep, store: StoreDep) -> dict[str, Any]:
    return study_view(store, _study_or_404(settings, name))


@router.get("/studies/{name}/pareto.png", include_in_schema=False)
def study_plot(name: str, settings: SettingsDep) -> FileResponse:
    folder = _study_or_404(settings, name)
    if not folder.plot.is_file():
        raise HTTPException(404, f"study {name!r} has no plot yet")
    return FileResponse(folder.plot, media_type="image/png")


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, settings: SettingsDep, store: StoreDep, templates: TemplatesDep) -> HTMLResponse:
    studies = [study_view(store, folder) for folder in study_folders(settings)]
    return templates.TemplateResponse(
        request, "search.html", {"page": "search", "studies": studies, "studies_dir": settings.data_dir / STUDIES_DIR}
    )

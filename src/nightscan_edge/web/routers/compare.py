"""Comparing runs: their curves overlaid and their key figures side by side (registered before ``runs`` so
``/runs/compare`` is not read as a run id)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from nightscan_edge.web.deps import StoreDep, TemplatesDep
from nightscan_edge.web.run_records import compare_view

router = APIRouter(tags=["runs"])


@router.get("/api/runs/compare/figures")
def api_compare(store: StoreDep, ids: str = "") -> list[dict[str, Any]]:
    return compare_view(store, [i for i in ids.split(",") if i])


@router.get("/runs/compare", response_class=HTMLResponse)
def compare_page(
    request: Request, store: StoreDep, templates: TemplatesDep, ids: Annotated[list[str] | None, Query()] = None
) -> HTMLResponse:
    run_ids = [part for value in ids or [] for part in value.split(",") if part]
    return templates.TemplateResponse(
        request,
        "compare.html",
        {"page": "runs", "runs": compare_view(store, run_ids), "all_runs": store.runs(), "chosen": run_ids},
    )

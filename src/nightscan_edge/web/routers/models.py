"""The model catalogue: every registered model with its complexity, as a page and as JSON (rows from
``web.catalogue``, measured once per models-source version)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from nightscan_edge.web.catalogue import cached_catalogue, warm_catalogue_in_background
from nightscan_edge.web.deps import TemplatesDep

__all__ = ["cached_catalogue", "router", "warm_catalogue_in_background"]

router = APIRouter(tags=["models"])


@router.get("/api/models")
def list_models() -> list[dict[str, Any]]:
    return cached_catalogue()


@router.get("/", response_class=HTMLResponse)
def catalogue_page(request: Request, templates: TemplatesDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "catalogue.html", {"models": cached_catalogue(), "page": "models"})

"""The model catalogue: every registered model with its complexity, as a page and as JSON."""
from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from nightscan_edge.web.deps import TemplatesDep

router = APIRouter(tags=["models"])


@lru_cache(maxsize=1)
def cached_catalogue() -> tuple[dict, ...]:
    """Measuring complexity builds every model once; the registry is fixed for the process' lifetime."""
    from nightscan_edge.commands.models import catalogue

    return tuple(catalogue())


@router.get("/api/models")
def list_models() -> list[dict]:
    return list(cached_catalogue())


@router.get("/", response_class=HTMLResponse)
def catalogue_page(request: Request, templates: TemplatesDep):
    return templates.TemplateResponse(request, "catalogue.html", {"models": cached_catalogue(), "page": "models"})

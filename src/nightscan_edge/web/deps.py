"""Request dependencies as annotated aliases (``store: StoreDep``), all read from ``app.state``, and the small
helpers several routers share (a run or a 404, the export formats offered)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates

from nightscan_edge.artifact import FORMATS
from nightscan_edge.web.jobs import JobRunner
from nightscan_edge.web.settings import Settings
from nightscan_edge.web.store import Store


# app.state is untyped (Any): each getter names what create_app stored there.
def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _runner(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.runner
    return runner


def _templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


SettingsDep = Annotated[Settings, Depends(_settings)]
StoreDep = Annotated[Store, Depends(_store)]
RunnerDep = Annotated[JobRunner, Depends(_runner)]
TemplatesDep = Annotated[Jinja2Templates, Depends(_templates)]


def get_run_or_404(store: Store, run_id: str) -> dict[str, Any]:
    run = store.run(run_id)
    if run is None:
        raise HTTPException(404, f"unknown run {run_id!r}")
    return run


def export_format_choices() -> tuple[str, ...]:
    """The format table's names (``nightscan_edge.artifact``, importable without the export extra)."""
    return tuple(FORMATS)

"""Request dependencies as annotated aliases (``store: StoreDep``), all read from ``app.state``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from nightscan_edge.web.jobs import JobRunner
from nightscan_edge.web.settings import Settings
from nightscan_edge.web.store import Store


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _store(request: Request) -> Store:
    return request.app.state.store


def _runner(request: Request) -> JobRunner:
    return request.app.state.runner


def _templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


SettingsDep = Annotated[Settings, Depends(_settings)]
StoreDep = Annotated[Store, Depends(_store)]
RunnerDep = Annotated[JobRunner, Depends(_runner)]
TemplatesDep = Annotated[Jinja2Templates, Depends(_templates)]

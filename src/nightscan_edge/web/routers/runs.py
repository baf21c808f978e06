"""Training runs: new-run form, history, live page, cancel/resume, report and downloads."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field

from nightscan_edge.config import resolve_config
from nightscan_edge.models import MODELS
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.web.catalogue import cached_catalogue
from nightscan_edge.web.dataset_intake import confine_dataset_files, dataset_file_roots
from nightscan_edge.web.deps import (
    RunnerDep,
    SettingsDep,
    StoreDep,
    TemplatesDep,
    export_format_choices,
    get_run_or_404,
)
from nightscan_edge.web.events import EVENTS_FILE
from nightscan_edge.web.files import download
from nightscan_edge.web.forms import (
    RunConfigError,
    form_fields,
    form_model_order,
    parse_form,
    preset_values,
    validate_run_config,
)
from nightscan_edge.web.jobs import RESUMABLE, WORKER_LOG, JobError, JobRunner
from nightscan_edge.web.recipes import recipes_for
from nightscan_edge.web.request_paths import confine_request_paths
from nightscan_edge.web.run_records import adopt_cli_runs, read_report, run_view
from nightscan_edge.web.settings import Settings
from nightscan_edge.web.store import Store
from nightscan_edge.web.uploads import UploadError
from nightscan_edge.web.worker_probe import log_tail, read_status

router = APIRouter(tags=["runs"])


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field (say an output path) is refused, not ignored

    model: str
    dataset_id: str
    config: dict[str, Any] = Field(default_factory=dict, description="partial config, e.g. {'train': {'epochs': 2}}")
    overrides: list[str] = Field(default_factory=list, description="CLI-style section.key=value strings")


def create_run(
    store: Store, settings: Settings, model: str, dataset_id: str, values: dict[str, Any], overrides: list[str]
) -> dict[str, Any]:
    dataset = store.dataset(dataset_id)
    if dataset is None:
        raise RunConfigError(
            f"unknown dataset {dataset_id!r}; register it on the datasets page first", {"dataset": "unknown dataset"}
        )
    model_kind = model_input_kind(model)
    data_kind = dataset["summary"].get("kind")
    if model_kind and data_kind and model_kind != data_kind:
        wanted, held = KIND_WORDS.get(model_kind, model_kind), KIND_WORDS.get(data_kind, data_kind)
        message = (
            f"{model} takes {wanted} but dataset {dataset['name']!r} holds {held}; "
            f"pick a model for {held} or another dataset"
        )
        raise RunConfigError(message, {"dataset": message})
    config, worker_overrides = validate_run_config(model, dataset["path"], values, overrides)
    confine_request_paths(config, settings.data_dir, settings.runs_dir, settings.roots)
    try:
        confine_dataset_files(Path(dataset["path"]), dataset_file_roots(settings, dataset))
    except UploadError as error:
        raise RunConfigError(str(error), {"dataset": str(error)}) from None
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{model}-{secrets.token_hex(2)}"
    run_dir = settings.runs_dir / run_id
    return store.add_run(run_id, model, dataset_id, dataset["path"], worker_overrides, str(run_dir))


KIND_WORDS = {"audio": "recordings", "image": "photos"}


def model_input_kind(model: str) -> str | None:
    """``audio`` or ``image`` from the model registry (None for an unknown name; validation says why)."""
    return MODELS.get(model).input_kind if model in MODELS else None


@router.get("/api/runs")
def api_list_runs(store: StoreDep, settings: SettingsDep) -> list[dict[str, Any]]:
    adopt_cli_runs(store, settings)
    return store.runs()


@router.post("/api/runs", status_code=201)
def api_create_run(body: RunRequest, store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    try:
        return create_run(store, settings, body.model, body.dataset_id, body.config, body.overrides)
    except RunConfigError as error:
        raise HTTPException(422, {"message": str(error), "fields": error.fields}) from None


@router.get("/api/runs/{run_id}")
def api_get_run(run_id: str, store: StoreDep) -> dict[str, Any]:
    return run_view(store, get_run_or_404(store, run_id))


@router.get("/api/runs/{run_id}/report")
def api_report(run_id: str, store: StoreDep) -> dict[str, Any]:
    report = read_report(get_run_or_404(store, run_id))
    if report is None:
        raise HTTPException(404, f"run {run_id} has no report yet: not one epoch has finished")
    return report


@router.get("/api/runs/{run_id}/log")
def api_log(run_id: str, store: StoreDep, lines: int = 50) -> dict[str, Any]:
    run = get_run_or_404(store, run_id)
    return {"lines": log_tail(Path(run["run_dir"]) / WORKER_LOG, lines=min(max(lines, 1), 500)).splitlines()}


def _transition(store: Store, runner: JobRunner, run_id: str, action: str) -> dict[str, Any]:
    get_run_or_404(store, run_id)
    try:
        if action == "cancel":
            runner.cancel("runs", run_id)
        else:
            runner.resume(run_id)
    except JobError as error:
        raise HTTPException(409, str(error)) from None
    return get_run_or_404(store, run_id)


@router.post("/api/runs/{run_id}/cancel")
def api_cancel(run_id: str, store: StoreDep, runner: RunnerDep) -> dict[str, Any]:
    return _transition(store, runner, run_id, "cancel")


@router.post("/api/runs/{run_id}/resume")
def api_resume(run_id: str, store: StoreDep, runner: RunnerDep) -> dict[str, Any]:
    return _transition(store, runner, run_id, "resume")


@router.get("/runs/{run_id}/files/{relative:path}")
def run_file(run_id: str, relative: str, store: StoreDep) -> FileResponse:
    return download(Path(get_run_or_404(store, run_id)["run_dir"]), relative)


# pages
@router.get("/runs", response_class=HTMLResponse)
def history_page(request: Request, store: StoreDep, settings: SettingsDep, templates: TemplatesDep) -> HTMLResponse:
    adopt_cli_runs(store, settings)
    runs = store.runs()
    datasets = {d["id"]: d for d in store.datasets()}
    for run in runs:
        status = read_status(Path(run["run_dir"]))
        run["best_val_acc"] = status.get("best_val_acc")
        run["dataset_name"] = datasets.get(run["dataset_id"], {}).get("name", run["data_path"])
        run["from_cli"] = run["dataset_id"] is None
        run["resumable"] = run["status"] in RESUMABLE and RunFolder(run["run_dir"]).last_checkpoint.is_file()
    return templates.TemplateResponse(request, "runs.html", {"page": "runs", "runs": runs})


def _new_run_page(
    request: Request,
    templates: Jinja2Templates,
    store: Store,
    model: str | None,
    dataset_id: str | None,
    values: dict[str, Any] | None = None,
    errors: dict[str, Any] | None = None,
    message: str | None = None,
    status_code: int = 200,
    recipe: str | None = None,
) -> HTMLResponse:
    catalogue = form_model_order(cached_catalogue())
    names = [m["name"] for m in catalogue]
    if (
        model is None or model not in names
    ):  # "Train on this" from a dataset: the first model that reads that kind of data
        chosen = store.dataset(dataset_id) if dataset_id else None
        data_kind = chosen["summary"].get("kind") if chosen else None
        # the first that trains without an optional extra (a pretrained family is one choice away)
        model = next(
            (m["name"] for m in catalogue if m["input_kind"] == data_kind and MODELS.get(m["name"]).pretrained is None),
            names[0],
        )
    kind = next(m["input_kind"] for m in catalogue if m["name"] == model)
    preset = preset_values(model)
    recipes = recipes_for(model)
    chosen_recipe = next((r for r in recipes if r.name == recipe), None)
    if values is not None:
        shown = values
    elif chosen_recipe is not None:  # the preset with the recipe on top: the preset diff shows what it changes
        shown = resolve_config(chosen_recipe.values, {"model": {"name": model}}).model_dump(mode="json")
    else:
        shown = preset
    datasets = store.datasets()
    usable = [d for d in datasets if d["summary"].get("kind") == kind]
    return templates.TemplateResponse(
        request,
        "new_run.html",
        {
            "page": "new",
            "models": catalogue,
            "model": model,
            "datasets": usable,
            "other_kind_datasets": len(datasets) - len(usable),
            "kind": kind,
            "kind_words": KIND_WORDS,
            "dataset_id": dataset_id,
            "fields": form_fields(shown, kind, preset=preset, training_only=True),
            "recipes": recipes,
            "recipe": chosen_recipe.name if chosen_recipe else "",
            "errors": errors or {},
            "message": message,
        },
        status_code=status_code,
    )


@router.get("/runs/new", response_class=HTMLResponse)
def new_run_page(
    request: Request,
    store: StoreDep,
    templates: TemplatesDep,
    model: str | None = None,
    dataset: str | None = None,
    recipe: str | None = None,
) -> HTMLResponse:
    return _new_run_page(request, templates, store, model, dataset, recipe=recipe)


def _form_values_for_display(form: dict[str, list[str]]) -> dict[str, Any]:
    """Re-show exactly what the user typed (even invalid text) next to its error."""
    shown: dict[str, Any] = {}
    for name, values in form.items():
        if "." not in name:
            continue
        node = shown
        parts = name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        raw = values[-1]
        node[parts[-1]] = raw.lower() in ("true", "on", "1") if values[0] == "false" else raw
    return shown


@router.post("/runs/new", response_class=HTMLResponse)
async def new_run_submit(request: Request, store: StoreDep, settings: SettingsDep, templates: TemplatesDep) -> Response:
    raw_form = await request.form()
    # The run form has no file field: an uploaded file under any name is not a setting and is left out.
    form = {key: [value for value in raw_form.getlist(key) if isinstance(value, str)] for key in raw_form.keys()}

    model = (form.get("model") or [""])[-1]
    dataset_id = (form.get("dataset") or [""])[-1]
    values, errors = parse_form(form)
    try:
        if errors:
            raise RunConfigError("; ".join(f"{k}: {v}" for k, v in errors.items()), errors)
        run = await run_in_threadpool(create_run, store, settings, model, dataset_id, values, [])
    except RunConfigError as error:
        shown = _form_values_for_display(form)
        recipe = (form.get("recipe") or [""])[-1] or None
        return _new_run_page(
            request, templates, store, model, dataset_id, shown, error.fields, str(error), 422, recipe=recipe
        )
    return RedirectResponse(f"/runs/{run['id']}", status_code=303)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: str, request: Request, store: StoreDep, templates: TemplatesDep) -> HTMLResponse:
    run = run_view(store, get_run_or_404(store, run_id))
    return templates.TemplateResponse(
        request,
        "run.html",
        {
            "page": "runs",
            "run": run,
            "report": read_report(run),
            "formats": export_format_choices(),
            "has_events": (Path(run["run_dir"]) / EVENTS_FILE).is_file(),
        },
    )


@router.post("/runs/{run_id}/cancel")
def cancel_form(run_id: str, store: StoreDep, runner: RunnerDep) -> RedirectResponse:
    _transition(store, runner, run_id, "cancel")
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.post("/runs/{run_id}/resume")
def resume_form(run_id: str, store: StoreDep, runner: RunnerDep) -> RedirectResponse:
    _transition(store, runner, run_id, "resume")
    return RedirectResponse(f"/runs/{run_id}", status_code=303)

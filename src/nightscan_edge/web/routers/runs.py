"""Training runs: new-run form, history, live page, cancel/resume, report and downloads."""

from __future__ import annotations

import csv
import json
import secrets
import time
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from nightscan_edge.web.deps import RunnerDep, SettingsDep, StoreDep, TemplatesDep
from nightscan_edge.web.events import EVENTS_FILE
from nightscan_edge.web.files import download, list_files
from nightscan_edge.web.forms import (
    RunConfigError,
    confine_request_paths,
    form_fields,
    parse_form,
    preset_values,
    validate_run_config,
)
from nightscan_edge.web.jobs import WORKER_LOG, JobError, log_tail, read_status
from nightscan_edge.web.routers.datasets import confine_dataset_files, dataset_file_roots
from nightscan_edge.web.settings import Settings
from nightscan_edge.web.store import Store
from nightscan_edge.web.uploads import UploadError

router = APIRouter(tags=["runs"])


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field (say an output path) is refused, not ignored

    model: str
    dataset_id: str
    config: dict = Field(default_factory=dict, description="partial config, e.g. {'train': {'epochs': 2}}")
    overrides: list[str] = Field(default_factory=list, description="CLI-style section.key=value strings")


def get_run_or_404(store: Store, run_id: str) -> dict:
    run = store.run(run_id)
    if run is None:
        raise HTTPException(404, f"unknown run {run_id!r}")
    return run


def create_run(
    store: Store, settings: Settings, model: str, dataset_id: str, values: dict, overrides: list[str]
) -> dict:
    dataset = store.dataset(dataset_id)
    if dataset is None:
        raise RunConfigError(
            f"unknown dataset {dataset_id!r}; register it on the datasets page first", {"dataset": "unknown dataset"}
        )
    config, worker_overrides = validate_run_config(model, dataset["path"], values, overrides)
    confine_request_paths(config, settings.data_dir, settings.runs_dir, settings.roots)
    try:
        confine_dataset_files(Path(dataset["path"]), dataset_file_roots(settings, dataset))
    except UploadError as error:
        raise RunConfigError(str(error), {"dataset": str(error)}) from None
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{model}-{secrets.token_hex(2)}"
    run_dir = settings.runs_dir / run_id
    return store.add_run(run_id, model, dataset_id, dataset["path"], worker_overrides, str(run_dir))


def read_report(run: dict) -> dict | None:
    """``report.json`` when training finished; for a cancelled, failed or interrupted run, what its finished
    epochs show (``complete: false``, from metrics.csv and status.json); None when not one epoch finished."""
    run_dir = Path(run["run_dir"])
    try:
        return {**json.loads((run_dir / "report.json").read_text()), "complete": True}
    except (FileNotFoundError, json.JSONDecodeError):
        pass
    epochs = read_metrics(run_dir)
    if not epochs:
        return None
    best = max(epochs, key=lambda row: row["val_acc"])
    return {
        "complete": False,
        "status": run["status"],
        "epochs_completed": len(epochs),
        "best_epoch": int(best["epoch"]),
        "best_val_acc": best["val_acc"],
        "last_epoch": epochs[-1],
        "labels": read_status(run_dir).get("labels"),
        "note": f"the run is {run['status']}: figures from its {len(epochs)} finished epoch(s); the per-class "
        "report and confusion matrix are written when training ends",
    }


def read_metrics(run_dir: Path) -> list[dict]:
    """metrics.csv rows as numbers (epochs counted from 1); [] when absent."""
    try:
        with open(Path(run_dir) / "metrics.csv", newline="") as handle:
            return [
                {key: float(value) if key != "epoch" else int(value) for key, value in row.items() if value != ""}
                for row in csv.DictReader(handle)
            ]
    except FileNotFoundError:
        return []


def run_view(store: Store, run: dict) -> dict:
    run_dir = Path(run["run_dir"])
    return {
        **run,
        "worker_status": read_status(run_dir),
        "files": list_files(run_dir, skip=("exports", "bench")),
        "exports": store.exports(run_id=run["id"]),
        "resumable": run["status"] in ("interrupted", "cancelled", "failed") and (run_dir / "last.ckpt").is_file(),
        "dataset": store.dataset(run["dataset_id"]) if run["dataset_id"] else None,
    }


# JSON API
@router.get("/api/runs")
def api_list_runs(store: StoreDep) -> list[dict]:
    return store.runs()


@router.post("/api/runs", status_code=201)
def api_create_run(body: RunRequest, store: StoreDep, settings: SettingsDep) -> dict:
    try:
        return create_run(store, settings, body.model, body.dataset_id, body.config, body.overrides)
    except RunConfigError as error:
        raise HTTPException(422, {"message": str(error), "fields": error.fields}) from None


@router.get("/api/runs/{run_id}")
def api_get_run(run_id: str, store: StoreDep) -> dict:
    return run_view(store, get_run_or_404(store, run_id))


@router.get("/api/runs/{run_id}/report")
def api_report(run_id: str, store: StoreDep) -> dict:
    report = read_report(get_run_or_404(store, run_id))
    if report is None:
        raise HTTPException(404, f"run {run_id} has no report yet: not one epoch has finished")
    return report


@router.get("/api/runs/{run_id}/log")
def api_log(run_id: str, store: StoreDep, lines: int = 50) -> dict:
    run = get_run_or_404(store, run_id)
    return {"lines": log_tail(Path(run["run_dir"]) / WORKER_LOG, lines=min(max(lines, 1), 500)).splitlines()}


def _transition(store: Store, runner, run_id: str, action: str) -> dict:
    get_run_or_404(store, run_id)
    try:
        if action == "cancel":
            runner.cancel("runs", run_id)
        else:
            runner.resume(run_id)
    except JobError as error:
        raise HTTPException(409, str(error)) from None
    return store.run(run_id)


@router.post("/api/runs/{run_id}/cancel")
def api_cancel(run_id: str, store: StoreDep, runner: RunnerDep) -> dict:
    return _transition(store, runner, run_id, "cancel")


@router.post("/api/runs/{run_id}/resume")
def api_resume(run_id: str, store: StoreDep, runner: RunnerDep) -> dict:
    return _transition(store, runner, run_id, "resume")


@router.get("/runs/{run_id}/files/{relative:path}")
def run_file(run_id: str, relative: str, store: StoreDep):
    return download(Path(get_run_or_404(store, run_id)["run_dir"]), relative)


# pages
@router.get("/runs", response_class=HTMLResponse)
def history_page(request: Request, store: StoreDep, templates: TemplatesDep):
    runs = store.runs()
    datasets = {d["id"]: d for d in store.datasets()}
    for run in runs:
        status = read_status(Path(run["run_dir"]))
        run["best_val_acc"] = status.get("best_val_acc")
        run["dataset_name"] = datasets.get(run["dataset_id"], {}).get("name", run["data_path"])
        run["resumable"] = (
            run["status"] in ("interrupted", "cancelled", "failed") and (Path(run["run_dir"]) / "last.ckpt").is_file()
        )
    return templates.TemplateResponse(request, "runs.html", {"page": "runs", "runs": runs})


def _new_run_page(
    request: Request,
    templates,
    store: Store,
    model: str | None,
    dataset_id: str | None,
    values: dict | None = None,
    errors: dict | None = None,
    message: str | None = None,
    status_code: int = 200,
):
    from nightscan_edge.web.routers.models import cached_catalogue

    catalogue = cached_catalogue()
    names = [m["name"] for m in catalogue]
    model = model if model in names else names[0]
    kind = next(m["input_kind"] for m in catalogue if m["name"] == model)
    preset = preset_values(model)
    shown = preset if values is None else values
    return templates.TemplateResponse(
        request,
        "new_run.html",
        {
            "page": "new",
            "models": catalogue,
            "model": model,
            "datasets": store.datasets(),
            "dataset_id": dataset_id,
            "fields": form_fields(shown, kind),
            "errors": errors or {},
            "message": message,
        },
        status_code=status_code,
    )


@router.get("/runs/new", response_class=HTMLResponse)
def new_run_page(
    request: Request, store: StoreDep, templates: TemplatesDep, model: str | None = None, dataset: str | None = None
):
    return _new_run_page(request, templates, store, model, dataset)


def _form_values_for_display(form: dict[str, list[str]]) -> dict:
    """Re-show exactly what the user typed (even invalid text) next to its error."""
    shown: dict = {}
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
async def new_run_submit(request: Request, store: StoreDep, settings: SettingsDep, templates: TemplatesDep):
    raw_form = await request.form()
    form = {key: raw_form.getlist(key) for key in raw_form.keys()}
    model = (form.get("model") or [""])[-1]
    dataset_id = (form.get("dataset") or [""])[-1]
    values, errors = parse_form(form)
    try:
        if errors:
            raise RunConfigError("; ".join(f"{k}: {v}" for k, v in errors.items()), errors)
        run = await run_in_threadpool(create_run, store, settings, model, dataset_id, values, [])
    except RunConfigError as error:
        shown = _form_values_for_display(form)
        return _new_run_page(request, templates, store, model, dataset_id, shown, error.fields, str(error), 422)
    return RedirectResponse(f"/runs/{run['id']}", status_code=303)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: str, request: Request, store: StoreDep, templates: TemplatesDep):
    from nightscan_edge.web.routers.exports import export_format_choices

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
def cancel_form(run_id: str, store: StoreDep, runner: RunnerDep):
    _transition(store, runner, run_id, "cancel")
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.post("/runs/{run_id}/resume")
def resume_form(run_id: str, store: StoreDep, runner: RunnerDep):
    _transition(store, runner, run_id, "resume")
    return RedirectResponse(f"/runs/{run_id}", status_code=303)

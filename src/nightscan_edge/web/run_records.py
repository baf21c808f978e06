"""What the web shows of a run folder: its report (or the figures of its finished epochs), its curves, the
page view, runs trained from the command line into the data dir, and the comparison of runs.

The routers stay thin: they call these, and these read the run folder through ``RunFolder``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nightscan_edge.config_layers import ConfigError
from nightscan_edge.objective import MULTILABEL_REPORT_KEY, multilabel_report
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.web.deps import get_run_or_404
from nightscan_edge.web.files import list_files
from nightscan_edge.web.jobs import RESUMABLE
from nightscan_edge.web.settings import Settings
from nightscan_edge.web.store import Store
from nightscan_edge.web.worker_probe import read_status


def read_report(run: dict[str, Any]) -> dict[str, Any] | None:
    """``report.json`` when training finished; for a cancelled, failed or interrupted run, what its finished
    epochs show (``complete: false``, from metrics.csv and status.json); None when not one epoch finished."""
    run_dir = Path(run["run_dir"])
    report = RunFolder(run_dir).read_report()
    if report is not None:
        return {**_checked_multilabel(report), "complete": True}
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


def _checked_multilabel(report: dict[str, Any]) -> dict[str, Any]:
    """A multi-label run's ``multilabel`` section (per-class AP/F1/thresholds and PR curves, docs/multilabel.md),
    read through its one type; a section that does not fit is dropped with a warning rather than break the page."""
    if MULTILABEL_REPORT_KEY not in report:
        return report
    try:
        section = multilabel_report(report)
    except ValidationError as error:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:2])
        warnings = [*report.get("warnings", []), f"report.json's multilabel section is unreadable ({problem})"]
        return {key: value for key, value in report.items() if key != MULTILABEL_REPORT_KEY} | {"warnings": warnings}
    return {**report, MULTILABEL_REPORT_KEY: section.model_dump(mode="json") if section else None}


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """metrics.csv rows as numbers (epochs counted from 1); [] when absent."""
    try:
        with RunFolder(run_dir).metrics.open(newline="") as handle:
            return [
                {key: float(value) if key != "epoch" else int(value) for key, value in row.items() if value != ""}
                for row in csv.DictReader(handle)
            ]
    except FileNotFoundError:
        return []


def run_view(store: Store, run: dict[str, Any]) -> dict[str, Any]:
    run_dir = Path(run["run_dir"])
    return {
        **run,
        "worker_status": read_status(run_dir),
        # exports and benchmarks have their own sections; run.lock only says a worker holds the folder
        "files": list_files(run_dir, skip=(RunFolder.EXPORTS, "bench", RunFolder.LOCK)),
        "exports": store.exports(run_id=run["id"]),
        "resumable": run["status"] in RESUMABLE and RunFolder(run_dir).last_checkpoint.is_file(),
        "dataset": store.dataset(run["dataset_id"]) if run["dataset_id"] else None,
    }


# JSON API


# runs trained from the command line into the data dir, and comparing runs
ADOPT_SKIP = ("datasets", "cache")
ADOPT_DEPTH = 3


def _run_folders(data_dir: Path) -> Iterator[Path]:
    """Folders under the data dir (at most ``ADOPT_DEPTH`` deep, uploads and caches skipped) holding a run."""
    stack = [(data_dir, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            continue
        for child in children:
            if depth == 0 and child.name in ADOPT_SKIP:
                continue
            run = RunFolder(child)
            if run.config.is_file() and (run.events.is_file() or run.status_file.is_file()):
                yield child
            elif depth + 1 < ADOPT_DEPTH:
                stack.append((child, depth + 1))


def adopt_cli_runs(store: Store, settings: Settings) -> list[str]:
    """Record finished runs found under the data dir that the server did not start (``nightscan-edge train
    --run-dir <data dir>/runs/...``), so they appear in the history; returns the ids added. A run still
    training is left alone until its status.json says it ended."""
    adopted = []
    for folder in _run_folders(settings.data_dir.resolve()):
        if store.run_by_dir(str(folder)) is not None:
            continue
        run_id = adopt_folder(store, folder)
        if run_id is not None:
            adopted.append(run_id)
    return adopted


def adopt_folder(store: Store, folder: Path) -> str | None:
    """The run id of a finished run folder made outside the server (recorded now if it was not); None while it
    still trains or when it is not a readable run folder."""
    known = store.run_by_dir(str(folder))
    if known is not None:
        return str(known["id"])
    status = read_status(folder)
    if status.get("status") not in ("done", "failed", "cancelled"):
        return None
    run = RunFolder(folder)
    try:
        config = run.read_config()
    except (ConfigError, OSError):
        return None
    run_id = folder.name if store.run(folder.name) is None else f"cli-{folder.name}"
    if store.run(run_id) is not None:
        return None
    made = run.config.stat().st_mtime
    ended = run.status_file.stat().st_mtime if run.status_file.is_file() else made
    store.adopt_run(run_id, config.model.name, str(config.data.path or ""), str(folder), status["status"], made, ended)
    return run_id


def compare_view(store: Store, run_ids: list[str]) -> list[dict[str, Any]]:
    """Per run: its curves (metrics.csv, epochs from 1) and key figures, for the compare page."""
    views = []
    for run_id in run_ids:
        run = get_run_or_404(store, run_id)
        report = read_report(run) or {}
        curves = read_metrics(Path(run["run_dir"]))
        dataset = store.dataset(run["dataset_id"]) if run["dataset_id"] else None
        views.append(
            {
                "id": run["id"],
                "model": run["model"],
                "dataset": dataset["name"] if dataset else run["data_path"],
                "status": run["status"],
                "epochs": len(curves),
                "best_val_acc": max((row["val_acc"] for row in curves), default=None),
                "best_epoch": max(curves, key=lambda row: row["val_acc"])["epoch"] if curves else None,
                "accuracy": report.get("accuracy") if report.get("complete") else None,
                "macro_f1": report.get("macro_f1") if report.get("complete") else None,
                "val_clips": (report.get("val") or {}).get("samples"),
                "seconds": sum(row.get("seconds", 0.0) for row in curves),
                "warnings": report.get("warnings", []),
                "curves": curves,
            }
        )
    return views

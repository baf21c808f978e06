"""How a training run ends on disk: its headline figures, and the events and status of done, cancelled or failed.

Owns ``Run`` (what ``train`` returns), the final report step (``finish``), the records written when a run is
cancelled or fails, and ``record_finished`` for a resume that finds the report already written. Kept apart
from ``engine`` so the training steps read top to bottom there and every way out of a run is in one place.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L

from nightscan_edge.config import Config
from nightscan_edge.data.prepare import PreparedData
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.train.callbacks import RunRecorder
from nightscan_edge.train.events import EventLog, RunEnd, write_status
from nightscan_edge.train.final_report import final_report
from nightscan_edge.train.module import ClassifierModule


@dataclass
class Run:
    """A finished (or stopped) run: where it lives, its best checkpoint and its headline figures."""

    run_dir: Path
    run_id: str
    status: str
    best_checkpoint: Path | None
    metrics: dict[str, Any] = field(default_factory=dict)


def record_finished(folder: RunFolder) -> Run:
    """The writer was killed between ``report.json`` and the final status: every epoch and the report are on
    disk, so the resume records the end (event and status) from them instead of training again."""
    report = folder.read_report() or {}
    rows = [r for r in metric_rows(folder) if r.get("val_acc")]
    best = max(rows, key=lambda r: float(r["val_acc"])) if rows else None
    best_val_acc = float(best["val_acc"]) if best else None
    best_epoch = int(best["epoch"]) if best else report.get("best_epoch")
    val = report.get("val", {})
    run_id = str(report.get("run_id") or folder.path.name)
    EventLog(folder.events).write(RunEnd("done", best_val_acc, best_epoch))
    write_status(folder.path, "done", run_id=run_id, model=report.get("model"), epoch=len(rows), epochs=len(rows),
                 best_val_acc=best_val_acc, best_epoch=best_epoch, val_acc=val.get("accuracy"),
                 val_macro_f1=val.get("macro_f1"))  # fmt: skip
    metrics = {"best_val_acc": best_val_acc, "best_epoch": best_epoch, "val_acc": val.get("accuracy"),
               "val_macro_f1": val.get("macro_f1"), "seconds": 0.0}  # fmt: skip
    return Run(folder.path, run_id, "done", folder.best_checkpoint, metrics)


def metric_rows(folder: RunFolder) -> list[dict[str, str]]:
    if not folder.metrics.is_file():
        return []
    with folder.metrics.open(newline="") as handle:
        return list(csv.DictReader(handle))


def finish(
    folder: RunFolder,
    module: ClassifierModule,
    prepared: PreparedData,
    config: Config,
    recorder: RunRecorder,
    trainer: L.Trainer,
    seconds: float,
) -> dict[str, Any]:
    """Write the final report and return the run's headline figures."""
    report = final_report(folder, module, prepared, config, recorder)
    metrics = {
        "best_val_acc": recorder.best_val_acc,
        "best_epoch": recorder.best_epoch,
        "val_acc": report["val"]["accuracy"],
        "val_macro_f1": report["val"]["macro_f1"],
        "epochs_run": trainer.current_epoch,
        "seconds": seconds,
        "per_class": report["val"]["per_class"],
        "warnings": report["warnings"],
    }
    if "test" in report:
        metrics["test_acc"] = report["test"]["accuracy"]
    return metrics


def record_cancel(
    folder: RunFolder,
    events: EventLog,
    recorder: RunRecorder | None,
    run_id: str,
    config: Config,
    signal_number: int | None,
) -> None:
    best = recorder.best_val_acc if recorder else None
    events.write(RunEnd("cancelled", best, recorder.best_epoch if recorder else None))
    last = folder.last_checkpoint
    write_status(
        folder.path,
        "cancelled",
        run_id=run_id,
        model=config.model.name,
        signal=signal_number,
        best_val_acc=best,
        resume_from=str(last) if last.exists() else None,
    )


def record_failure(
    folder: RunFolder,
    events: EventLog,
    recorder: RunRecorder | None,
    run_id: str,
    config: Config,
    error: BaseException,
) -> None:
    message = str(error).strip() or type(error).__name__
    best_epoch = recorder.best_epoch if recorder else None
    events.write(RunEnd("failed", recorder.best_val_acc if recorder else None, best_epoch, error=message))
    write_status(folder.path, "failed", run_id=run_id, model=config.model.name, error=message)

"""Callbacks that turn Lightning's hooks into the run folder's records, and a graceful stop on SIGINT/SIGTERM.

``RunRecorder`` receives Lightning hooks and emits typed events (``events.jsonl``), one ``metrics.csv`` row
per epoch and ``status.json``. Epochs are numbered from 1 in every record it writes (events, metrics.csv,
status.json, report.json), as people count them; Lightning's ``current_epoch`` is zero-based, so the
conversion happens here and nowhere else. ``StopRequest`` turns a signal into a clean stop at the next batch
boundary, so a checkpoint is never cut half-way.
"""

from __future__ import annotations

import csv
import math
import signal
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L

from nightscan_edge.atomic import open_text_atomic
from nightscan_edge.errors import TrainingCancelled
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.train.events import BatchEnd, EpochEnd, EventLog, RunStart, write_status

# TrainingCancelled lives with the other error roots; imported from here by older callers.
__all__ = ["RunRecorder", "StopOnSignal", "StopRequest", "TrainingCancelled"]

BATCH_EVENT_SECONDS = 0.5  # at most two batch_end events a second
METRIC_COLUMNS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "val_macro_f1",
    "val_map",  # multi-label runs only (empty otherwise)
    "lr",
    "seconds",
)


def human_epoch(trainer: L.Trainer) -> int:
    """The epoch being run (or just finished), counted from 1."""
    return int(trainer.current_epoch) + 1


class StopRequest:
    """Installs SIGINT/SIGTERM handlers that record the request; a second signal stops immediately."""

    def __init__(self) -> None:
        self.signal_number: int | None = None
        self._previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}

    def _handle(self, signal_number: int, frame: FrameType | None) -> None:
        if self.signal_number is not None:
            raise TrainingCancelled(signal_number)
        self.signal_number = signal_number

    def __enter__(self) -> StopRequest:
        for number in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[number] = signal.signal(number, self._handle)
            except ValueError:  # not the main thread (e.g. inside a test runner thread): no handlers
                break
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def check(self) -> None:
        if self.signal_number is not None:
            raise TrainingCancelled(self.signal_number)


class StopOnSignal(L.Callback):
    def __init__(self, request: StopRequest) -> None:
        self.request = request

    def on_train_batch_end(self, *args: Any) -> None:
        self.request.check()

    def on_validation_batch_end(self, *args: Any) -> None:
        self.request.check()


class RunRecorder(L.Callback):
    def __init__(
        self,
        run_dir: Path,
        events: EventLog,
        run_id: str,
        model_name: str,
        labels: list[str],
        epochs: int,
        resumed_from_epoch: int | None = None,
        progress_every_s: float = 0.0,
        monitor: str = "val_acc",
    ) -> None:
        self.run_dir = Path(run_dir)
        self.events = events
        self.run_id, self.model_name, self.labels, self.epochs = run_id, model_name, labels, epochs
        self.resumed_from_epoch = resumed_from_epoch
        self.progress_every_s = progress_every_s
        # the figure best.ckpt follows (val_acc, or val_map for a multi-label run): best_epoch is that checkpoint's
        # epoch; best_val_acc is the validation accuracy of that epoch
        self.monitor = monitor
        self._best_score: float | None = None
        self.best_val_acc: float | None = None
        self.best_epoch: int | None = None
        self._epoch_started = self._batch_started = 0.0

    def status(self, status: str, trainer: L.Trainer | None = None, **fields: Any) -> None:
        epoch = human_epoch(trainer) if trainer is not None else None
        write_status(
            self.run_dir,
            status,
            run_id=self.run_id,
            model=self.model_name,
            epoch=epoch,
            epochs=self.epochs,
            best_val_acc=self.best_val_acc,
            best_epoch=self.best_epoch,
            **fields,
        )

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        metrics = RunFolder(self.run_dir).metrics
        start_epoch = trainer.current_epoch
        rows = _read_metrics(metrics)
        kept = [row for row in rows if int(row["epoch"]) <= start_epoch]  # one-based rows of finished epochs
        with open_text_atomic(metrics) as handle:  # a resumed run rewrites the epochs it will redo (atomically)
            writer = csv.DictWriter(handle, fieldnames=METRIC_COLUMNS)
            writer.writeheader()
            writer.writerows(kept)
        for row in kept:
            self._track_best(int(row["epoch"]), {k: float(v) for k, v in row.items() if k != "epoch" and v != ""})
        self.events.write(
            RunStart(
                self.run_id,
                self.model_name,
                self.labels,
                self.epochs,
                int(trainer.num_training_batches),
                self.resumed_from_epoch,
            )
        )
        self.status("running", trainer)

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._epoch_started = self._batch_started = time.perf_counter()
        self._samples_since = 0

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """A ``batch_end`` event at most every ``BATCH_EVENT_SECONDS`` (and for the last batch): reading the loss
        waits for the device, and on a GPU a wait per step would cost more than the step itself."""
        if not trainer.is_global_zero:
            return
        labels = batch["y"] if isinstance(batch, dict) else batch[1]
        self._samples_since += int(labels.shape[0]) * trainer.world_size
        now = time.perf_counter()
        last = batch_idx + 1 >= int(trainer.num_training_batches)
        if now - self._batch_started < BATCH_EVENT_SECONDS and not last:
            return
        loss = float(outputs["loss"] if isinstance(outputs, dict) else outputs)
        if not math.isfinite(loss):  # diverged: the module stops the run with its one line; no NaN in the events
            check = getattr(module, "check_training_loss", None)
            if check is not None:
                check()
            return
        self.events.write(
            BatchEnd(
                human_epoch(trainer),
                batch_idx + 1,
                int(trainer.num_training_batches),
                loss,
                self._samples_since / max(now - self._batch_started, 1e-9),
            )
        )
        self._batch_started, self._samples_since = now, 0

    def _track_best(self, epoch: int, stats: dict[str, float]) -> None:
        score = stats[self.monitor]
        if self._best_score is None or score > self._best_score:
            self._best_score, self.best_val_acc, self.best_epoch = score, stats["val_acc"], epoch

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        stats = getattr(module, "last_epoch", {})
        if not stats or not trainer.is_global_zero:
            return
        epoch = human_epoch(trainer)
        seconds = time.perf_counter() - self._epoch_started
        self._track_best(epoch, stats)
        row = {"epoch": epoch, **{k: stats.get(k, "") for k in METRIC_COLUMNS[1:-1]}, "seconds": seconds}
        with RunFolder(self.run_dir).metrics.open("a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=METRIC_COLUMNS).writerow(row)
        self.events.write(
            EpochEnd(
                epoch,
                self.epochs,
                **{k: float(stats[k]) for k in METRIC_COLUMNS[1:-1] if k != "val_map"},
                seconds=seconds,
                val_map=stats.get("val_map"),
            )
        )
        self.status("running", trainer)


class OneBasedProgressBar(L.pytorch.callbacks.TQDMProgressBar):
    """Lightning's bar, but "Epoch 1/3" where Lightning writes "Epoch 0", matching the run folder's records, and
    its figures read at most every ``BATCH_EVENT_SECONDS``: Lightning reads the logged loss back on every refresh
    (every batch), and on a GPU that read makes the loop wait for the device after every step."""

    def __init__(self) -> None:
        super().__init__()
        self._metrics: dict[str, Any] = {}
        self._metrics_read = -math.inf

    def get_metrics(self, trainer: L.Trainer, module: L.LightningModule) -> dict[str, Any]:
        now = time.perf_counter()
        if now - self._metrics_read >= BATCH_EVENT_SECONDS:
            self._metrics, self._metrics_read = super().get_metrics(trainer, module), now
        return self._metrics

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._metrics_read = -math.inf  # the epoch's validation figures show as soon as they exist
        super().on_validation_end(trainer, module)

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(f"Epoch {human_epoch(trainer)}/{trainer.max_epochs}")


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))

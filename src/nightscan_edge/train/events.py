"""Typed training events and the append-only ``events.jsonl`` writer (the web UI's feed).

Each event is a dataclass with its own fields; ``type`` and ``time`` are added on write. The writer flushes
every line, so a reader tailing the file never sees half an event and a crash loses at most the event being
written.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from nightscan_edge.atomic import finite_json, write_json_atomic
from nightscan_edge.run_folder import RunFolder


@dataclass
class Event:
    type: ClassVar[str] = "event"

    def as_record(self) -> dict[str, Any]:
        return {"type": self.type, "time": time.time(), **asdict(self)}


@dataclass
class RunStart(Event):
    type: ClassVar[str] = "run_start"
    run_id: str
    model: str
    labels: list[str]
    epochs: int
    batches_per_epoch: int
    resumed_from_epoch: int | None = None  # the first epoch this (resumed) process runs, counted from 1


@dataclass
class BatchEnd(Event):
    type: ClassVar[str] = "batch_end"
    epoch: int  # counted from 1, like every epoch number in the run folder
    batch: int  # counted from 1 within the epoch
    batches: int
    loss: float
    samples_per_s: float


@dataclass
class EpochEnd(Event):
    type: ClassVar[str] = "epoch_end"
    epoch: int  # counted from 1; the last epoch equals ``epochs``
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    val_macro_f1: float
    lr: float
    seconds: float
    val_map: float | None = None  # multi-label runs: validation mAP (what best.ckpt follows)

    def as_record(self) -> dict[str, Any]:
        record = super().as_record()
        if record["val_map"] is None:  # a single-label run's events keep their documented keys
            del record["val_map"]
        return record


@dataclass
class EmbeddingEpochEnd(Event):
    """One epoch of feature distillation (``train.embedding_teacher``), before the labelled epochs start."""

    type: ClassVar[str] = "embedding_epoch_end"
    epoch: int  # counted from 1 within the embedding phase
    epochs: int
    loss: float  # mean cosine distance, 1 - cos(projected student features, teacher embedding)
    cosine: float  # mean cosine similarity over the epoch's windows
    windows: int  # windows seen this epoch
    seconds: float


@dataclass
class Log(Event):
    type: ClassVar[str] = "log"
    level: str
    message: str


@dataclass
class RunEnd(Event):
    type: ClassVar[str] = "run_end"
    status: str  # done | failed | cancelled
    best_val_acc: float | None
    best_epoch: int | None  # counted from 1
    error: str | None = None

    def as_record(self) -> dict[str, Any]:
        record = super().as_record()
        if self.status != "failed":
            record.pop("error")
        return record


EVENT_TYPES = {cls.type: cls for cls in (RunStart, BatchEnd, EpochEnd, EmbeddingEpochEnd, Log, RunEnd)}


class EventLog:
    """Appends events to ``events.jsonl``; ``read_events`` parses them back (tests, resume, the web)."""

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled

    def write(self, event: Event) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as handle:
            handle.write(json.dumps(finite_json(event.as_record()), allow_nan=False) + "\n")
            handle.flush()


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every complete line of an events file (a trailing half-written line is ignored)."""
    events: list[dict[str, Any]] = []
    if not Path(path).is_file():
        return events
    for line in Path(path).read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def write_status(run_dir: Path, status: str, **fields: Any) -> None:
    """``status.json`` written atomically (the web reads it while the worker runs)."""
    payload = {"status": status, "updated": time.time(), "pid": os.getpid(), **fields}
    write_json_atomic(RunFolder(run_dir).status_file, finite_json(payload))

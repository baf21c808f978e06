"""``RunFolder``: the one place that knows a run folder's file names and how to read and lock them.

One run = one folder, shared by the CLI, the web API, workers, export, bench and predict::

    config.yaml  split.csv  labels.txt  metrics.csv  events.jsonl  status.json  report.json
    best.ckpt  last.ckpt  curves.png  confusion_matrix.png  run.lock  exports/<export_id>/

Every module names a run file through this type, never as a string literal, so renaming or adding a file is
one edit. ``lock()`` holds an OS file lock (``fcntl.flock``) for the life of the writer: a second writer on
the same folder (a ``--resume`` while the run trains, two identical ``--run-name`` starts) is refused with one
line naming the holder's PID. The kernel drops the lock when the holder dies, so ``kill -9`` never leaves a
stale lock behind.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nightscan_edge.atomic import open_text_atomic, write_json_atomic, write_text_atomic
from nightscan_edge.config import Config, load_config
from nightscan_edge.errors import CheckpointError, DataError, RunLockedError
from nightscan_edge.safe_load import load_torch_file
from nightscan_edge.spec import AudioSpec, ImageSpec, spec_from_dict

# The key under which training stores its metadata (model, labels, spec, config) in each checkpoint.
CHECKPOINT_KEY = "nightscan"


@dataclass(frozen=True)
class SplitEntry:
    path: Path
    label: str
    split: str
    group: str | None = None
    # a multi-label entry's labels (sorted; empty: a negative window); None for one label per file
    targets: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SplitPlan:
    """``split.csv``: which file went to train, val or test (saved by training, read back on resume)."""

    entries: list[SplitEntry]
    method: str  # how the split was made, for the log

    def of(self, split: str) -> list[SplitEntry]:
        return [e for e in self.entries if e.split == split]


def write_split(plan: SplitPlan, path: Path, root: Path | None = None) -> None:
    """``path,label,split[,group][,labels]``, paths as given (written atomically); ``labels`` (``;``-separated,
    empty for a negative) when the plan is multi-label. ``root`` is accepted for callers of the older signature
    and not used."""
    with_group = any(e.group for e in plan.entries)
    with_targets = any(e.targets is not None for e in plan.entries)
    # surrogateescape: a file name that is not valid UTF-8 is written back as its original bytes, so the
    # resumed run opens the same file
    with open_text_atomic(path, errors="surrogateescape") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["path", "label", "split"] + (["group"] if with_group else []) + (["labels"] if with_targets else [])
        )
        for entry in plan.entries:
            writer.writerow(
                [str(entry.path), entry.label, entry.split]
                + ([entry.group or ""] if with_group else [])
                + ([";".join(entry.targets or ())] if with_targets else [])
            )


def read_split(path: Path) -> SplitPlan:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} not found; is this a run folder?")
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
        entries = [
            SplitEntry(
                Path(row["path"]),
                row["label"],
                row["split"],
                row.get("group") or None,
                tuple(part for part in row["labels"].split(";") if part) if row.get("labels") is not None else None,
            )
            for row in csv.DictReader(handle)
        ]
    return SplitPlan(entries, f"read from {path}")


BEST_CHECKPOINT_NAME = "best.ckpt"


@dataclass(frozen=True)
class RunFolder:
    """A run folder path with typed accessors for each of its files."""

    path: Path

    CONFIG = "config.yaml"
    SPLIT = "split.csv"
    LABELS = "labels.txt"
    METRICS = "metrics.csv"
    EVENTS = "events.jsonl"
    STATUS = "status.json"
    REPORT = "report.json"
    BEST_CHECKPOINT = BEST_CHECKPOINT_NAME
    LAST_CHECKPOINT = "last.ckpt"
    EMBEDDING_CHECKPOINT = "embedding.ckpt"  # feature distillation's state, before the labelled epochs
    CURVES = "curves.png"
    CONFUSION_MATRIX = "confusion_matrix.png"
    LOCK = "run.lock"
    EXPORTS = "exports"

    def __init__(self, path: str | Path) -> None:
        object.__setattr__(self, "path", Path(path))

    # --- file paths ---------------------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.path / self.CONFIG

    @property
    def split(self) -> Path:
        return self.path / self.SPLIT

    @property
    def labels_file(self) -> Path:
        return self.path / self.LABELS

    @property
    def metrics(self) -> Path:
        return self.path / self.METRICS

    @property
    def events(self) -> Path:
        return self.path / self.EVENTS

    @property
    def status_file(self) -> Path:
        return self.path / self.STATUS

    @property
    def report_file(self) -> Path:
        return self.path / self.REPORT

    @property
    def best_checkpoint(self) -> Path:
        return self.path / self.BEST_CHECKPOINT

    @property
    def last_checkpoint(self) -> Path:
        return self.path / self.LAST_CHECKPOINT

    @property
    def embedding_checkpoint(self) -> Path:
        return self.path / self.EMBEDDING_CHECKPOINT

    @property
    def curves(self) -> Path:
        return self.path / self.CURVES

    @property
    def confusion_matrix(self) -> Path:
        return self.path / self.CONFUSION_MATRIX

    @property
    def lock_file(self) -> Path:
        return self.path / self.LOCK

    @property
    def exports_dir(self) -> Path:
        return self.path / self.EXPORTS

    # --- questions ----------------------------------------------------------------------------------------
    def holds_run(self) -> bool:
        """True when a run has started here (a checkpoint or an event log exists)."""
        return self.last_checkpoint.exists() or self.events.exists()

    def has_checkpoint(self) -> bool:
        return self.best_checkpoint.is_file() or self.last_checkpoint.is_file()

    def export_dirs(self) -> list[Path]:
        """Export folders, oldest first (export ids sort by time)."""
        if not self.exports_dir.is_dir():
            return []
        return sorted(p for p in self.exports_dir.iterdir() if p.is_dir())

    # --- typed readers ------------------------------------------------------------------------------------
    def read_labels(self) -> list[str]:
        return [line for line in self.labels_file.read_text(encoding="utf-8").split("\n") if line]

    def read_status(self) -> dict[str, Any]:
        """``status.json``; ``{}`` when absent or unreadable (it is written atomically: only before the first write)."""
        try:
            loaded = json.loads(self.status_file.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def read_report(self) -> dict[str, Any] | None:
        try:
            loaded = json.loads(self.report_file.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return loaded if isinstance(loaded, dict) else None

    def read_split(self) -> SplitPlan:
        return read_split(self.split)

    def checkpoint(self, prefer: str = BEST_CHECKPOINT_NAME) -> Path:
        """The preferred checkpoint when present, else the other one (``CheckpointError`` when neither)."""
        for name in (prefer, self.LAST_CHECKPOINT, self.BEST_CHECKPOINT):
            if (self.path / name).is_file():
                return self.path / name
        raise CheckpointError(
            f"{self.path} has no {self.BEST_CHECKPOINT} or {self.LAST_CHECKPOINT}; is it a finished run folder?"
        )

    def read_checkpoint_metadata(self) -> dict[str, Any]:
        """What training saved beside the weights: model name and options, labels, preprocessing spec, config.

        This, not ``config.yaml``, is what inference and evaluation build preprocessing from: it is the spec
        the weights were trained with, and it travels with them.
        """
        path = self.checkpoint()
        checkpoint = load_torch_file(path)
        meta = checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None
        if not isinstance(meta, dict):
            raise CheckpointError(f"{path} has no '{CHECKPOINT_KEY}' metadata: not a NightScan Edge checkpoint")
        return meta

    def read_spec(self) -> AudioSpec | ImageSpec:
        """The preprocessing spec the run's weights were trained with (from its checkpoint)."""
        return spec_from_dict(self.read_checkpoint_metadata()["spec"])

    def read_config(self) -> Config:
        """The config the run was trained with (``ConfigError`` naming the file when it is missing or bad)."""
        return load_config(self.config)

    # --- atomic writers -----------------------------------------------------------------------------------
    def write_split(self, plan: SplitPlan, root: Path | None = None) -> None:
        write_split(plan, self.split, root)

    def write_config(self, config: Config) -> None:
        write_text_atomic(self.config, config.to_yaml())

    def write_labels(self, labels: list[str]) -> None:
        write_text_atomic(self.labels_file, "\n".join(labels) + "\n")

    def write_report(self, report: dict[str, Any]) -> None:
        write_json_atomic(self.report_file, report)

    # --- one writer per run -------------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run's writer lock; refuse with one line naming the holder's PID when another process has it."""
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.lock_file, "a+", encoding="utf-8")
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise RunLockedError(
                    f"run folder {self.path} is being written by another process (PID {holder}); "
                    "wait for it to finish or cancel it first"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield
        finally:
            handle.close()

"""Predicting over a whole archive with Dask: one task per recording (per span for long ones), resumable.

The client lists and plans the files, skips those already done (``OutputFolder.is_done``), and submits
``score_span`` tasks (a recording's windows, or a span's) and one ``finish_file`` task per recording that
merges its spans' windows in order and writes the recording's Parquet file atomically. Each worker process
loads the model once, in ``ArchiveModel.setup`` (a Dask worker plugin); its threads share the ONNX Runtime
session, which is thread-safe. The worker side (plugin and task functions) lives in ``tasks``.

Failure handling: a bad file is an error row (same messages as ``predict``); a worker that dies mid-task has
its tasks rerun elsewhere by Dask, and since a recording's results are one file written by rename, a rerun
replaces rather than duplicates; a task that keeps killing its workers (Dask's ``allowed-failures``) becomes
an error row.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dask.typing import Key
from distributed import Client, Future, LocalCluster, as_completed
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from nightscan_edge.predict.archive.errors import ArchiveError
from nightscan_edge.predict.archive.plan import FilePlan, plan_file
from nightscan_edge.predict.archive.store import OutputFolder, manifest_hash, printable
from nightscan_edge.predict.archive.tasks import PLUGIN_NAME, ArchiveModel, finish_file, score_span
from nightscan_edge.predict.classifier import Classifier, load_edge_classifier
from nightscan_edge.predict.edge_predictor import DEFAULT_NEAR_THRESHOLD, FilePrediction
from nightscan_edge.predict.inputs import expand_paths

DEFAULT_SPAN_MINUTES = 10.0


@dataclass
class ArchiveOptions:
    artifact: Path
    paths: list[Path]
    out: Path
    workers: int | None = None  # LocalCluster worker processes (default: CPU count, at most 4)
    worker_threads: int = 1
    runtime_threads: int = 1  # ONNX Runtime intra-op threads per task
    scheduler: str | None = None  # an existing scheduler instead of a LocalCluster
    scheduler_timeout_s: float = 10.0
    hop_seconds: float | None = None
    top_k: int = 1
    server: str | None = None
    threshold: float = 0.8
    near_threshold: float = DEFAULT_NEAR_THRESHOLD  # multi-label fallback: a class this close to its threshold
    server_timeout_s: float = 5.0
    span_minutes: float = DEFAULT_SPAN_MINUTES
    overwrite: bool = False
    progress: bool = True


@dataclass
class ArchiveReport:
    files: int = 0  # recordings in the archive
    skipped: int = 0  # already done (resume)
    processed: int = 0
    errors: int = 0  # processed files with an error row
    audio_hours: float = 0.0  # processed audio
    wall_seconds: float = 0.0
    workers: int = 0
    out: Path | None = None
    error_messages: list[str] = field(default_factory=list)

    @property
    def audio_hours_per_second(self) -> float:
        return self.audio_hours / self.wall_seconds if self.wall_seconds else 0.0


def archive_root(paths: list[Path]) -> Path:
    """Relative paths (the results' keys) are taken below this: the folder given, or the inputs' common parent."""
    if len(paths) == 1 and paths[0].is_dir():
        return paths[0].resolve()
    parents = [str((p if p.is_dir() else p.parent).resolve()) for p in paths]
    return Path(os.path.commonpath(parents)) if parents else Path.cwd()


def connect(options: ArchiveOptions) -> tuple[Client, LocalCluster | None]:
    """A client on ``--scheduler`` (failing within its timeout) or on a new LocalCluster of worker processes."""
    if options.scheduler:
        try:
            return Client(options.scheduler, timeout=f"{options.scheduler_timeout_s}s"), None
        except (OSError, TimeoutError, ValueError) as error:
            raise ArchiveError(
                f"no Dask scheduler answered at {options.scheduler} within {options.scheduler_timeout_s:g} s "
                f"({type(error).__name__}); start one (`dask scheduler`) or drop --scheduler to use "
                "local workers"
            ) from error
    workers = options.workers or min(4, os.cpu_count() or 1)
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=options.worker_threads,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
    )
    return Client(cluster), cluster


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


def run_archive(
    options: ArchiveOptions, client: Client | None = None, on_planned: Callable[[list[FilePlan]], None] | None = None
) -> ArchiveReport:
    """Predict every audio file under ``options.paths`` into ``options.out`` (see the module docstring).

    ``client``: an existing Dask client (tests, notebooks); otherwise one is made by ``connect`` and closed.
    """
    missing = [str(path) for path in options.paths if not path.exists()]
    if missing:
        raise ArchiveError(f"{', '.join(missing)} not found; pass the archive folder (or files) to predict on")
    classifier = _load(options)
    digest = manifest_hash(classifier.manifest)
    root = archive_root(options.paths)
    folder = OutputFolder(options.out)
    folder.claim(digest, str(options.artifact), str(root), options.overwrite)
    files = expand_paths(list(options.paths), "audio")
    if not files:
        raise ArchiveError(f"no audio files found in {', '.join(map(str, options.paths))}")
    span_seconds = options.span_minutes * 60
    plans = [plan_file(path, root, classifier.audio_spec, options.hop_seconds, span_seconds) for path in files]
    existing = folder.existing()
    pending = [plan for plan in plans if not folder.is_done(plan, digest, existing)]
    report = ArchiveReport(files=len(plans), skipped=len(plans) - len(pending), out=options.out)
    if on_planned is not None:
        on_planned(pending)
    if not pending:
        return report
    own_client = client is None
    cluster = None
    if client is None:
        client, cluster = connect(options)
    started = time.perf_counter()
    try:
        report.workers = len(client.scheduler_info().get("workers", {}))
        predictor_options = {
            "server_url": options.server,
            "threshold": options.threshold,
            "near_threshold": options.near_threshold,
            "timeout_s": options.server_timeout_s,
            "hop_seconds": options.hop_seconds,
            "top_k": options.top_k,
            "threads": options.runtime_threads,
        }
        client.register_plugin(ArchiveModel(str(Path(options.artifact).resolve()), predictor_options), name=PLUGIN_NAME)
        _submit_and_wait(client, pending, folder, classifier, options.progress, report)
    finally:
        report.wall_seconds = time.perf_counter() - started
        if own_client:
            client.close()
            if cluster is not None:
                cluster.close()
    return report


def _load(options: ArchiveOptions) -> Classifier:
    try:
        classifier = load_edge_classifier(options.artifact, threads=1)
    except (ValueError, FileNotFoundError) as error:
        raise ArchiveError(str(error)) from error
    if classifier.input_kind != "audio":
        raise ArchiveError(
            f"{Path(options.artifact).name} classifies photos; --engine dask predicts audio archives "
            "(use predict without --engine for photos)"
        )
    if options.span_minutes <= 0 or options.top_k < 1 or (options.workers is not None and options.workers < 1):
        raise ArchiveError("--span-minutes must be positive and --top-k, --workers at least 1")
    return classifier


def _submit_and_wait(
    client: Client,
    pending: list[FilePlan],
    folder: OutputFolder,
    classifier: Classifier,
    show: bool,
    report: ArchiveReport,
) -> None:
    token = uuid.uuid4().hex[:8]
    rate = classifier.audio_spec.sample_rate
    hours_of: dict[Key, float] = {}  # Dask keys: the span tasks'
    plan_of: dict[Key, FilePlan] = {}  # and the per-file tasks'
    futures: list[Future[Any]] = []
    for index, plan in enumerate(pending):
        # Longer recordings first, so a 15 h file's spans are not the last tasks to run.
        priority = int(plan.duration_s or 0)
        spans = []
        for number, span in enumerate(plan.spans):
            key = f"nightscan-span-{token}-{index}-{number}"
            spans.append(
                client.submit(
                    score_span,
                    plan.path,
                    span if len(plan.spans) > 1 else None,
                    key=key,
                    priority=priority,
                    pure=False,
                )
            )
            hours_of[key] = plan.span_hours(number, rate)
        finish = client.submit(
            finish_file,
            plan,
            str(folder.root),
            *spans,
            key=f"nightscan-file-{token}-{index}",
            priority=priority + 1,
            pure=False,
        )
        plan_of[finish.key] = plan
        futures.extend(spans + [finish])
    total_hours = sum(hours_of.values())
    with _progress(show) as progress:
        files_task = progress.add_task("files", total=len(pending))
        hours_task = progress.add_task("audio hours", total=round(total_hours, 2))
        for future in as_completed(futures):
            if future.key in hours_of:
                progress.advance(hours_task, hours_of[future.key])
                report.audio_hours += hours_of[future.key]
                continue
            plan = plan_of[future.key]
            report.processed += 1
            progress.advance(files_task)
            error = future.result()[1] if future.status == "finished" else _task_failure(folder, plan, future)
            if error:
                report.errors += 1
                report.error_messages.append(error)
        progress.update(hours_task, completed=round(total_hours, 2))


def _task_failure(folder: OutputFolder, plan: FilePlan, future: Future[Any]) -> str:
    """A recording whose task failed for good (e.g. it killed its worker each try): one error row for it."""
    exception = future.exception()
    message = printable(f"{plan.path}: prediction failed on the workers ({type(exception).__name__}: {exception})")
    folder.write(plan, FilePrediction(plan.path, error=message), "failed")  # "failed": redone by the next run
    return message

"""``review suggest``: queue the windows a run's model is least sure of (``predict.suggest`` picks them) into a
review queue, so the person labels next what teaches the model most.

The queue is the one named, or ``suggest-<run id>`` made for the run (its labels, its training data set as the
base of the next version). Windows already in the queue are never picked again, so a second call brings new ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nightscan_edge.checkpoint import TrainedModel, load_trained_model
from nightscan_edge.objective import MULTILABEL
from nightscan_edge.predict.suggest import Suggestion, Uncertainty, media_files, suggest
from nightscan_edge.review.queue import (
    BACKGROUND_LABEL,
    QUEUE_NAME,
    Kind,
    LabelNotAllowed,
    QueueInfo,
    QueueNotFound,
    ReviewError,
    ReviewStore,
    Window,
)


@dataclass(frozen=True)
class SuggestReport:
    queue: str
    added: int
    already_queued: int
    suggestion: Suggestion


def default_queue_name(run_id: str) -> str:
    """``suggest-<run id>`` in the characters a queue name allows."""
    slug = re.sub(r"[^a-z0-9_.-]+", "-", run_id.lower()).strip("-.") or "run"
    name = f"suggest-{slug}"[:64]
    return name if QUEUE_NAME.match(name) else "suggest-run"


def _run_dataset(config: dict[str, object]) -> Path | None:
    data = config.get("data")
    path = data.get("path") if isinstance(data, dict) else None
    return Path(str(path)) if path and Path(str(path)).exists() else None


def check_queue_fits(info: QueueInfo, run_id: str, kind: str, labels: list[str]) -> None:
    """A run may fill a queue of its kind whose labels include every label it proposes (``ReviewError`` else)."""
    if info.kind != kind:
        raise ReviewError(
            f"queue {info.name} reviews {'photos' if info.kind == 'image' else 'recordings'} but run {run_id} "
            f"classifies {'photos' if kind == 'image' else 'recordings'}; pick a run of the queue's kind"
        )
    unknown = [label for label in labels if label != BACKGROUND_LABEL and label not in info.allowed_labels]
    if unknown:
        raise LabelNotAllowed(
            f"run {run_id} proposes labels queue {info.name} does not have ({', '.join(unknown)}); use a run "
            "trained on the queue's data set, or leave --queue out for the run's own queue"
        )


def open_queue(store: ReviewStore, trained: TrainedModel, queue: str | None) -> QueueInfo:
    """The named queue (it must take the run's modality and labels), or the run's own, made on first use."""
    kind: Kind = "image" if trained.spec.kind == "image" else "audio"
    labels = [label for label in trained.labels if label != BACKGROUND_LABEL]
    name = queue or default_queue_name(trained.run_id)
    try:
        info = store.queue(name)
    except QueueNotFound:
        if queue is not None:
            raise
        return store.create_queue(name, labels, kind, _run_dataset(trained.config))
    check_queue_fits(info, trained.run_id, kind, labels)
    return info


def suggest_into_queue(
    data_dir: Path,
    run: str | Path,
    recordings: str | Path,
    n: int = 50,
    queue: str | None = None,
    by: Uncertainty = "margin",
    per_recording: int | None = None,
    on_file: Callable[[Path], None] | None = None,
) -> SuggestReport:
    """Pick ``n`` windows of ``recordings`` (``predict.suggest``) and queue them, least sure first, into a queue of
    the review store under ``data_dir``. The request is checked (n, the run, the recordings' modality) before the
    store is opened, so a bad one writes nothing."""
    if n < 1:
        raise ReviewError(f"--n must be at least 1 (got {n}): how many windows to queue for review")
    trained = load_trained_model(run)
    if trained.objective == MULTILABEL:
        raise ReviewError(
            f"run {trained.run_id} is multilabel (one sigmoid per label); review suggest ranks the windows of a "
            "single-label run (margin between its two best classes): give a single-label run"
        )
    media_files(Path(recordings), trained.spec.kind)
    store = ReviewStore(data_dir)
    info = open_queue(store, trained, queue)
    queued = [(str(q.window.recording), q.window.start_s) for q in store.windows(info.name)]
    suggestion = suggest(run, recordings, n, by=by, per_recording=per_recording, exclude=queued, on_file=on_file)
    windows = [
        Window(pick.recording, pick.start_s, pick.end_s, pick.label, round(pick.confidence, 4), "suggest")
        for pick in suggestion.picks
    ]
    report = store.add_windows(info.name, windows, roots=[Path(recordings).resolve()])
    return SuggestReport(info.name, report.added, report.already_queued, suggestion)

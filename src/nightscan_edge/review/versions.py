"""A new version of a data set from a queue's decisions: the original's files plus every filed window as a clip.

    OUT/<queue>-v<N>/manifest.csv   path,label,group: the original's files (absolute) and the clips (relative)
    OUT/<queue>-v<N>/clips/<label>/<recording>_<start>s.wav   (a photo is copied as it is)
    OUT/<queue>-v<N>/version.json   queue, base data set, version, counts, the decisions it holds, created

The original data set is never written to; each version is a new folder written whole under a temporary name and
renamed into place, so ``train --data OUT/<queue>-v<N>`` never sees half a version. Clips carry their recording as
``group``, so windows of one recording never land on both sides of a train/val split.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nightscan_edge.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from nightscan_edge.data.annotations.clips import label_folder, read_stretch
from nightscan_edge.data.sources import MANIFEST_NAME, list_dataset
from nightscan_edge.paths import display_path
from nightscan_edge.review.queue import QueuedWindow, ReviewError, ReviewStore

VERSION_FILE = "version.json"
_VERSION_NAME = re.compile(r"-v(\d+)$")


@dataclass(frozen=True)
class DatasetVersion:
    path: Path  # the version's folder (holds manifest.csv): what ``train --data`` and the data page take
    version: int
    base_files: int
    clips: dict[str, int]  # per label, windows added by this version's decisions


def version_folders(out_root: Path, queue: str) -> list[Path]:
    """The queue's versions under ``out_root``, oldest first."""
    found = []
    for folder in out_root.glob(f"{queue}-v*"):
        match = _VERSION_NAME.search(folder.name)
        if match and folder.name == f"{queue}-v{match.group(1)}" and (folder / VERSION_FILE).is_file():
            found.append((int(match.group(1)), folder))
    return [folder for _, folder in sorted(found)]


def _clip_name(queued: QueuedWindow) -> str:
    window = queued.window
    if window.end_s is None:
        return f"{window.recording.stem}_{queued.id}{window.recording.suffix.lower()}"
    return f"{window.recording.stem}_{window.start_s:09.3f}s_{queued.id}.wav"


def _write_clip(queued: QueuedWindow, target: Path) -> None:
    window = queued.window
    if not window.recording.is_file():
        raise ReviewError(
            f"window {queued.id}: recording {display_path(window.recording)} is gone; restore it or undo the decision"
        )
    if window.end_s is None:
        shutil.copyfile(window.recording, target)
    else:
        write_bytes_atomic(target, read_stretch(window.recording, window.start_s, window.end_s))


def build_version(store: ReviewStore, queue_name: str, out_root: str | Path) -> DatasetVersion:
    """Write the next version of the queue's data set under ``out_root`` and return it.

    Holds the original's files (when the queue names a data set) and a clip per accepted, relabelled or background
    window. ``ReviewError`` when nothing is filed yet or a recording has gone.
    """
    queue = store.queue(queue_name)
    filed = store.filed(queue_name)
    if not filed:
        raise ReviewError(
            f"queue {queue_name} has no accepted, relabelled or background windows yet; review some first"
        )
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    existing = version_folders(out_root, queue_name)
    number = 1 + (int(_VERSION_NAME.search(existing[-1].name).group(1)) if existing else 0)  # type: ignore[union-attr]
    final = out_root / f"{queue_name}-v{number}"
    base = list_dataset(queue.dataset) if queue.dataset is not None else None
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=out_root))
    try:
        rows: list[tuple[str, str, str]] = []
        if base is not None:
            rows += [(str(sample.path.resolve()), sample.label, sample.group or "") for sample in base.samples]
        clips: dict[str, int] = {}
        for queued in filed:
            label = queued.decision.label if queued.decision is not None else None
            assert label is not None  # filed() keeps windows with a label
            relative = Path("clips") / label_folder(label) / _clip_name(queued)
            (staging / relative.parent).mkdir(parents=True, exist_ok=True)
            _write_clip(queued, staging / relative)
            rows.append((relative.as_posix(), label, queued.window.recording.stem))
            clips[label] = clips.get(label, 0) + 1
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(("path", "label", "group"))
        writer.writerows(rows)
        write_text_atomic(staging / MANIFEST_NAME, buffer.getvalue())
        write_json_atomic(
            staging / VERSION_FILE,
            {
                "queue": queue_name,
                "version": number,
                "base_dataset": None if queue.dataset is None else str(queue.dataset),
                "base_files": 0 if base is None else len(base.samples),
                "clips": clips,
                "decisions": sorted(q.decision.id for q in filed if q.decision is not None),
                "created": time.time(),
            },
        )
        os.rename(staging, final)  # atomic; refuses (OSError) if another writer made this version meanwhile
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return DatasetVersion(final, number, 0 if base is None else len(base.samples), clips)

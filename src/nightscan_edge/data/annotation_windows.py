"""Multi-label window targets from time-stamped annotations: a ``--data`` annotation CSV (``path,start_s,end_s,label``,
as ``data prelabel`` writes) or a Raven selection table (``.txt``) becomes one training sample per model window.

Each annotated recording is cut into back-to-back windows of the model's length (the last one aligned to the
recording's end, as prediction cuts a recording). A window is positive for a label when one of that label's
annotations covers at least ``data.min_overlap`` of the *shorter of the window and the call*: a 0.3 s chirp is
"in" a 3 s window when at least half the chirp is inside it, and a 20 s frog chorus marks every window that is at
least half chorus. A share of the window alone would never mark a short call; a share of the call alone would
mark a window that only grazes the start of a long chorus. Windows that no annotation reaches enough are
negatives: an all-zero target, what "nothing calls here" means to a sigmoid output.

Windows of one recording stay in one split (grouped by recording) when the table names three recordings or more;
with fewer, by minute of recording, so a single long night can still be split.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from nightscan_edge.data.annotations import Annotation, AnnotationError, check_annotations, read_annotation_csv
from nightscan_edge.data.annotations.raven import read_raven
from nightscan_edge.data.annotations.table import CSV_COLUMNS
from nightscan_edge.data.media import segment_path
from nightscan_edge.data.sources import LABEL_SEPARATOR, Sample
from nightscan_edge.paths import display_path

RECORDINGS_FOR_RECORDING_GROUPS = 3  # fewer recordings than this: group windows by minute instead
GROUP_SECONDS = 60.0
RAVEN_SUFFIX = ".txt"


def is_annotation_table(path: Path) -> bool:
    """A Raven selection table (``.txt``) or a CSV with the annotation columns (``start_s``, ``end_s``)."""
    if not path.is_file():
        return False
    if path.suffix.lower() == RAVEN_SUFFIX:
        return True
    if path.suffix.lower() != ".csv":
        return False
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False  # not readable as an annotation table: the manifest reader says what is wrong
    return set(CSV_COLUMNS) <= {column.strip() for column in header}


def read_annotation_table(path: Path) -> list[Annotation]:
    """The table's annotations, each checked against its recording (inside it, start before end)."""
    if path.suffix.lower() == RAVEN_SUFFIX:
        return read_raven(path)
    return read_annotation_csv(path)


def check_overlapping_duplicates(annotations: list[Annotation], source: str) -> None:
    """Two annotations of one label that overlap on one recording are one call entered twice (or a merge gone
    wrong); counting both would make a window's coverage ambiguous, so they are refused with both rows named."""
    by_key: dict[tuple[Path, str], list[Annotation]] = defaultdict(list)
    for annotation in annotations:
        by_key[(annotation.path, annotation.label)].append(annotation)
    for (recording, label), rows in sorted(by_key.items(), key=lambda item: (str(item[0][0]), item[0][1])):
        rows = sorted(rows, key=lambda a: (a.start_s, a.end_s))
        for earlier, later in zip(rows, rows[1:], strict=False):
            if later.start_s < earlier.end_s:
                raise AnnotationError(
                    f"{source}: {later.origin or 'a row'} overlaps {earlier.origin or 'another row'} "
                    f"({label!r} {earlier.start_s:g}-{earlier.end_s:g} s and {later.start_s:g}-{later.end_s:g} s in "
                    f"{display_path(recording)}); merge them into one row or remove the duplicate"
                )


def window_bounds(seconds: float, window_s: float) -> list[tuple[float, float]]:
    """Back-to-back windows over a recording, the last one aligned to its end (one window when shorter)."""
    if seconds <= window_s:
        return [(0.0, seconds)]
    count = int((seconds - window_s) // window_s) + 1
    starts = [index * window_s for index in range(count)]
    if starts[-1] + window_s < seconds - 1e-6:
        starts.append(seconds - window_s)
    return [(start, start + window_s) for start in starts]


def covers(annotation: Annotation, start_s: float, end_s: float, min_overlap: float) -> bool:
    """Whether the annotation covers ``min_overlap`` of the shorter of the window and itself."""
    overlap = min(annotation.end_s, end_s) - max(annotation.start_s, start_s)
    return overlap > 0 and overlap >= min_overlap * min(end_s - start_s, annotation.end_s - annotation.start_s) - 1e-9


def annotation_samples(path: Path, window_s: float, min_overlap: float) -> list[Sample]:
    """Every window of every annotated recording as a multi-label ``Sample`` (a media-fragment path)."""
    annotations = read_annotation_table(path)
    source = display_path(path)
    check_overlapping_duplicates(annotations, source)
    recordings = check_annotations(annotations, source=source)
    by_recording: dict[Path, list[Annotation]] = defaultdict(list)
    for annotation in annotations:
        by_recording[annotation.path].append(annotation)
    by_minute = len(recordings) < RECORDINGS_FOR_RECORDING_GROUPS
    samples = []
    for recording in sorted(recordings, key=str):
        seconds = recordings[recording][0]
        for start_s, end_s in window_bounds(seconds, window_s):
            targets = tuple(
                sorted({a.label for a in by_recording[recording] if covers(a, start_s, end_s, min_overlap)})
            )
            group = f"{recording}@{int(start_s // GROUP_SECONDS)}" if by_minute else str(recording)
            samples.append(
                Sample(
                    segment_path(recording, start_s, end_s), LABEL_SEPARATOR.join(targets), None, None, group, targets
                )
            )
    return samples

"""The project's annotation CSV, one row per labelled stretch of a recording: ``path,start_s,end_s,label``.

``data prelabel`` writes it (with ``common_name`` and ``confidence`` after, ignored here); the Raven and Label
Studio converters read and write it; ``data clips-from-annotations`` cuts clips from it. Every reader checks
the rows against their recordings before anything is written (``check_annotations``), so a bad row is one
line naming the row and what to fix, never a half-converted file.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import soundfile

from nightscan_edge.atomic import write_text_atomic
from nightscan_edge.errors import DataError
from nightscan_edge.paths import display_path

CSV_COLUMNS = ("path", "start_s", "end_s", "label")
# Rounding of times in every written file: a millisecond, as prelabel and Raven write them.
TIME_DECIMALS = 3
# Annotation times may pass a recording's end by this much (a selection dragged to the last pixel).
END_TOLERANCE_S = 0.01


class AnnotationError(DataError):
    """An annotation file that cannot be converted as it is: what is wrong, where, and what to do."""


@dataclass(frozen=True)
class Annotation:
    """One labelled stretch ``[start_s, end_s)`` of the recording at ``path``."""

    path: Path
    start_s: float
    end_s: float
    label: str
    # Where it was read ("table.txt line 4"), so a check made later names the row; not part of its identity.
    origin: str = field(default="", compare=False)


def parse_seconds(text: str, where: str, column: str) -> float:
    """A time in seconds, or an ``AnnotationError`` naming the row and column."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise AnnotationError(f"{where}: {column} '{text}' is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise AnnotationError(f"{where}: {column} {text} must be a finite, non-negative number of seconds")
    return value


def make_annotation(path: Path, start_s: float, end_s: float, label: str, where: str) -> Annotation:
    """An annotation with its own checks (start before end, a label); the recording is checked later."""
    label = label.strip()
    if not label:
        raise AnnotationError(f"{where}: empty label; every row needs one")
    if end_s <= start_s:
        raise AnnotationError(f"{where}: start {start_s:g} s is not before end {end_s:g} s; swap or fix the times")
    return Annotation(path, start_s, end_s, label, where)


def recording_seconds(path: Path, where: str) -> tuple[float, int]:
    """(duration in seconds, sample rate) of a recording, read from its header only."""
    if not path.is_file():
        raise AnnotationError(f"{where}: recording {display_path(path)} not found; give --recording or fix the path")
    try:
        info = soundfile.info(str(path))
    except Exception as error:  # libsndfile reports unreadable files with several exception types
        raise AnnotationError(f"{where}: {display_path(path)} is not readable audio ({error})") from None
    return info.frames / info.samplerate, int(info.samplerate)


def check_annotations(
    annotations: Sequence[Annotation], labels: Iterable[str] | None = None, source: str = "annotations"
) -> dict[Path, tuple[float, int]]:
    """Every row inside its recording and (when ``labels`` is given) labelled with one of them.

    Returns each recording's (seconds, sample rate) so writers need not read the headers again.
    """
    if not annotations:
        raise AnnotationError(f"{source} holds no annotations; nothing to convert")
    allowed = set(labels) if labels is not None else None
    recordings: dict[Path, tuple[float, int]] = {}
    for number, annotation in enumerate(annotations, start=1):
        where = annotation.origin or f"{source} annotation {number}"
        if allowed is not None and annotation.label not in allowed:
            raise AnnotationError(
                f"{where}: label '{annotation.label}' is not in the label list ({', '.join(sorted(allowed))}); "
                "fix the label or add it to --labels"
            )
        if annotation.path not in recordings:
            recordings[annotation.path] = recording_seconds(annotation.path, where)
        seconds = recordings[annotation.path][0]
        if annotation.end_s > seconds + END_TOLERANCE_S:
            raise AnnotationError(
                f"{where}: ends at {annotation.end_s:g} s, past the end of {display_path(annotation.path)} "
                f"({seconds:.3f} s); is it the right recording?"
            )
    return recordings


def read_annotation_csv(path: str | Path, labels: Iterable[str] | None = None) -> list[Annotation]:
    """The rows of an annotation CSV, checked; relative recording paths are relative to the CSV's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AnnotationError(
            f"{display_path(path)} not found; give an annotation CSV (path,start_s,end_s,label)"
        ) from None
    except (UnicodeDecodeError, IsADirectoryError) as error:
        raise AnnotationError(f"{display_path(path)} is not a UTF-8 CSV file ({error})") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in CSV_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise AnnotationError(
            f"{display_path(path)}: missing column(s) {', '.join(missing)}; an annotation CSV has the columns "
            f"{','.join(CSV_COLUMNS)} (as `data prelabel` writes)"
        )
    annotations = []
    for number, row in enumerate(reader, start=2):
        where = f"{display_path(path)} line {number}"
        recording = Path(row["path"] or "")
        if not row["path"]:
            raise AnnotationError(f"{where}: empty path; every row names its recording")
        annotations.append(
            make_annotation(
                recording if recording.is_absolute() else path.parent / recording,
                parse_seconds(row["start_s"], where, "start_s"),
                parse_seconds(row["end_s"], where, "end_s"),
                row["label"] or "",
                where,
            )
        )
    check_annotations(annotations, labels, display_path(path))
    return annotations


def format_seconds(value: float) -> str:
    return f"{value:.{TIME_DECIMALS}f}"


def portable_path(recording: Path, folder: Path) -> str:
    """The recording relative to ``folder`` when it lies below it (a CSV that moves with its recordings)."""
    try:
        return str(recording.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(recording)


def annotation_csv_text(annotations: Iterable[Annotation], folder: Path) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for annotation in annotations:
        writer.writerow(
            (
                portable_path(annotation.path, folder),
                format_seconds(annotation.start_s),
                format_seconds(annotation.end_s),
                annotation.label,
            )
        )
    return buffer.getvalue()


def write_annotation_csv(path: str | Path, annotations: Iterable[Annotation]) -> Path:
    """Atomically: a reader never sees half a CSV, and a failed conversion leaves the old file as it was."""
    path = Path(path)
    return write_text_atomic(path, annotation_csv_text(annotations, path.parent))

"""Windows to review, read from what the other commands write: ``data prelabel``'s draft CSV, ``predict``'s
detections CSV, a Raven selection table (``predict --raven``, BirdNET-Analyzer) and an archive's Parquet folder
(``predict --engine dask``).

Every reader checks each row against its recording (it exists, the window ends inside it) before returning, so
a bad row is one line naming the row, and nothing is queued from a half-read file.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from nightscan_edge.data.annotations.raven import read_raven
from nightscan_edge.data.annotations.table import (
    Annotation,
    AnnotationError,
    check_annotations,
    make_annotation,
    parse_seconds,
    read_annotation_csv,
)
from nightscan_edge.data.sources import IMAGE_SUFFIXES
from nightscan_edge.paths import display_path
from nightscan_edge.review.queue import BadWindow, Source, Window

PRELABEL_COLUMNS = ("path", "start_s", "end_s", "label", "confidence")  # `data prelabel` adds common_name too
DETECTION_COLUMNS = ("file", "start_s", "end_s", "label", "confidence")  # `predict --out x.csv`
ARCHIVE_STAMP = "archive.json"  # what `predict --engine dask` writes beside its detections/ folder


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadWindow(f"{display_path(path)} not found; give the file `data prelabel` or `predict` wrote") from None
    except (UnicodeDecodeError, IsADirectoryError) as error:
        raise BadWindow(f"{display_path(path)} is not a UTF-8 text file ({error})") from None


def _confidence(text: str | None, where: str) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadWindow(f"{where}: confidence {text!r} is not a number") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise BadWindow(f"{where}: confidence {text} is not between 0 and 1")
    return value


def _checked(annotations: list[Annotation], confidences: list[float | None], source: Source, name: str) -> list[Window]:
    """Audio windows, each checked against its recording (``AnnotationError`` -> ``BadWindow``, one line)."""
    try:
        if annotations:
            check_annotations(annotations, source=name)
    except AnnotationError as error:
        raise BadWindow(str(error)) from None
    return [
        Window(a.path.resolve(), a.start_s, a.end_s, a.label, c, source)
        for a, c in zip(annotations, confidences, strict=True)
    ]


def _csv_rows(path: Path, columns: tuple[str, ...], what: str) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(_text(path)))
    missing = [column for column in columns if column not in (reader.fieldnames or [])]
    if missing:
        raise BadWindow(f"{display_path(path)}: missing column(s) {', '.join(missing)}; {what} has {','.join(columns)}")
    try:
        return list(enumerate(reader, start=2))
    except csv.Error as error:
        raise BadWindow(f"{display_path(path)} is not a readable CSV ({error})") from None


def _confidences_by_line(annotations: list[Annotation], rows: dict[int, dict[str, str]]) -> list[float | None]:
    """Each annotation's ``confidence``/``Confidence`` from its own row: the annotation readers name the row they
    read it from as "<file> line N" and leave the column out."""
    confidences = []
    for annotation in annotations:
        row = {
            (key or "").strip().lower(): value
            for key, value in rows[int(annotation.origin.rsplit(" line ", 1)[1])].items()
        }
        confidences.append(_confidence(row.get("confidence"), annotation.origin))
    return confidences


def windows_from_prelabel(csv_path: str | Path, source: Source = "prelabel") -> list[Window]:
    """The draft CSV of ``data prelabel`` (``path,start_s,end_s,label,common_name,confidence``)."""
    path = Path(csv_path)
    rows = dict(_csv_rows(path, PRELABEL_COLUMNS, "a `data prelabel` CSV"))
    try:
        annotations = read_annotation_csv(path)
    except AnnotationError as error:
        raise BadWindow(str(error)) from None
    return _checked(annotations, _confidences_by_line(annotations, rows), source, display_path(path))


def windows_from_detections_csv(csv_path: str | Path, source: Source = "predict") -> list[Window]:
    """``predict --out detections.csv``: one row per window (audio) or per photo (no times); error rows skipped.

    A relative ``file`` is read relative to the CSV's folder.
    """
    path = Path(csv_path)
    audio: list[Annotation] = []
    audio_confidences: list[float | None] = []
    photos: list[Window] = []
    for line, row in _csv_rows(path, DETECTION_COLUMNS, "a `predict` detections CSV"):
        where = f"{display_path(path)} line {line}"
        if (row.get("error") or "").strip() or not (row["label"] or "").strip():
            continue  # a file that failed: nothing was proposed for it
        recording = Path(row["file"] or "")
        recording = recording if recording.is_absolute() else path.parent / recording
        confidence = _confidence(row["confidence"], where)
        if not (row["start_s"] or "").strip():
            if recording.suffix.lower() not in IMAGE_SUFFIXES or not recording.is_file():
                raise BadWindow(f"{where}: no start_s for {display_path(recording)}, which is not a photo found here")
            photos.append(Window(recording.resolve(), 0.0, None, row["label"].strip(), confidence, source))
            continue
        try:
            audio.append(
                make_annotation(
                    recording,
                    parse_seconds(row["start_s"], where, "start_s"),
                    parse_seconds(row["end_s"], where, "end_s"),
                    row["label"],
                    where,
                )
            )
        except AnnotationError as error:
            raise BadWindow(str(error)) from None
        audio_confidences.append(confidence)
    return _checked(audio, audio_confidences, source, display_path(path)) + photos


def windows_from_raven(
    table: str | Path, recording: str | Path | None = None, source: Source = "predict"
) -> list[Window]:
    """A Raven selection table; its ``Confidence`` column (``predict --raven``, BirdNET-Analyzer) when it has one."""
    path = Path(table)
    try:
        annotations = read_raven(path, recording)
    except AnnotationError as error:
        raise BadWindow(str(error)) from None
    rows = dict(enumerate(csv.DictReader(io.StringIO(_text(path)), delimiter="\t"), start=2))
    confidences = _confidences_by_line(annotations, rows)
    return _checked(annotations, confidences, source, display_path(path))


def windows_from_archive(folder: str | Path, source: Source = "predict") -> list[Window]:
    """An archive output folder (``predict --engine dask --out FOLDER``): its Parquet detections, whose paths are
    relative to the archive root its ``archive.json`` names."""
    # pyarrow comes with the archive extra: pip install 'nightscan-edge[archive]'
    import pyarrow.dataset as ds

    root = Path(folder)
    try:
        stamp = json.loads((root / ARCHIVE_STAMP).read_text(encoding="utf-8"))
        archive_root = Path(stamp["archive_root"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BadWindow(
            f"{display_path(root)} has no readable {ARCHIVE_STAMP} ({error}); give the --out folder of "
            "`predict --engine dask`"
        ) from None
    parquet = sorted((root / "detections").rglob("*.parquet"))
    if not parquet:
        return []
    table = ds.dataset(parquet, format="parquet").to_table(columns=["path", "start_s", "end_s", "label", "confidence"])
    annotations, confidences = [], []
    for number, row in enumerate(table.to_pylist(), start=1):
        if row["label"] is None or row["start_s"] is None:
            continue  # an error row
        where = f"{display_path(root)} detection {number}"
        try:
            annotations.append(
                make_annotation(archive_root / row["path"], row["start_s"], row["end_s"], row["label"], where)
            )
        except AnnotationError as error:
            raise BadWindow(str(error)) from None
        confidences.append(None if row["confidence"] is None else round(float(row["confidence"]), 4))
    return _checked(annotations, confidences, source, display_path(root))


def windows_from_file(path: str | Path, source: Source | None = None) -> list[Window]:
    """Any of the above, told apart by what the file is: an archive folder, a Raven table (.txt), or a CSV whose
    header says prelabel (``path``) or predict (``file``)."""
    path = Path(path)
    if path.is_dir():
        return windows_from_archive(path, source or "predict")
    if path.suffix.lower() == ".txt":
        return windows_from_raven(path, source=source or "predict")
    header = _text(path).partition("\n")[0]
    columns = next(csv.reader([header]), [])
    if "path" in columns:
        return windows_from_prelabel(path, source or "prelabel")
    if "file" in columns:
        return windows_from_detections_csv(path, source or "predict")
    raise BadWindow(
        f"{display_path(path)}: not a `data prelabel` CSV (path,...), a `predict` CSV (file,...), a Raven table (.txt) "
        "or an archive folder"
    )

"""Raven Pro selection tables <-> annotations.

A selection table is tab-separated text: one row per selection and view (Raven writes a "Waveform 1" and a
"Spectrogram 1" row for the same selection; one is kept), the seven columns every table has, the
measurements a user chose (each named with its unit, "Delta Time (s)") and annotation columns. One annotation
column holds the labels: named with ``label_column``, or found among ``LABEL_COLUMNS`` when it is the only
annotation column -- a second one would leave the label a guess, so it is refused with its name.

The recording of a row is ``recording`` when given, else its ``Begin Path``, else its ``Begin File`` beside
the table (multi-file tables carry those columns; ``predict --raven`` writes ``Begin File``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from nightscan_edge.atomic import write_text_atomic
from nightscan_edge.data.annotations.table import (
    Annotation,
    AnnotationError,
    check_annotations,
    format_seconds,
    make_annotation,
    parse_seconds,
)
from nightscan_edge.paths import display_path

SELECTION_COLUMNS = (
    "Selection",
    "View",
    "Channel",
    "Begin Time (s)",
    "End Time (s)",
    "Low Freq (Hz)",
    "High Freq (Hz)",
)
# Annotation columns that hold labels in tables written by Raven users, BirdNET-Analyzer and ``predict --raven``.
LABEL_COLUMNS = ("Annotation", "Species", "Label", "Class", "Common Name", "Species Code")
# Columns without a unit that Raven and ``predict --raven`` write beside the labels.
KNOWN_COLUMNS = ("Begin Path", "Begin File", "End Path", "End File", "Confidence", "Source", "Begin Date", "End Date")
WRITTEN_LABEL_COLUMN = "Species"  # what ``predict --raven`` writes: one name for both tools
WRITTEN_COLUMNS = (*SELECTION_COLUMNS, "Begin Path", "Begin File", WRITTEN_LABEL_COLUMN)


def _is_measurement(column: str) -> bool:
    """Raven names every measurement with its unit: "Delta Time (s)", "Avg Power Density (dB FS/Hz)"."""
    return column.endswith(")") and "(" in column


def _label_column(columns: Sequence[str], chosen: str | None, where: str) -> str:
    if chosen is not None:
        if chosen not in columns:
            raise AnnotationError(f"{where}: no column '{chosen}' (columns: {', '.join(columns)}); fix --label-column")
        return chosen
    found = [column for column in columns if column in LABEL_COLUMNS]
    unknown = [c for c in columns if c not in SELECTION_COLUMNS and c not in KNOWN_COLUMNS and c not in found]
    unknown = [c for c in unknown if not _is_measurement(c)]
    if unknown or len(found) != 1:
        extra = unknown or found[1:]
        what = f"unknown column(s) {', '.join(extra)}" if extra else "no annotation column"
        raise AnnotationError(
            f"{where}: {what}; the labels must be in one annotation column ({', '.join(LABEL_COLUMNS)}): "
            "name it with --label-column"
        )
    return found[0]


def _recording(row: dict[str, str], table: Path, recording: Path | None, where: str) -> Path:
    if recording is not None:
        return recording
    for column in ("Begin Path", "Begin File"):
        if row.get(column):
            path = Path(row[column])
            return path if path.is_absolute() else table.parent / path
    raise AnnotationError(f"{where}: the table names no recording (no Begin Path or Begin File); give --recording")


def read_raven(
    table: str | Path,
    recording: str | Path | None = None,
    labels: Iterable[str] | None = None,
    label_column: str | None = None,
) -> list[Annotation]:
    """A selection table's selections as annotations (one per selection number), checked against the recordings."""
    table = Path(table)
    name = display_path(table)
    try:
        text = table.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AnnotationError(f"{name} not found; give a Raven selection table (.txt, tab-separated)") from None
    except (UnicodeDecodeError, IsADirectoryError) as error:
        raise AnnotationError(f"{name} is not a text selection table ({error})") from None
    reader = csv.DictReader(io.StringIO(text), delimiter="\t")
    columns = [c.strip() for c in reader.fieldnames or []]
    reader.fieldnames = columns
    missing = [c for c in SELECTION_COLUMNS if c not in columns]
    if missing:
        raise AnnotationError(
            f"{name}: missing column(s) {', '.join(missing)}; not a Raven selection table "
            f"(tab-separated with {', '.join(SELECTION_COLUMNS)} and an annotation column)"
        )
    label = _label_column(columns, label_column, name)
    chosen: dict[str, tuple[int, dict[str, str]]] = {}
    for number, row in enumerate(reader, start=2):
        selection = (row.get("Selection") or "").strip()
        if not selection:
            raise AnnotationError(f"{name} line {number}: empty Selection")
        # A selection appears once per view; the spectrogram row is the one people edit.
        if selection not in chosen or (row.get("View") or "").startswith("Spectrogram"):
            if selection not in chosen or not chosen[selection][1].get("View", "").startswith("Spectrogram"):
                chosen[selection] = (number, row)
    annotations = []
    fixed = Path(recording) if recording is not None else None
    for number, row in chosen.values():
        where = f"{name} line {number}"
        annotations.append(
            make_annotation(
                _recording(row, table, fixed, where),
                parse_seconds(row.get("Begin Time (s)") or "", where, "Begin Time (s)"),
                parse_seconds(row.get("End Time (s)") or "", where, "End Time (s)"),
                row.get(label) or "",
                where,
            )
        )
    check_annotations(annotations, labels, name)
    return annotations


def raven_text(annotations: Sequence[Annotation], sample_rates: dict[Path, int]) -> str:
    """Selections numbered from 1, spanning 0 Hz to each recording's Nyquist frequency."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(WRITTEN_COLUMNS)
    for selection, annotation in enumerate(annotations, start=1):
        writer.writerow(
            (
                selection,
                "Spectrogram 1",
                1,
                format_seconds(annotation.start_s),
                format_seconds(annotation.end_s),
                0,
                f"{sample_rates[annotation.path] / 2:g}",
                str(annotation.path.resolve()),
                annotation.path.name,
                annotation.label,
            )
        )
    return buffer.getvalue()


def write_raven(path: str | Path, annotations: Sequence[Annotation]) -> Path:
    recordings = check_annotations(annotations)
    rates = {recording: rate for recording, (_, rate) in recordings.items()}
    return write_text_atomic(path, raven_text(annotations, rates))

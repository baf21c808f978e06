"""Writing predictions: the detections CSV and a Raven Pro selection table."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from nightscan_edge.data.annotations.raven import SELECTION_COLUMNS
from nightscan_edge.predict.edge_predictor import FilePrediction

CSV_COLUMNS = ("file", "start_s", "end_s", "label", "confidence", "source", "top_k", "fallback_failed", "error")
# The selection columns are the ones ``data import-annotations --format raven`` reads back.
RAVEN_COLUMNS = (
    *SELECTION_COLUMNS,
    "Begin File",
    "Species",
    "Confidence",
    "Source",
)


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def csv_rows(results: Iterable[FilePrediction]) -> Iterable[dict[str, str]]:
    """One row per detection or image; an error gets its own row after whatever was predicted."""
    for result in results:
        for detection in result.detections:
            yield {
                "file": result.file,
                "start_s": _seconds(detection.start_s),
                "end_s": _seconds(detection.end_s),
                "label": detection.label,
                "confidence": f"{detection.confidence:.4f}",
                "source": detection.source,
                "top_k": ";".join(f"{label}:{p:.4f}" for label, p in detection.top_k),
                "fallback_failed": "true" if detection.fallback_failed else "",
                "error": "",
            }
        if result.error:
            yield {column: "" for column in CSV_COLUMNS} | {"file": result.file, "error": result.error}


class CsvWriter:
    """Streams rows as files finish, so a long batch's results are on disk before it ends."""

    def __init__(self, handle: IO[str]) -> None:
        self._writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        self._writer.writeheader()
        self._handle = handle

    def write(self, result: FilePrediction) -> None:
        self._writer.writerows(csv_rows([result]))
        self._handle.flush()


class RavenWriter:
    """Raven selection table (tab-separated); audio detections only, frequencies span the model's band."""

    def __init__(self, handle: IO[str], low_hz: float, high_hz: float) -> None:
        self._handle = handle
        self._low_hz, self._high_hz = low_hz, high_hz
        self._selection = 0
        handle.write("\t".join(RAVEN_COLUMNS) + "\n")

    def write(self, result: FilePrediction) -> None:
        for detection in result.detections:
            if detection.start_s is None:
                continue
            self._selection += 1
            row = (
                str(self._selection),
                "Spectrogram 1",
                "1",
                f"{detection.start_s:.3f}",
                f"{detection.end_s:.3f}",
                f"{self._low_hz:g}",
                f"{self._high_hz:g}",
                Path(result.file).name,
                detection.label,
                f"{detection.confidence:.4f}",
                detection.source,
            )
            self._handle.write("\t".join(row) + "\n")
        self._handle.flush()

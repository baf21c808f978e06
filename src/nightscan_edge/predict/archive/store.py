"""The archive's output folder: a Parquet data set partitioned by site and date, one file per recording.

    OUT/archive.json                                    artifact (manifest hash), rules, archive root
    OUT/detections/site=SITE/date=YYYY-MM-DD/NAME.parquet   one per recording, written atomically
    OUT/summary/...                                     see ``summary.py``

Each recording's rows are written whole, to a temporary file renamed into place, so a killed run leaves
either a recording's complete results or none; the file's Parquet metadata holds the artifact's manifest
hash and the recording's size and mtime, which is what a rerun compares to skip it (resume).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from nightscan_edge.atomic import write_bytes_atomic, write_json_atomic
from nightscan_edge.predict.archive.errors import ArchiveError
from nightscan_edge.predict.archive.plan import FilePlan
from nightscan_edge.predict.archive.recording_time import NIGHT_RULE, SITE_RULE, TIME_RULE
from nightscan_edge.predict.edge_predictor import FilePrediction
from nightscan_edge.predict.windows import Detection

STAMP_NAME = "archive.json"
DETECTIONS_DIR = "detections"
SUMMARY_DIR = "summary"
_META_HASH, _META_SIZE, _META_MTIME, _META_PATH = (
    b"nightscan.manifest_sha256",
    b"nightscan.file_size",
    b"nightscan.file_mtime_ns",
    b"nightscan.path",
)

SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("label", pa.string()),
        ("confidence", pa.float32()),
        ("source", pa.string()),
        ("top_k", pa.list_(pa.struct([("label", pa.string()), ("probability", pa.float32())]))),
        ("fallback_failed", pa.bool_()),
        ("error", pa.string()),
        ("recording_start", pa.timestamp("ms")),
        ("time_source", pa.string()),
        ("detection_start", pa.timestamp("ms")),
    ]
)
PARTITIONING = ds.partitioning(pa.schema([("site", pa.string()), ("date", pa.string())]), flavor="hive")


def manifest_hash(manifest: dict[str, Any]) -> str:
    """The artifact's identity: SHA-256 of its embedded manifest (export id and creation time included)."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, default=str).encode()).hexdigest()


def printable(path: str) -> str:
    """A path as valid UTF-8 text (odd bytes in a name become ``\\xNN``), so Parquet and CSV accept it."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def rows_table(plan: FilePlan, result: FilePrediction) -> pa.Table:
    """One row per detection, then one error row when (part of) the file failed -- the CSV's rows, typed."""
    rows: list[dict[str, Any]] = []
    path = printable(plan.relative)
    for detection in result.detections:
        rows.append(
            {
                "path": path,
                "start_s": detection.start_s,
                "end_s": detection.end_s,
                "label": detection.label,
                "confidence": detection.confidence,
                "source": detection.source,
                "top_k": [{"label": label, "probability": p} for label, p in detection.top_k],
                "fallback_failed": detection.fallback_failed,
                "error": None,
                "recording_start": plan.start,
                "time_source": plan.time_source,
                "detection_start": plan.start + timedelta(seconds=detection.start_s or 0.0),
            }
        )
    if result.error:
        rows.append(
            {
                "path": path,
                "error": printable(result.error),
                "recording_start": plan.start,
                "time_source": plan.time_source,
                "fallback_failed": False,
                "top_k": [],
            }
        )
    return pa.Table.from_pylist(rows, schema=SCHEMA)


@dataclass
class OutputFolder:
    root: Path

    @property
    def detections(self) -> Path:
        return self.root / DETECTIONS_DIR

    @property
    def summary(self) -> Path:
        return self.root / SUMMARY_DIR

    def output_path(self, plan: FilePlan) -> Path:
        return self.detections / f"site={plan.site}" / f"date={plan.date}" / plan.output_name

    # -- the artifact stamp --------------------------------------------------------------------------------
    def claim(self, digest: str, artifact: str, archive_root: str, overwrite: bool) -> None:
        """Refuse a folder holding another artifact's results (unless ``overwrite``: then they are removed)."""
        stamp_path = self.root / STAMP_NAME
        if stamp_path.exists():
            try:
                stamp = json.loads(stamp_path.read_text())
            except (OSError, ValueError) as error:
                raise ArchiveError(
                    f"{stamp_path} is unreadable ({error}); pass --overwrite or another --out"
                ) from error
            if stamp.get("manifest_sha256") != digest:
                if not overwrite:
                    raise ArchiveError(
                        f"{self.root} holds results of another artifact ({stamp.get('artifact')}); "
                        "pass --overwrite to replace them or choose another --out folder"
                    )
                shutil.rmtree(self.detections, ignore_errors=True)
                shutil.rmtree(self.summary, ignore_errors=True)
        elif self.root.exists() and any(self.root.iterdir()):
            if not overwrite:
                raise ArchiveError(
                    f"{self.root} is not empty and is not an archive output folder; "
                    "choose an empty or new --out folder (or --overwrite to write into it)"
                )
        write_json_atomic(
            stamp_path,
            {
                "artifact": artifact,
                "manifest_sha256": digest,
                "archive_root": printable(archive_root),
                "layout": f"{DETECTIONS_DIR}/site=SITE/date=YYYY-MM-DD/NAME.parquet (one file per recording)",
                "time_rule": TIME_RULE,
                "site_rule": SITE_RULE,
                "night_rule": NIGHT_RULE,
            },
        )

    # -- resume --------------------------------------------------------------------------------------------
    def existing(self) -> dict[str, list[Path]]:
        """Result files by name (one walk of the folder); leftover temporaries of a killed run are removed."""
        found: dict[str, list[Path]] = {}
        if not self.detections.exists():
            return found
        for folder, _, names in os.walk(self.detections):
            for name in names:
                if name.startswith(".") and name.endswith(".tmp"):
                    Path(folder, name).unlink(missing_ok=True)
                elif name.endswith(".parquet"):
                    found.setdefault(name, []).append(Path(folder, name))
        return found

    def is_done(self, plan: FilePlan, digest: str, existing: dict[str, list[Path]]) -> bool:
        """True when this recording (same size and mtime) already has results from this artifact.

        Other result files of the same recording (older artifact, changed file, moved partition) are removed,
        so the file's rows are never counted twice.
        """
        done = False
        target = self.output_path(plan)
        for candidate in existing.get(plan.output_name, []):
            if candidate == target and not done and _matches(candidate, plan, digest):
                done = True
            else:
                candidate.unlink(missing_ok=True)
        return done

    def write(self, plan: FilePlan, result: FilePrediction, digest: str) -> Path:
        table = rows_table(plan, result).replace_schema_metadata(
            {
                _META_HASH: digest.encode(),
                _META_SIZE: str(plan.size).encode(),
                _META_MTIME: str(plan.mtime_ns).encode(),
                _META_PATH: printable(plan.relative).encode(),
            }
        )
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        return write_bytes_atomic(self.output_path(plan), buffer.getvalue())

    # -- reading back --------------------------------------------------------------------------------------
    def table(self, columns: list[str] | None = None) -> pa.Table:
        """All rows (plus ``site`` and ``date`` from the partitions); empty when nothing was written."""
        if not self.detections.exists() or not any(self.detections.rglob("*.parquet")):
            return pa.Table.from_pylist([], schema=SCHEMA)
        dataset = ds.dataset(
            self.detections,
            format="parquet",
            partitioning=PARTITIONING,
            exclude_invalid_files=False,
            ignore_prefixes=[".", "_"],
        )
        return dataset.to_table(columns=columns)

    def predictions(self) -> Iterator[FilePrediction]:
        """The rows back as ``FilePrediction``s, by path then time: what the CSV and Raven writers take."""
        table = self.table(list(SCHEMA.names)).sort_by([("path", "ascending"), ("start_s", "ascending")])
        current: FilePrediction | None = None
        for row in table.to_pylist():
            if current is None or current.file != row["path"]:
                if current is not None:
                    yield current
                current = FilePrediction(row["path"])
            if row["error"]:
                current.error = row["error"]
            elif row["label"] is not None:
                current.detections.append(
                    Detection(
                        row["start_s"],
                        row["end_s"],
                        row["label"],
                        row["confidence"],
                        row["source"],
                        [(item["label"], item["probability"]) for item in row["top_k"]],
                        bool(row["fallback_failed"]),
                    )
                )
        if current is not None:
            yield current


def _matches(path: Path, plan: FilePlan, digest: str) -> bool:
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return False  # unreadable: redone
    return (
        metadata.get(_META_HASH) == digest.encode()
        and metadata.get(_META_SIZE) == str(plan.size).encode()
        and metadata.get(_META_MTIME) == str(plan.mtime_ns).encode()
    )

"""The seed's ``ModelQuantizationPipeline().quantize_all_models()``: export + INT8 every trained run found.

Kept as a thin loop over ``export_run`` so the old entry point and the CLI/web share one implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nightscan_edge.artifact import validate_formats
from nightscan_edge.checkpoint import BEST_CHECKPOINT, LAST_CHECKPOINT
from nightscan_edge.export.pipeline import export_run

DEFAULT_FORMATS = ("onnx", "tflite")


class ModelQuantizationPipeline:
    def __init__(
        self,
        runs_dir: str | Path = "runs",
        formats: tuple[str, ...] | list[str] = DEFAULT_FORMATS,
        int8: bool = True,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.runs_dir = Path(runs_dir)
        self.formats = [f.name for f in validate_formats(list(formats))]
        self.int8 = int8
        self.progress = progress or (lambda message: None)

    def trained_runs(self) -> list[Path]:
        """Run folders holding a checkpoint (directly under ``runs_dir``), in name order."""
        if not self.runs_dir.is_dir():
            raise FileNotFoundError(f"runs folder {self.runs_dir} does not exist; train a model first")
        return sorted(
            p
            for p in self.runs_dir.iterdir()
            if p.is_dir() and ((p / BEST_CHECKPOINT).is_file() or (p / LAST_CHECKPOINT).is_file())
        )

    def quantize_all_models(self) -> dict[str, dict[str, Any]]:
        """``{run_id: {"export_dir", "ok", "formats": {format: {precision: {status, file, size_bytes, error}}}}}``.

        A run whose export raises (e.g. an unreadable checkpoint) is recorded with its error; the others go on.
        """
        results: dict[str, dict[str, Any]] = {}
        for run_dir in self.trained_runs():
            self.progress(f"exporting {run_dir.name}")
            try:
                report = export_run(run_dir, self.formats, int8=self.int8, progress=self.progress)
            except Exception as error:  # recorded per run; one broken run must not stop the batch
                results[run_dir.name] = {"ok": False, "error": f"{type(error).__name__}: {error}", "formats": {}}
                continue
            formats: dict[str, dict[str, Any]] = {}
            for artifact in report.artifacts:
                formats.setdefault(artifact.format, {})[artifact.precision] = {
                    "status": artifact.status,
                    "file": artifact.file,
                    "size_bytes": artifact.size_bytes,
                    "error": artifact.error,
                    "parity": artifact.parity,
                    "gate": artifact.gate,
                }
            results[run_dir.name] = {"ok": report.ok, "export_dir": str(report.out_dir), "formats": formats}
        return results

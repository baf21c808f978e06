"""Export: one table of formats, exporters (ONNX, LiteRT, Core ML, ExecuTorch), manifest inside every file,
parity, INT8 with a quality gate, temperature calibration and the bundle.

Light names (the format table, manifest reading) import without torch; ``export_run`` loads lazily.
"""

from __future__ import annotations

from typing import Any

from nightscan_edge.export.errors import ExportError, ManifestError
from nightscan_edge.export.formats import FORMATS, ExportFormat, validate_formats
from nightscan_edge.export.manifest import read_manifest

__all__ = [
    "FORMATS",
    "ExportError",
    "ExportFormat",
    "ExportReport",
    "ManifestError",
    "ModelQuantizationPipeline",
    "export_run",
    "read_manifest",
    "validate_formats",
]


def __getattr__(name: str) -> Any:
    if name in ("export_run", "ExportReport", "ArtifactResult"):
        from nightscan_edge.export import pipeline

        return getattr(pipeline, name)
    if name == "ModelQuantizationPipeline":
        from nightscan_edge.export.facade import ModelQuantizationPipeline

        return ModelQuantizationPipeline
    raise AttributeError(f"module 'nightscan_edge.export' has no attribute {name!r}")

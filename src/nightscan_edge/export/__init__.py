"""Export: a trained run -> artifacts of every requested format, the manifest inside every file, parity,
INT8 with a quality gate, temperature calibration and the bundle.

What a format *is* (the table, the manifest, reading a file) lives in ``nightscan_edge.artifact``, which
imports without torch; this package does the work and needs torch (and the ``[export]`` extra).
"""

from __future__ import annotations

from nightscan_edge.artifact import FORMATS, ExportError, ManifestError, read_manifest, validate_formats
from nightscan_edge.artifact import ArtifactFormat as ExportFormat
from nightscan_edge.export.facade import ModelQuantizationPipeline
from nightscan_edge.export.pipeline import export_run
from nightscan_edge.export.report import ArtifactResult, ExportReport

__all__ = [
    "FORMATS",
    "ArtifactResult",
    "ExportError",
    "ExportFormat",
    "ExportReport",
    "ManifestError",
    "ModelQuantizationPipeline",
    "export_run",
    "read_manifest",
    "validate_formats",
]

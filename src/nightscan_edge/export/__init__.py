"""Export: a trained run -> artifacts of every requested format, the manifest inside every file, parity,
INT8 with a quality gate, temperature calibration and the bundle.

What a format *is* and does (the table; each format's converter, quantizer, manifest embedding and runner)
lives in ``nightscan_edge.artifact``, which imports without torch; this package is the pipeline over that
table -- calibration, the INT8 quality gate, parity, the bundle and the report -- and needs torch (and the
``[export]`` extra). It imports ``artifact``, never the reverse.
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

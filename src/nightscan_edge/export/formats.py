"""The format table, re-exported from its home ``nightscan_edge.artifact`` for callers written against it.

``ExportFormat`` is the old name of ``ArtifactFormat`` (one row: data and behaviour of one format).
"""

from __future__ import annotations

from nightscan_edge.artifact import (
    ARTIFACT_SUFFIXES,
    EXPORT_EXTRA,
    FORMATS,
    format_for_path,
    validate_formats,
)
from nightscan_edge.artifact import ArtifactFormat as ExportFormat

__all__ = ["ARTIFACT_SUFFIXES", "EXPORT_EXTRA", "FORMATS", "ExportFormat", "format_for_path", "validate_formats"]

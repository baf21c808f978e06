"""Errors of the export step; they live in ``nightscan_edge.artifact.errors`` (shared with runtime and predict)."""

from __future__ import annotations

from nightscan_edge.artifact.errors import ExportError, ManifestError

__all__ = ["ExportError", "ManifestError"]

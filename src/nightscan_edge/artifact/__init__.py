"""Exported artifacts, the ground floor under export, runtime, predict, bench and web.

``FORMATS`` is the one format table: each row an ``ArtifactFormat`` object registered from its own file
(``onnx``, ``tflite``, ``coreml``, ``executorch``, in the order of their ``rank``) that knows its
suffix, runtime, INT8 support and extra, and how to export, quantize, embed and read its manifest and open
a runner. ``Manifest`` is the typed manifest every artifact carries. Importing this package loads neither
torch nor a runtime: those come when a format is used.
"""

from __future__ import annotations

from nightscan_edge.artifact import coreml, executorch, onnx, tflite  # noqa: F401  registers the rows (ordered by rank)
from nightscan_edge.artifact.backend import (
    EXPORT_EXTRA,
    FORMATS,
    ArtifactFormat,
    artifact_suffixes,
    format_by_suffix,
    format_for_path,
    portable_formats,
    register_format,
    validate_formats,
)
from nightscan_edge.artifact.errors import ExportError, ManifestError, RuntimeUnavailableError
from nightscan_edge.artifact.manifest import (
    LABELS_FILE,
    MANIFEST_FILE,
    MANIFEST_KEY,
    ExportManifest,
    Manifest,
    load_manifest,
    read_manifest,
)

# Runtimes this package can load for parity checks and benchmarks (Core ML needs macOS).
ARTIFACT_SUFFIXES = artifact_suffixes()

__all__ = [
    "ARTIFACT_SUFFIXES",
    "EXPORT_EXTRA",
    "FORMATS",
    "LABELS_FILE",
    "MANIFEST_FILE",
    "MANIFEST_KEY",
    "ArtifactFormat",
    "ExportError",
    "ExportManifest",
    "Manifest",
    "ManifestError",
    "RuntimeUnavailableError",
    "artifact_suffixes",
    "format_by_suffix",
    "format_for_path",
    "load_manifest",
    "portable_formats",
    "read_manifest",
    "register_format",
    "validate_formats",
]

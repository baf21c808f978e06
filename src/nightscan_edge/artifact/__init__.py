"""Exported artifacts: the floor above models/ and under export, runtime, predict, bench and web.

``FORMATS`` is the one format table: each row an ``ArtifactFormat`` object registered from its own file
(``onnx``, ``tflite``, ``coreml``, ``executorch``, in the order of their ``rank``) that knows its
suffix, runtime, INT8 support and extra, and how to export, quantize, embed and read its manifest and open
a runner -- the converter, quantizer, manifest embedding and runner of a format all live in that one file.
``Manifest`` is the typed manifest every artifact carries, ``Runner`` the interface every runner answers,
``wrapper.ExportableClassifier`` what every converter takes. Importing this package loads neither torch nor
a runtime: those come when a format is used. Nothing here imports export, runtime or any floor above.
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
    INPUT_NAME,
    LABELS_FILE,
    MANIFEST_FILE,
    MANIFEST_KEY,
    OUTPUT_NAME,
    ExportManifest,
    Manifest,
    load_manifest,
    read_manifest,
)
from nightscan_edge.artifact.runner import Runner

# Runtimes this package can load for parity checks and benchmarks (Core ML needs macOS).
ARTIFACT_SUFFIXES = artifact_suffixes()

__all__ = [
    "ARTIFACT_SUFFIXES",
    "EXPORT_EXTRA",
    "FORMATS",
    "INPUT_NAME",
    "LABELS_FILE",
    "MANIFEST_FILE",
    "MANIFEST_KEY",
    "OUTPUT_NAME",
    "ArtifactFormat",
    "ExportError",
    "ExportManifest",
    "Manifest",
    "ManifestError",
    "Runner",
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

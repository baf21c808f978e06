"""The manifest helpers, re-exported from their home ``nightscan_edge.artifact`` for callers written against them.

The typed model is ``nightscan_edge.artifact.Manifest``; where each format keeps it is the format's row.
"""

from __future__ import annotations

from nightscan_edge.artifact.containers import (
    coreml_spec_path,
    coreml_user_metadata,
    embed_appended_zip,
    strip_appended_zip,
)
from nightscan_edge.artifact.manifest import (
    LABELS_FILE,
    MANIFEST_FILE,
    MANIFEST_KEY,
    build_manifest,
    manifest_json,
    read_manifest,
)
from nightscan_edge.artifact.onnx import embed_onnx

__all__ = [
    "LABELS_FILE",
    "MANIFEST_FILE",
    "MANIFEST_KEY",
    "build_manifest",
    "coreml_spec_path",
    "coreml_user_metadata",
    "embed_appended_zip",
    "embed_onnx",
    "manifest_json",
    "read_manifest",
    "strip_appended_zip",
]

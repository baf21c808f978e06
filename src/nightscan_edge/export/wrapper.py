"""The export wrapper and tensor names, re-exported from their home ``nightscan_edge.artifact`` for callers
written against this module."""

from __future__ import annotations

from nightscan_edge.artifact.manifest import INPUT_NAME, OUTPUT_NAME
from nightscan_edge.artifact.wrapper import ExportableClassifier, example_input

__all__ = ["INPUT_NAME", "OUTPUT_NAME", "ExportableClassifier", "example_input"]

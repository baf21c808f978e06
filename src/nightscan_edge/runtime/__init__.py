"""One runner per runtime behind ``load_runner(path)``: ONNX Runtime, LiteRT, ExecuTorch (Core ML: macOS).

Which runner opens a file is the format table's answer (``nightscan_edge.artifact``); this package holds the
runners and their one interface, and knows nothing about exporting.
"""

from __future__ import annotations

from pathlib import Path

from nightscan_edge.artifact import format_for_path, read_manifest
from nightscan_edge.runtime.base import Runner, RuntimeUnavailableError

__all__ = ["Runner", "RuntimeUnavailableError", "load_runner"]


def load_runner(path: str | Path, threads: int | None = None) -> Runner:
    """Open an exported model in its runtime. Refuses files without an embedded manifest (``ManifestError``).

    ``threads``: intra-op threads (None = the runtime's default).
    """
    path = Path(path)
    fmt = format_for_path(path)
    return fmt.open_runner(path, read_manifest(path), threads)

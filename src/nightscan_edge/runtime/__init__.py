"""``load_runner(path)``: any exported model opened in its own runtime (ONNX Runtime, LiteRT, ExecuTorch; Core ML
on macOS), behind one interface (``Runner``: ``manifest``, ``predict(x) -> probabilities``, ``dynamic_batch``).

Which runner opens a file is the format table's answer: each format's runner lives in its own file under
``nightscan_edge.artifact``. This is the one door the floors above (export's parity check, bench, predict)
use to run a file; it knows nothing about exporting.
"""

from __future__ import annotations

from pathlib import Path

from nightscan_edge.artifact import RuntimeUnavailableError, format_for_path, read_manifest
from nightscan_edge.artifact.runner import Runner

__all__ = ["Runner", "RuntimeUnavailableError", "load_runner"]


def load_runner(path: str | Path, threads: int | None = None) -> Runner:
    """Open an exported model in its runtime. Refuses files without an embedded manifest (``ManifestError``).

    ``threads``: intra-op threads (None = the runtime's default).
    """
    path = Path(path)
    fmt = format_for_path(path)
    return fmt.open_runner(path, read_manifest(path), threads)

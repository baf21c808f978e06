"""One runner per runtime behind ``load_runner(path)``: ONNX Runtime, LiteRT, ExecuTorch (Core ML: macOS)."""

from __future__ import annotations

import platform
from pathlib import Path

from nightscan_edge.runtime.base import Runner, RuntimeUnavailableError

__all__ = ["Runner", "RuntimeUnavailableError", "load_runner"]


def load_runner(path: str | Path, threads: int | None = None) -> Runner:
    """Open an exported model in its runtime. Refuses files without an embedded manifest (``ManifestError``).

    ``threads``: intra-op threads (None = the runtime's default).
    """
    from nightscan_edge.export.formats import format_for_path
    from nightscan_edge.export.manifest import read_manifest

    path = Path(path)
    fmt = format_for_path(path)
    manifest = read_manifest(path)
    if fmt.name == "onnx":
        from nightscan_edge.runtime.onnx_runner import OnnxRunner

        return OnnxRunner(path, manifest, threads)
    if fmt.name == "tflite":
        from nightscan_edge.runtime.litert_runner import LiteRTRunner

        return LiteRTRunner(path, manifest, threads)
    if fmt.name == "executorch":
        from nightscan_edge.runtime.executorch_runner import ExecuTorchRunner

        return ExecuTorchRunner(path, manifest, threads)
    if platform.system() != "Darwin":
        raise RuntimeUnavailableError(
            f"{path.name}: Core ML models run only on macOS/iOS; this is {platform.system()}. "
            "Use the .onnx, .tflite or .pte file here."
        )
    from nightscan_edge.runtime.coreml_runner import CoreMLRunner

    return CoreMLRunner(path, manifest, threads)

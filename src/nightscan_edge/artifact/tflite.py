"""LiteRT (TFLite) flatbuffer via litert-torch, batch 1, INT8 via ai-edge-quantizer with float in/out; the
manifest in a zip appended to the file (TFLite Metadata convention), run with ai-edge-litert."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nightscan_edge.artifact.backend import EXPORT_EXTRA, register_format
from nightscan_edge.artifact.containers import AppendedZipFormat

if TYPE_CHECKING:
    import torch

    from nightscan_edge.export.wrapper import ExportableClassifier
    from nightscan_edge.runtime.base import Runner


class LiteRTFormat(AppendedZipFormat):
    def export(self, module: ExportableClassifier, example: torch.Tensor, path: Path, labels: list[str]) -> bool:
        from nightscan_edge.export import tflite_format  # torch + litert-torch, the [export] extra

        return tflite_format.export_tflite(module, example, path)

    def quantize(
        self,
        fp32_path: Path,
        int8_path: Path,
        module: ExportableClassifier,
        example: torch.Tensor,
        calibration: np.ndarray,
        keep_float: tuple[str, ...] = (),
    ) -> bool:
        from nightscan_edge.export import tflite_format  # torch + ai-edge-quantizer, the [export] extra

        tflite_format.quantize_tflite(fp32_path, int8_path, calibration)
        return False

    def open_runner(self, path: Path, manifest: dict[str, Any], threads: int | None) -> Runner:
        from nightscan_edge.runtime.litert_runner import LiteRTRunner  # ai-edge-litert, the [export] extra

        return LiteRTRunner(path, manifest, threads)


LITERT = register_format(
    LiteRTFormat(
        "tflite",
        ".tflite",
        "ai-edge-litert",
        True,
        EXPORT_EXTRA,
        ("litert_torch", "ai_edge_litert"),
        "LiteRT (TFLite) flatbuffer via litert-torch; INT8 via ai-edge-quantizer, float in/out",
        manifest_location="LiteRT: the file ends with a zip archive holding `manifest.json` and `labels.txt` "
        "(the TFLite Metadata convention: any zip reader opens the .tflite directly)",
        rank=20,  # the Android runtime
    )
)

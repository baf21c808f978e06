"""ExecuTorch program lowered to XNNPACK (.pte, batch 1), INT8 via the PT2E XNNPACK quantizer; the manifest in
a zip appended to the file (the loader reads the program through offsets and ignores it)."""

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


class ExecuTorchFormat(AppendedZipFormat):
    def export(self, module: ExportableClassifier, example: torch.Tensor, path: Path, labels: list[str]) -> bool:
        from nightscan_edge.export import executorch_format  # torch + executorch, the [export] extra

        return executorch_format.export_executorch(module, example, path)

    def quantize(
        self,
        fp32_path: Path,
        int8_path: Path,
        module: ExportableClassifier,
        example: torch.Tensor,
        calibration: np.ndarray,
        keep_float: tuple[str, ...] = (),
    ) -> bool:
        from nightscan_edge.export import executorch_format  # torch + executorch, the [export] extra

        executorch_format.quantize_executorch(module, example, int8_path, calibration)
        return False

    def open_runner(self, path: Path, manifest: dict[str, Any], threads: int | None) -> Runner:
        from nightscan_edge.runtime.executorch_runner import ExecuTorchRunner  # executorch, the [export] extra

        return ExecuTorchRunner(path, manifest, threads)


EXECUTORCH = register_format(
    ExecuTorchFormat(
        "executorch",
        ".pte",
        "executorch",
        True,
        EXPORT_EXTRA,
        ("executorch",),
        "ExecuTorch program lowered to XNNPACK; INT8 via PT2E XNNPACK quantizer",
        manifest_location="ExecuTorch: the .pte ends with a zip archive holding `manifest.json` and `labels.txt`; "
        "the runtime ignores it",
        rank=40,  # PyTorch's own on-device runtime
    )
)

"""Core ML ML Program (.mlpackage folder) for iOS 16+, INT8 = per-channel weight quantization; the manifest in
the spec's user metadata. Converts anywhere, predicts only on macOS: here the file's structure is checked
and the INT8 gate runs on a PyTorch copy with the same INT8 weights."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nightscan_edge.artifact.backend import EXPORT_EXTRA, ArtifactFormat, register_format
from nightscan_edge.artifact.containers import read_coreml_manifest
from nightscan_edge.artifact.errors import RuntimeUnavailableError

if TYPE_CHECKING:
    import torch

    from nightscan_edge.export.wrapper import ExportableClassifier
    from nightscan_edge.runtime.base import Runner


class CoreMLFormat(ArtifactFormat):
    def export(self, module: ExportableClassifier, example: torch.Tensor, path: Path, labels: list[str]) -> bool:
        from nightscan_edge.export import coreml_format  # torch + coremltools, the [export] extra

        return coreml_format.export_coreml(module, example, path, labels)

    def quantize(
        self,
        fp32_path: Path,
        int8_path: Path,
        module: ExportableClassifier,
        example: torch.Tensor,
        calibration: np.ndarray,
        keep_float: tuple[str, ...] = (),
    ) -> bool:
        from nightscan_edge.export import coreml_format  # coremltools, the [export] extra

        coreml_format.quantize_coreml(fp32_path, int8_path)
        return False

    def embed_manifest(self, path: Path, manifest: dict[str, Any]) -> None:
        from nightscan_edge.export import coreml_format  # coremltools' protobuf classes, the [export] extra

        coreml_format.embed_coreml(path, manifest)

    def read_manifest(self, path: Path) -> dict[str, Any]:
        return read_coreml_manifest(path)

    def open_runner(self, path: Path, manifest: dict[str, Any], threads: int | None) -> Runner:
        if platform.system() != "Darwin":
            raise RuntimeUnavailableError(
                f"{path.name}: Core ML models run only on macOS/iOS; this is "
                f"{platform.system()}. Use the .onnx, .tflite or .pte file here."
            )
        from nightscan_edge.runtime.coreml_runner import CoreMLRunner  # coremltools, macOS only

        return CoreMLRunner(path, manifest, threads)

    def check_structure(self, path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
        from nightscan_edge.export import coreml_format  # coremltools' protobuf classes, the [export] extra

        return coreml_format.check_coreml_spec(path, manifest)

    def simulate_int8(self, module: ExportableClassifier) -> tuple[ExportableClassifier, str]:
        from nightscan_edge.export import coreml_format  # torch

        # Weight-only INT8 dequantizes to float at run time, so this copy computes what Core ML computes.
        return (
            coreml_format.simulate_weight_int8(module),
            "PyTorch with the same per-channel INT8 weights; Core ML predicts only on macOS",
        )


COREML = register_format(
    CoreMLFormat(
        "coreml",
        ".mlpackage",
        "coremltools (macOS/iOS only)",
        True,
        EXPORT_EXTRA,
        ("coremltools",),
        "Core ML ML Program for iOS 16+; INT8 = per-channel weight quantization",
        manifest_location='Core ML: `model.modelDescription.metadata[.creatorDefinedKey]["nightscan_manifest"]`; '
        "class labels are the classifier's labels",
        unavailable_reason="Core ML predicts only on macOS/iOS",
        rank=30,  # the iOS format
    )
)

"""LiteRT (TFLite) flatbuffer via litert-torch, batch 1, INT8 via ai-edge-quantizer with float in/out; the
manifest in a zip appended to the file (TFLite Metadata convention), run with ai-edge-litert.

litert-torch converts with a fixed batch of 1 (the on-device use); the runner loops over larger batches.
The converters and the runtime are imported inside the functions that use them: the format table loads
without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nightscan_edge.artifact.backend import EXPORT_EXTRA, register_format
from nightscan_edge.artifact.containers import AppendedZipFormat
from nightscan_edge.artifact.runner import Runner, check_input, run_per_sample
from nightscan_edge.artifact.tflite_int8 import _quiet, quantize_tflite
from nightscan_edge.quiet import native_noise_filtered

if TYPE_CHECKING:  # annotations only: torch loads when the format is used
    import torch

    from nightscan_edge.artifact.wrapper import ExportableClassifier


# ---------------------------------------------------------------- export
def export_tflite(module: ExportableClassifier, example: torch.Tensor, path: Path) -> bool:
    """Write ``path``; returns False (batch fixed to 1)."""
    import litert_torch  # the [export] extra

    with _quiet():
        edge_model = litert_torch.convert(module, (example[:1],))
        edge_model.export(str(path))
    return False


# ---------------------------------------------------------------- runner
class LiteRTRunner:
    """``ai_edge_litert.interpreter.Interpreter`` with the XNNPACK CPU delegate."""

    format = "tflite"

    def __init__(self, path: Path, manifest: dict[str, Any], threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter  # the [export] extra

        self.path, self.manifest = path, manifest
        self.interpreter = Interpreter(model_path=str(path), num_threads=threads or None)
        with native_noise_filtered():  # the XNNPACK banner the C++ runtime prints on the first allocation
            self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        signature = self._input.get("shape_signature", self._input["shape"])
        self.dynamic_batch = int(signature[0]) == -1
        self._batch = int(self._input["shape"][0])

    def _run(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0] != self._batch:
            self.interpreter.resize_tensor_input(self._input["index"], list(x.shape))
            self.interpreter.allocate_tensors()
            self._batch = x.shape[0]
        self.interpreter.set_tensor(self._input["index"], x)
        self.interpreter.invoke()
        return np.array(self.interpreter.get_tensor(self._output["index"]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = check_input(x, self.manifest)
        if self.dynamic_batch:
            return self._run(x)
        return run_per_sample(self._run, x)


# ---------------------------------------------------------------- the row
class LiteRTFormat(AppendedZipFormat):
    def export(self, module: ExportableClassifier, example: torch.Tensor, path: Path, labels: list[str]) -> bool:
        return export_tflite(module, example, path)

    def quantize(
        self,
        fp32_path: Path,
        int8_path: Path,
        module: ExportableClassifier,
        example: torch.Tensor,
        calibration: np.ndarray,
        keep_float: tuple[str, ...] = (),
    ) -> bool:
        quantize_tflite(fp32_path, int8_path, calibration, keep_float)
        return False

    def sensitive_layers(self, fp32_path: Path, calibration: np.ndarray) -> list[str]:
        from nightscan_edge.artifact.tflite_sensitivity import rank_sensitive_ops

        return [scope for scope, _ in rank_sensitive_ops(fp32_path, calibration)]

    def open_runner(self, path: Path, manifest: dict[str, Any], threads: int | None) -> Runner:
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

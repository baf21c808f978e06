"""ExecuTorch program lowered to XNNPACK (.pte, batch 1), INT8 via the PT2E XNNPACK quantizer; the manifest in
a zip appended to the file (the loader reads the program through offsets from the start of the file and
ignores it). torch and executorch are imported inside the functions that use them: the format table loads
without them.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nightscan_edge.artifact.backend import EXPORT_EXTRA, register_format
from nightscan_edge.artifact.containers import AppendedZipFormat
from nightscan_edge.artifact.runner import Runner, check_input, run_per_sample

if TYPE_CHECKING:  # annotations only: torch loads when the format is used
    import torch

    from nightscan_edge.artifact.wrapper import ExportableClassifier


# ---------------------------------------------------------------- export
def _with_persistent_buffers(module: ExportableClassifier) -> ExportableClassifier:
    """A copy whose non-persistent buffers (the LogMel DFT/mel tables) are ordinary buffers.

    ExecuTorch 1.5's constant dim-order pass fails on non-persistent buffers lifted by ``torch.export``
    ("Missing input spec for lifted tensor model.log_mel.mel_basis_t"); as ordinary buffers they are
    baked into the program as constants like any weight.
    """
    copied = copy.deepcopy(module)
    for submodule in copied.modules():
        submodule._non_persistent_buffers_set.clear()
    return copied


def _lower(exported: torch.export.ExportedProgram) -> bytes:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner  # the [export] extra
    from executorch.exir import to_edge_transform_and_lower

    program: bytes = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()]).to_executorch().buffer
    return program


def export_executorch(module: ExportableClassifier, example: torch.Tensor, path: Path) -> bool:
    """Write the FP32 .pte; returns False (batch fixed to 1)."""
    import torch  # kept out of the format table's import (it loads without torch)

    example = example[:1]
    path.write_bytes(_lower(torch.export.export(_with_persistent_buffers(module), (example,))))
    return False


# ---------------------------------------------------------------- INT8
def quantize_executorch(
    module: ExportableClassifier, example: torch.Tensor, path: Path, calibration: np.ndarray
) -> None:
    """Static INT8 (per-channel symmetric weights) with the XNNPACK quantizer, calibrated on training samples."""
    import torch  # kept out of the format table's import (it loads without torch)
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (  # the [export] extra
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    example = example[:1]
    float_module = _with_persistent_buffers(module)
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(torch.export.export(float_module, (example,)).module(), quantizer)
    with torch.no_grad():
        for i in range(len(calibration)):
            prepared(torch.from_numpy(calibration[i : i + 1].astype(np.float32)))
    converted = convert_pt2e(prepared)
    path.write_bytes(_lower(torch.export.export(converted, (example,))))


# ---------------------------------------------------------------- runner
class ExecuTorchRunner:
    """``executorch.runtime``; the .pte carries its XNNPACK-delegated graph."""

    format = "executorch"
    # Programs are exported with a fixed batch of 1: dynamic shapes through the XNNPACK delegate still
    # fail for the waveform front-end's reshapes in ExecuTorch 1.x.
    dynamic_batch = False

    def __init__(self, path: Path, manifest: dict[str, Any], threads: int | None = None) -> None:
        import torch  # kept out of the format table's import (it loads without torch)
        from executorch.runtime import Runtime, Verification  # the [export] extra

        self.path, self.manifest = path, manifest
        self._torch = torch
        if threads:
            torch.set_num_threads(threads)  # the portable kernels' pool; XNNPACK sizes its own from it
        program = Runtime.get().load_program(path, verification=Verification.Minimal)
        self.method = program.load_method("forward")

    def _run(self, x: np.ndarray) -> np.ndarray:
        outputs = self.method.execute([self._torch.from_numpy(x)])
        result: np.ndarray = outputs[0].detach().numpy().copy()
        return result

    def predict(self, x: np.ndarray) -> np.ndarray:
        return run_per_sample(self._run, check_input(x, self.manifest))


# ---------------------------------------------------------------- the row
class ExecuTorchFormat(AppendedZipFormat):
    def export(self, module: ExportableClassifier, example: torch.Tensor, path: Path, labels: list[str]) -> bool:
        return export_executorch(module, example, path)

    def quantize(
        self,
        fp32_path: Path,
        int8_path: Path,
        module: ExportableClassifier,
        example: torch.Tensor,
        calibration: np.ndarray,
        keep_float: tuple[str, ...] = (),
    ) -> bool:
        quantize_executorch(module, example, int8_path, calibration)
        return False

    def open_runner(self, path: Path, manifest: dict[str, Any], threads: int | None) -> Runner:
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

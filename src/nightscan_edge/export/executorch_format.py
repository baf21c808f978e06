"""ExecuTorch export: ``torch.export`` -> XNNPACK-lowered program (.pte); INT8 via the PT2E XNNPACK quantizer.

The program has a fixed batch of 1. The manifest travels in a zip appended to the .pte (see manifest.py):
the ExecuTorch loader reads the program through offsets from the start of the file and ignores it.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from nightscan_edge.export.wrapper import ExportableClassifier


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
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    return to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()]).to_executorch().buffer


def export_executorch(module: ExportableClassifier, example: torch.Tensor, path: Path) -> bool:
    """Write the FP32 .pte; returns False (batch fixed to 1)."""
    example = example[:1]
    path.write_bytes(_lower(torch.export.export(_with_persistent_buffers(module), (example,))))
    return False


def quantize_executorch(
    module: ExportableClassifier, example: torch.Tensor, path: Path, calibration: np.ndarray
) -> None:
    """Static INT8 (per-channel symmetric weights) with the XNNPACK quantizer, calibrated on training samples."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
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

"""LiteRT (TFLite) export with litert-torch, and static INT8 with ai-edge-quantizer (float input/output kept).

litert-torch converts with a fixed batch of 1 (the on-device use); the runner loops over larger batches.
"""
from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import numpy as np
import torch

from nightscan_edge.export.wrapper import ExportableClassifier

SIGNATURE = "serving_default"


@contextlib.contextmanager
def _quiet():
    """The converters print progress tables to stdout; keep the CLI output to our own summary."""
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            yield
        finally:
            logging.disable(previous)


def export_tflite(module: ExportableClassifier, example: torch.Tensor, path: Path) -> bool:
    """Write ``path``; returns False (batch fixed to 1)."""
    import litert_torch

    with _quiet():
        edge_model = litert_torch.convert(module, (example[:1],))
        edge_model.export(str(path))
    return False


def quantize_tflite(fp32_path: Path, int8_path: Path, calibration: np.ndarray) -> None:
    """Static INT8 weights + activations (min/max calibrated on training samples); float in/out stays."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe

    from nightscan_edge.export.manifest import strip_appended_zip

    float_model = strip_appended_zip(fp32_path.read_bytes())
    signature = Interpreter(model_content=float_model).get_signature_list()[SIGNATURE]
    input_name = signature["inputs"][0]
    model_quantizer = quantizer.Quantizer(bytearray(float_model))
    model_quantizer.load_quantization_recipe(recipe.static_wi8_ai8())
    samples = [{input_name: calibration[i : i + 1].astype(np.float32)} for i in range(len(calibration))]
    with _quiet():
        calibration_result = model_quantizer.calibrate({SIGNATURE: samples}, num_threads=1)
        result = model_quantizer.quantize(calibration_result, enable_progress_report=False)
    int8_path.write_bytes(bytes(result.quantized_model))

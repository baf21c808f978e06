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
    """The converters print progress tables and bars; keep the CLI output to our own summary."""
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
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


def _static_int8_recipe():
    """INT8 weights + activations everywhere except the LogMel front-end and the model's input/output.

    Quantizing the front-end fails twice: its DFT tables become FULLY_CONNECTED weights quantized along
    dimension 1, which the LiteRT kernel refuses ("quantized_dimension != 0"), and a dB scale squeezed
    into 8 bits loses quiet calls. Later rules win in ai-edge-quantizer, so the exclusion comes last;
    litert-torch names every tensor after its module path, hence the ``LogMel`` scope.
    """
    from ai_edge_quantizer import algorithm_manager, qtyping, recipe_manager

    manager = recipe_manager.RecipeManager()
    manager.add_static_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                              activation_num_bits=8, weight_num_bits=8,
                              algorithm_key=algorithm_manager.AlgorithmName.MIN_MAX_UNIFORM_QUANT)
    manager.add_quantization_config(regex=".*LogMel.*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                    algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE)
    for boundary in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
        # float input/output: the app feeds samples/pixels and reads probabilities without (de)quantizing
        manager.add_quantization_config(regex="(.*)", operation_name=boundary,
                                        algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE)
    return manager.get_quantization_recipe()


def quantize_tflite(fp32_path: Path, int8_path: Path, calibration: np.ndarray) -> None:
    """Static INT8 weights + activations (min/max calibrated on training samples); float in/out stays."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer

    from nightscan_edge.export.manifest import strip_appended_zip

    float_model = strip_appended_zip(fp32_path.read_bytes())
    signature = Interpreter(model_content=float_model).get_signature_list()[SIGNATURE]
    input_name = signature["inputs"][0]
    model_quantizer = quantizer.Quantizer(bytearray(float_model))
    model_quantizer.load_quantization_recipe(_static_int8_recipe())
    samples = [{input_name: calibration[i : i + 1].astype(np.float32)} for i in range(len(calibration))]
    with _quiet():
        calibration_result = model_quantizer.calibrate({SIGNATURE: samples}, num_threads=1)
        result = model_quantizer.quantize(calibration_result, enable_progress_report=False)
    int8_path.write_bytes(bytes(result.quantized_model))

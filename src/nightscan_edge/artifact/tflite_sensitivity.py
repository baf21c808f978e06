"""Which ops of a LiteRT file INT8 hurts most: the ranking behind the exporter's accuracy-aware retry
(``export.int8_float_fallback``) for LiteRT, as ``rank_sensitive_nodes`` is for ONNX.

When the all-INT8 file fails the quality gate (often one rare-class input of a handful changing class), the
retry keeps the 1, 2, ... most sensitive weighted ops in float. The ranking is the one accuracy-aware tools use
(op-wise fallback): each candidate op alone quantized, the file's output compared with FP32's (mean KL) on
training inputs -- never on the validation split the gate judges. One calibration serves every candidate:
ai-edge-quantizer keeps the ranges of all tensors (its default calibration mode), so each candidate costs one
quantization and a few dozen batch-1 runs (~0.1 s an op for ultralight_audio on one core).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from nightscan_edge.artifact.containers import strip_appended_zip
from nightscan_edge.artifact.divergence import mean_kl
from nightscan_edge.artifact.tflite_int8 import (
    _FRONT_END_SCOPE,
    SIGNATURE,
    _quiet,
    calibrated_quantizer,
    keep_float,
    output_tail_scopes,
    signature_ops,
    stem_scopes,
    weighted_ops,
)

RANKING_SAMPLES = 64  # training inputs per candidate, as the ONNX ranking uses


def quantizable_scopes(float_model: bytes) -> list[str]:
    """Scopes of the weighted ops (convolutions, fully connected) the INT8 file quantizes, in execution order:
    all but the front-end's, the stem's and the output tail's, which stay float anyway (``_static_int8_recipe``)."""
    float_already = set(stem_scopes(float_model)) | set(output_tail_scopes(float_model))
    weighted = weighted_ops()
    scopes: list[str] = []
    for scope, code in signature_ops(float_model):
        if not scope or scope in float_already or re.search(_FRONT_END_SCOPE, scope):
            continue
        if code in weighted and scope not in scopes:
            scopes.append(scope)
    return scopes


def _single_op_recipe(scope: str) -> Any:
    """Everything float except the op whose scope is ``scope`` (INT8 weights and activations, as in the file)."""
    from ai_edge_quantizer import algorithm_manager, qtyping, recipe_manager  # the [export] extra

    manager = recipe_manager.RecipeManager()
    manager.add_quantization_config(
        regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
        algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE,
    )  # fmt: skip
    manager.add_static_config(
        regex=f"^{re.escape(scope)}$",
        operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
        activation_num_bits=8,
        weight_num_bits=8,
        algorithm_key=algorithm_manager.AlgorithmName.MIN_MAX_UNIFORM_QUANT,
    )
    keep_float(manager, [])  # float input and output, as the shipped file
    return manager.get_quantization_recipe()


def _outputs(model: bytes, inputs: np.ndarray) -> np.ndarray:
    """The model's output for each input, batch 1, one thread."""
    from ai_edge_litert.interpreter import Interpreter  # the [export] extra

    interpreter = Interpreter(model_content=model, num_threads=1)
    (name,) = interpreter.get_signature_list()[SIGNATURE]["inputs"]
    runner = interpreter.get_signature_runner(SIGNATURE)
    return np.stack([np.asarray(next(iter(runner(**{name: x[None]}).values())))[0] for x in inputs])


def rank_sensitive_ops(
    fp32_path: Path, calibration: np.ndarray, samples: int = RANKING_SAMPLES
) -> list[tuple[str, float]]:
    """``quantizable_scopes``, most sensitive first, each with its mean KL from FP32 when it alone is INT8."""
    float_model = strip_appended_zip(fp32_path.read_bytes())
    inputs = calibration[:samples].astype(np.float32)
    model_quantizer, ranges = calibrated_quantizer(float_model, calibration)  # one calibration for every candidate
    reference = _outputs(float_model, inputs)
    ranking = []
    for scope in quantizable_scopes(float_model):
        model_quantizer.load_quantization_recipe(_single_op_recipe(scope))
        with _quiet():
            single = bytes(model_quantizer.quantize(ranges, enable_progress_report=False).quantized_model)
        ranking.append((scope, mean_kl(reference, _outputs(single, inputs))))
    return sorted(ranking, key=lambda item: item[1], reverse=True)

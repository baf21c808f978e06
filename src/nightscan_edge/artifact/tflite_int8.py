"""LiteRT INT8 with ai-edge-quantizer: the recipe (front-end, stem and model input/output float), the
quantization itself, and the helpers the BirdNET phone file and the sensitivity ranking share. Kept apart from
``tflite`` (conversion, runner, the format row) so the accuracy-aware ranking (``tflite_sensitivity``) can use it
without an import loop.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nightscan_edge.artifact.containers import strip_appended_zip

SIGNATURE = "serving_default"
# litert-torch names every tensor after its module path, ``<Class>_<attribute>`` per level: the front-end is the
# model's ``log_mel`` whatever its class (``LogMel``, BirdNET's ``BirdNetSpectrogram``)
_FRONT_END_SCOPE = ".*(LogMel|_log_mel[;/]).*"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The converters print progress tables and bars; keep the CLI output to our own summary."""
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            yield
        finally:
            logging.disable(previous)


# ---------------------------------------------------------------- INT8
def signature_ops(float_model: bytes) -> list[tuple[str, int]]:
    """(ai-edge-quantizer scope, builtin operator code) of every op of the serving signature's subgraph, in
    execution order (a TFLite subgraph lists its operators so)."""
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils  # the [export] extra

    model = tfl_flatbuffer_utils.read_model(bytearray(float_model))
    subgraph_index = next(
        (s.subgraphIndex for s in model.signatureDefs or [] if (s.signatureKey or b"").decode() == SIGNATURE), 0
    )
    subgraph = model.subgraphs[subgraph_index]
    return [
        (tfl_flatbuffer_utils.get_op_scope(op, subgraph.tensors), model.operatorCodes[op.opcodeIndex].builtinCode)
        for op in subgraph.operators
    ]


def stem_scopes(float_model: bytes) -> list[str]:
    """ai-edge-quantizer scopes of the stem: every op after the front-end up to the first convolution, inclusive.

    The first convolution is the first CONV_2D/DEPTHWISE_CONV_2D in execution order outside the LogMel
    scope; before it come only cheap elementwise/layout ops (the input BatchNorm, the image normalization,
    transposes, the conv's PAD). Empty when the graph has no convolution.
    The quantizer matches recipe regexes against an op's *scope*, the ``;``-joined names of its output
    tensors (``tfl_flatbuffer_utils.get_op_scope``). litert-torch fuses conv + BatchNorm + ReLU6 into one op
    named after all of them (the 1-channel ultralight stem even becomes a DEPTHWISE_CONV_2D named
    ``...ReLU6_2;;...BatchNorm2d_1;;...``), so a regex on module names would be fragile; the scopes are read
    from the flatbuffer with the quantizer's own utilities instead.
    """
    from ai_edge_quantizer import qtyping  # the [export] extra

    convolutions = {qtyping.BuiltinOperator.CONV_2D, qtyping.BuiltinOperator.DEPTHWISE_CONV_2D}
    scopes = []
    for scope, code in signature_ops(float_model):
        if not scope or re.search(_FRONT_END_SCOPE, scope):
            continue  # an empty scope cannot be singled out by a regex; the front-end has its own rule
        scopes.append(scope)
        if code in convolutions:
            return scopes
    return []


def weighted_ops() -> frozenset[Any]:
    """Builtin operators that carry weights: convolutions and fully connected layers."""
    from ai_edge_quantizer import qtyping  # the [export] extra

    operators = qtyping.BuiltinOperator
    return frozenset({operators.CONV_2D, operators.DEPTHWISE_CONV_2D, operators.FULLY_CONNECTED})


def output_tail_scopes(float_model: bytes) -> list[str]:
    """ai-edge-quantizer scopes of the ops after the last weighted op (the head): the temperature's MUL and the
    output activation (SOFTMAX, or LOGISTIC for a multi-label file). Empty when the graph has no weighted op.

    They stay float. An 8-bit activation output has 256 levels on [0, 1]: every score under 1/512 becomes 0, so
    the many near-zero scores of a sigmoid tie, and the ranking that average precision (the multi-label gate), a
    rare class's recall at a low threshold and the fallback's "near the threshold" rule read is gone. Measured on a
    multi-label ultralight_audio (1,600 mixtures, 400 validation windows): all-INT8 lost 2.9 points of mAP and
    16.1 of bird AP; the same file with only its LOGISTIC float lost 0.29 and 1.6, and ranking or keeping any 4
    of its 19 convolutions float changed nothing, because none of them was the cause. It costs one float op on
    a vector of class scores.
    """
    weighted = weighted_ops()
    ops = signature_ops(float_model)
    last = max((i for i, (_, code) in enumerate(ops) if code in weighted), default=None)
    if last is None:
        return []
    return [scope for scope, _ in ops[last + 1 :] if scope]


def _static_int8_recipe(float_scopes: list[str]) -> Any:
    """INT8 weights + activations everywhere except the LogMel front-end, the stem, the output tail (the output
    activation, see ``output_tail_scopes``) and the model's input/output.

    Quantizing the front-end fails twice: its DFT tables become FULLY_CONNECTED weights quantized along
    dimension 1, which the LiteRT kernel refuses ("quantized_dimension != 0"), and a dB scale squeezed
    into 8 bits loses quiet calls. Later rules win in ai-edge-quantizer, so the exclusions come last;
    litert-torch names every tensor after its module path, hence the ``LogMel`` scope.
    The stem (``float_scopes``, see ``stem_scopes``) stays float as in the ONNX INT8 ("first layer in higher
    precision"; there the ops before the first Conv are not quantized either): in ONNX the quantized stem of a
    trained ultralight_audio cost 3.5 points of accuracy and 18 points of one class's recall. Here the first
    convolution alone is not enough, its input would still be an INT8 tensor: on an ultralight_audio LiteRT
    file (200 clip windows) top-1 agreement with FP32 was 93.5 % fully quantized, 92.5 % with only the conv
    float and 96.5 % with the stem float. Each regex is an escaped, anchored scope, so it matches that op alone.
    """
    return static_int8_recipe([_FRONT_END_SCOPE] + [f"^{re.escape(scope)}$" for scope in float_scopes])


def static_int8_recipe(float_regexes: Sequence[str]) -> Any:
    """INT8 weights + activations (min/max) everywhere except ops whose scope matches ``float_regexes`` and the
    model's input/output."""
    from ai_edge_quantizer import algorithm_manager, qtyping, recipe_manager  # the [export] extra

    manager = recipe_manager.RecipeManager()
    manager.add_static_config(
        regex=".*",
        operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
        activation_num_bits=8,
        weight_num_bits=8,
        algorithm_key=algorithm_manager.AlgorithmName.MIN_MAX_UNIFORM_QUANT,
    )
    keep_float(manager, float_regexes)
    return manager.get_quantization_recipe()


def keep_float(manager: Any, regexes: Sequence[str]) -> None:
    """Rules of an ai-edge-quantizer recipe: ops whose scope matches one of ``regexes`` stay float, and so do
    the model's input and output (the app feeds samples/pixels and reads probabilities without (de)quantizing).
    Later rules win in ai-edge-quantizer: call this after the rule that quantizes everything."""
    from ai_edge_quantizer import algorithm_manager, qtyping  # the [export] extra

    for regex in regexes:
        manager.add_quantization_config(
            regex=regex,
            operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
            algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE,
        )
    for boundary in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
        manager.add_quantization_config(
            regex="(.*)", operation_name=boundary, algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE
        )


def calibrated_quantizer(float_model: bytes, calibration: np.ndarray, float_scopes: Sequence[str] = ()) -> Any:
    """(ai-edge-quantizer, calibration result) for the file's INT8 recipe with ``float_scopes`` kept float; the
    result holds the ranges of every tensor (the default calibration mode), so other recipes can reuse it."""
    from ai_edge_litert.interpreter import Interpreter  # the [export] extra
    from ai_edge_quantizer import quantizer

    input_name = Interpreter(model_content=float_model).get_signature_list()[SIGNATURE]["inputs"][0]
    model_quantizer = quantizer.Quantizer(bytearray(float_model))
    float_always = [*stem_scopes(float_model), *output_tail_scopes(float_model)]
    model_quantizer.load_quantization_recipe(_static_int8_recipe([*float_always, *float_scopes]))
    samples = [{input_name: calibration[i : i + 1].astype(np.float32)} for i in range(len(calibration))]
    with _quiet():
        return model_quantizer, model_quantizer.calibrate({SIGNATURE: samples}, num_threads=1)


def quantize_tflite(
    fp32_path: Path, int8_path: Path, calibration: np.ndarray, keep_float_scopes: Sequence[str] = ()
) -> None:
    """Static INT8 weights + activations (min/max calibrated on training samples); float in/out, front-end,
    stem and output activation stay (see ``_static_int8_recipe``), and so do the ops whose scopes
    ``keep_float_scopes`` names (the exporter's accuracy-aware retry, ranked by ``tflite_sensitivity``)."""
    float_model = strip_appended_zip(fp32_path.read_bytes())
    model_quantizer, ranges = calibrated_quantizer(float_model, calibration, keep_float_scopes)
    with _quiet():
        result = model_quantizer.quantize(ranges, enable_progress_report=False)
    int8_path.write_bytes(bytes(result.quantized_model))

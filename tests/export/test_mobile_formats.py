"""LiteRT, ExecuTorch and Core ML on the tiny run: slow (each converter takes tens of seconds here)."""

import zipfile

import numpy as np
import pytest

from nightscan_edge.config import ExportConfig
from nightscan_edge.export import export_run, read_manifest
from nightscan_edge.runtime import load_runner
from tests.export.conftest import LABELS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mobile_export(tiny_run, tmp_path_factory):
    return export_run(
        tiny_run,
        ["tflite", "executorch", "coreml"],
        int8=True,
        out_dir=tmp_path_factory.mktemp("mobile") / "export-mobile",
        config=ExportConfig(parity_samples=6, calibration_samples=6, int8_float_fallback=0),  # the all-INT8 file
    )


@pytest.mark.parametrize("format_name", ["tflite", "executorch"])
def test_fp32_parity_and_manifest_inside(mobile_export, format_name):
    artifact = mobile_export.artifact(format_name)
    assert artifact.status == "ok", artifact.error
    assert artifact.parity["max_abs_diff"] <= 1e-4 and artifact.parity["top1_agreement"] == 1.0
    path = mobile_export.out_dir / artifact.file
    manifest = read_manifest(path)
    assert manifest["labels"] == LABELS and manifest["format"] == format_name
    assert manifest["input"]["shape"][0] == 1  # converted with batch 1; the runner loops
    with zipfile.ZipFile(path) as archive:  # the appended archive a phone app can read
        assert archive.read("labels.txt").decode().split() == LABELS
    runner = load_runner(path, threads=1)
    x = np.random.default_rng(0).normal(0, 0.2, size=(3, 2048)).astype(np.float32)
    assert runner.predict(x).shape == (3, 3)


@pytest.mark.parametrize("format_name", ["tflite", "executorch"])
def test_int8_keeps_float_io_and_is_gated(mobile_export, format_name):
    artifact = mobile_export.artifact(format_name, "int8")
    assert artifact.status in ("ok", "rejected"), artifact.error
    assert artifact.gate is not None and artifact.gate["samples"] == 12
    path = mobile_export.out_dir / artifact.file
    runner = load_runner(path, threads=1)
    probabilities = runner.predict(np.zeros((1, 2048), dtype=np.float32))  # float in, float probabilities out
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(), 1.0, atol=1e-2)


def test_coreml_spec_checked_and_parity_needs_macos(mobile_export):
    fp32 = mobile_export.artifact("coreml")
    assert fp32.status == "ok", fp32.error
    assert fp32.parity == {"numeric": "needs macOS", "reason": "Core ML predicts only on macOS/iOS"}
    assert fp32.spec_check["class_labels"] == 3 and "probabilities" in fp32.spec_check["outputs"]
    assert read_manifest(mobile_export.out_dir / "model.mlpackage")["labels"] == LABELS
    int8 = mobile_export.artifact("coreml", "int8")
    assert int8.status in ("ok", "rejected"), int8.error
    assert int8.gate["simulated"]


def test_tflite_int8_keeps_stem_float(mobile_export):
    """The ops up to the first convolution stay float (as in the ONNX INT8); every later convolution is INT8."""
    from ai_edge_quantizer import qtyping
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils

    from nightscan_edge.export.manifest import strip_appended_zip

    artifact = mobile_export.artifact("tflite", "int8")
    model = tfl_flatbuffer_utils.read_model(
        bytearray(strip_appended_zip((mobile_export.out_dir / artifact.file).read_bytes()))
    )
    subgraph = model.subgraphs[0]
    convolutions = {qtyping.BuiltinOperator.CONV_2D, qtyping.BuiltinOperator.DEPTHWISE_CONV_2D}
    ops = [
        (model.operatorCodes[op.opcodeIndex].builtinCode, [subgraph.tensors[i].type for i in op.inputs if i >= 0])
        for op in subgraph.operators
        if "LogMel" not in tfl_flatbuffer_utils.get_op_scope(op, subgraph.tensors)
    ]
    conv_positions = [i for i, (code, _) in enumerate(ops) if code in convolutions]
    assert len(conv_positions) >= 2
    float32, int8 = qtyping.TensorType.FLOAT32, qtyping.TensorType.INT8
    for _, input_types in ops[: conv_positions[0] + 1]:  # input BatchNorm, layout ops, PAD and the stem conv
        assert input_types[0] == float32
    assert ops[conv_positions[0]][1][:2] == [float32, float32]  # float activations and weights
    for position in conv_positions[1:]:
        assert ops[position][1][:2] == [int8, int8]


def test_tflite_int8_keeps_the_output_softmax_float(mobile_export):
    """The activation after the head stays float: an 8-bit softmax has 256 levels and ties every small score."""
    from ai_edge_quantizer import qtyping

    from tests.export.tflite_ops import tflite_ops

    ops = tflite_ops(mobile_export.out_dir / mobile_export.artifact("tflite", "int8").file)
    (softmax,) = [op for op in ops if op.code == qtyping.BuiltinOperator.SOFTMAX]
    assert softmax.input_types == [qtyping.TensorType.FLOAT32]
    assert softmax.output_types == [qtyping.TensorType.FLOAT32]
    (head,) = [op for op in ops if op.code == qtyping.BuiltinOperator.FULLY_CONNECTED]
    assert head.input_types[:2] == [qtyping.TensorType.INT8, qtyping.TensorType.INT8]  # the head itself is INT8

"""Accuracy-aware INT8 for LiteRT: when the gate rejects the all-INT8 file, the ops INT8 hurts most go back to
float, ranked on training inputs (as for ONNX, ``test_int8_fallback.py``).

The ranking and the quantization are real (ai-edge-quantizer on the tiny run); only the gate's verdict is scripted,
because whether random weights pass a 1-point gate is chance, and the retry loop is what is under test. Slow: each
LiteRT conversion takes seconds here.
"""

import numpy as np
import pytest

from nightscan_edge.artifact.wrapper import example_input
from nightscan_edge.config import ExportConfig
from nightscan_edge.export import export_run, read_manifest
from nightscan_edge.export import exporter as exporter_module
from tests.export.test_int8_fallback import _scripted_gate

pytestmark = pytest.mark.slow


def _weighted_op_input_types(path) -> dict[str, list[int]]:
    """Scope -> tensor types of the inputs (activation, weights) of each weighted op of a LiteRT file."""
    from nightscan_edge.artifact.tflite_int8 import weighted_ops
    from tests.export.tflite_ops import tflite_ops

    return {op.scope: op.input_types[:2] for op in tflite_ops(path) if op.code in weighted_ops()}


@pytest.fixture(scope="module")
def retried(tiny_run, tmp_path_factory):
    """One LiteRT export whose first INT8 file the (scripted) gate rejects and whose first retry it passes; its FP32
    file also serves the ranking tests (one conversion for the whole module)."""
    gate, calls = _scripted_gate([False, True])
    out = tmp_path_factory.mktemp("tflite") / "export-retry"
    config = ExportConfig(parity_samples=6, calibration_samples=6, int8_float_fallback=3)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(exporter_module, "quality_gate", gate)
        report = export_run(tiny_run, ["tflite"], int8=True, out_dir=out, config=config)
    return report, calls, out


@pytest.fixture(scope="module")
def fp32_tflite(retried):
    return retried[2] / "model.tflite"


def _calibration(tiny_run) -> np.ndarray:
    from nightscan_edge.checkpoint import load_trained_model

    return example_input(load_trained_model(tiny_run).model, batch=8, seed=3).numpy()


def test_ranking_covers_every_quantized_weighted_op_most_sensitive_first(fp32_tflite, tiny_run, tmp_path):
    from ai_edge_quantizer import qtyping

    from nightscan_edge.artifact.tflite_int8 import quantize_tflite
    from nightscan_edge.artifact.tflite_sensitivity import quantizable_scopes, rank_sensitive_ops

    calibration = _calibration(tiny_run)
    ranking = rank_sensitive_ops(fp32_tflite, calibration)
    names = [name for name, _ in ranking]
    scores = [score for _, score in ranking]
    assert sorted(names) == sorted(quantizable_scopes(fp32_tflite.read_bytes())) and len(names) >= 3
    assert scores == sorted(scores, reverse=True) and all(np.isfinite(scores)) and min(scores) > -1e-6
    # the candidates are exactly the weighted ops the all-INT8 file quantizes (the stem stays float anyway)
    quantize_tflite(fp32_tflite, tmp_path / "all.tflite", calibration)
    int8 = {scope for scope, types in _weighted_op_input_types(tmp_path / "all.tflite").items()
            if types[1] == qtyping.TensorType.INT8}  # fmt: skip
    assert set(names) == int8


def test_keep_float_scopes_leave_those_ops_float(fp32_tflite, tiny_run, tmp_path):
    from ai_edge_quantizer import qtyping

    from nightscan_edge.artifact.tflite_int8 import quantize_tflite
    from nightscan_edge.artifact.tflite_sensitivity import quantizable_scopes

    scopes = quantizable_scopes(fp32_tflite.read_bytes())
    quantize_tflite(fp32_tflite, tmp_path / "some.tflite", _calibration(tiny_run), keep_float_scopes=scopes[:1])
    types = _weighted_op_input_types(tmp_path / "some.tflite")
    assert types[scopes[0]] == [qtyping.TensorType.FLOAT32] * 2
    assert all(types[scope][1] == qtyping.TensorType.INT8 for scope in scopes[1:])


def test_rejected_litert_int8_is_retried_with_the_most_sensitive_op_in_float(retried, tiny_run):
    from ai_edge_quantizer import qtyping

    from nightscan_edge.runtime import load_runner

    report, calls, out = retried
    int8 = report.artifact("tflite", "int8")
    assert calls == [False, True] and int8.status == "ok" and int8.file == "model_int8.tflite"
    assert [t["passed"] for t in int8.gate["tries"]] == [False, True] and len(int8.gate["float_layers"]) == 1
    (kept,) = int8.gate["float_layers"]
    assert _weighted_op_input_types(out / "model_int8.tflite")[kept][1] == qtyping.TensorType.FLOAT32
    assert read_manifest(out / "model_int8.tflite")["quality_gate"]["float_layers"] == [kept]
    x = _calibration(tiny_run)[:2]
    assert load_runner(out / "model_int8.tflite").predict(x).shape == (2, 3)

"""Accuracy-aware INT8: when the gate rejects the all-INT8 file, the most sensitive layers go back to float.

The ranking and the quantization are real (ONNX Runtime on a tiny run); only the gate's verdict is scripted,
because whether random weights pass a 1-point gate is chance, and the retry loop is what is under test.
"""

import numpy as np
import onnx
import pytest

from nightscan_edge.artifact.onnx import quantizable_nodes, quantize_onnx, rank_sensitive_nodes
from nightscan_edge.artifact.wrapper import example_input
from nightscan_edge.config import ExportConfig
from nightscan_edge.export import export_run, read_manifest
from nightscan_edge.export import exporter as exporter_module
from nightscan_edge.export.quality_gate import quality_gate
from nightscan_edge.runtime import load_runner


def _quantized_weights(path) -> set[str]:
    """Names of the Conv/Gemm/MatMul nodes whose weight input comes through a DequantizeLinear."""
    graph = onnx.load(str(path)).graph
    dequantized = {out for node in graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    return {
        node.name
        for node in graph.node
        if node.op_type in ("Conv", "Gemm", "MatMul") and len(node.input) > 1 and node.input[1] in dequantized
    }


@pytest.fixture(scope="module")
def fp32_onnx(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("fp32") / "export-fp32"
    export_run(tiny_run, ["onnx"], int8=False, out_dir=out)
    return out / "model.onnx"


def test_ranking_covers_every_quantizable_node_most_sensitive_first(fp32_onnx, tiny_run):
    from nightscan_edge.checkpoint import load_trained_model

    calibration = example_input(load_trained_model(tiny_run).model, batch=8, seed=3).numpy()
    ranking = rank_sensitive_nodes(fp32_onnx, calibration)
    names = [name for name, _ in ranking]
    assert sorted(names) == sorted(quantizable_nodes(onnx.load(str(fp32_onnx))))
    scores = [score for _, score in ranking]
    assert scores == sorted(scores, reverse=True) and all(np.isfinite(scores)) and min(scores) > -1e-6


def test_keep_float_leaves_those_layers_unquantized(fp32_onnx, tiny_run, tmp_path):
    from nightscan_edge.checkpoint import load_trained_model

    calibration = example_input(load_trained_model(tiny_run).model, batch=8, seed=3).numpy()
    nodes = quantizable_nodes(onnx.load(str(fp32_onnx)))
    quantize_onnx(fp32_onnx, tmp_path / "all.onnx", calibration)
    quantize_onnx(fp32_onnx, tmp_path / "some.onnx", calibration, keep_float=(nodes[0],))
    assert nodes[0] in _quantized_weights(tmp_path / "all.onnx")
    assert _quantized_weights(tmp_path / "some.onnx") == _quantized_weights(tmp_path / "all.onnx") - {nodes[0]}
    with pytest.raises(Exception, match="no layer left to quantize"):
        quantize_onnx(fp32_onnx, tmp_path / "none.onnx", calibration, keep_float=tuple(nodes))
    assert not (tmp_path / "none.onnx").exists()


def _scripted_gate(verdicts: list[bool]):
    calls = []

    def gate(*args, **kwargs):
        result = quality_gate(*args, **kwargs)
        result.passed = verdicts[min(len(calls), len(verdicts) - 1)]
        result.reason = "" if result.passed else "recall dropped more than 3 points for frog (-25.0: 1 of 4 inputs)"
        calls.append(result.passed)
        return result

    return gate, calls


def test_rejected_int8_is_retried_with_the_most_sensitive_layer_in_float(tiny_run, tmp_path, monkeypatch):
    gate, calls = _scripted_gate([False, True])
    monkeypatch.setattr(exporter_module, "quality_gate", gate)
    out = tmp_path / "export-retry"
    report = export_run(tiny_run, ["onnx"], int8=True, out_dir=out, config=ExportConfig(int8_float_fallback=3))
    int8 = report.artifact("onnx", "int8")
    assert calls == [False, True] and int8.status == "ok" and int8.file == "model_int8.onnx"
    assert len(int8.gate["float_layers"]) == 1
    assert [t["passed"] for t in int8.gate["tries"]] == [False, True]
    assert int8.gate["tries"][0]["float_layers"] == [] and "frog" in int8.gate["tries"][0]["reason"]
    kept = int8.gate["float_layers"][0]
    assert kept not in _quantized_weights(out / "model_int8.onnx")
    assert read_manifest(out / "model_int8.onnx")["quality_gate"]["float_layers"] == [kept]
    assert not (out / "rejected").exists()
    from nightscan_edge.checkpoint import load_trained_model

    x = example_input(load_trained_model(tiny_run).model, batch=2, seed=5).numpy()
    assert load_runner(out / "model_int8.onnx").predict(x).shape == (2, 3)


def test_every_retry_rejected_keeps_the_file_aside_with_all_tries(tiny_run, tmp_path, monkeypatch):
    gate, calls = _scripted_gate([False])
    monkeypatch.setattr(exporter_module, "quality_gate", gate)
    out = tmp_path / "export-rejected"
    report = export_run(tiny_run, ["onnx"], int8=True, out_dir=out, config=ExportConfig(int8_float_fallback=2))
    int8 = report.artifact("onnx", "int8")
    assert int8.status == "rejected" and int8.file == "rejected/model_int8.onnx" and len(calls) == 3
    assert [len(t["float_layers"]) for t in int8.gate["tries"]] == [0, 1, 2] and int8.gate["float_layers"] == []
    assert "1 of 4 inputs" in int8.error
    assert (out / "rejected" / "model_int8.onnx").is_file() and not (out / "model_int8.onnx").exists()


def test_no_retry_when_fallback_is_off(tiny_run, tmp_path, monkeypatch):
    gate, calls = _scripted_gate([False, True])
    monkeypatch.setattr(exporter_module, "quality_gate", gate)
    report = export_run(
        tiny_run, ["onnx"], int8=True, out_dir=tmp_path / "e", config=ExportConfig(int8_float_fallback=0)
    )
    assert calls == [False] and report.artifact("onnx", "int8").status == "rejected"

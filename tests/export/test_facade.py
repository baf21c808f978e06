"""The seed's ModelQuantizationPipeline().quantize_all_models() and its CLI, ``quantize-all``."""

import pytest

from nightscan_edge.cli import main
from nightscan_edge.export import ExportError, ModelQuantizationPipeline
from tests.export.conftest import make_run


def test_quantize_all_models_reports_per_run_and_format(tmp_path, capsys):
    run_dir = make_run(tmp_path)
    (run_dir.parent / "not-a-run").mkdir()  # folders without a checkpoint are skipped
    results = ModelQuantizationPipeline(run_dir.parent, formats=["onnx"]).quantize_all_models()
    assert list(results) == ["tiny-run"]
    onnx = results["tiny-run"]["formats"]["onnx"]
    assert onnx["fp32"]["status"] == "ok" and onnx["int8"]["status"] in ("ok", "rejected")
    assert onnx["int8"]["gate"]["samples"] > 0
    assert main(["quantize-all", str(tmp_path / "empty-runs")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bad_format_fails_at_construction(tmp_path):
    with pytest.raises(ExportError, match="unknown export format"):
        ModelQuantizationPipeline(tmp_path, formats=["tflite", "caffe"])

"""The photo model (NCHW input) through ONNX and LiteRT, FP32 + INT8."""

import pytest

from nightscan_edge.export import export_run, read_manifest
from tests.export.conftest import LABELS, make_photo_run

pytestmark = pytest.mark.slow


def test_photo_onnx_and_tflite(tmp_path):
    run_dir = make_photo_run(tmp_path)
    report = export_run(run_dir, ["onnx", "tflite"], int8=True, out_dir=tmp_path / "export-photo")
    for format_name in ("onnx", "tflite"):
        fp32 = report.artifact(format_name)
        assert fp32.status == "ok", fp32.error
        assert fp32.parity["max_abs_diff"] <= 1e-4 and fp32.parity["top1_agreement"] == 1.0
        assert report.artifact(format_name, "int8").status in ("ok", "rejected"), report.artifact(
            format_name, "int8"
        ).error
    manifest = read_manifest(report.out_dir / "model.onnx")
    assert manifest["input"]["shape"] == [-1, 3, 32, 32] and manifest["input"]["layout"] == "NCHW"
    assert manifest["labels"] == LABELS
    assert "NCHW" in (report.out_dir / "USAGE.md").read_text()

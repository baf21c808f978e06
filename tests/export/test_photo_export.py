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


def test_efficientnet_lite0_every_format_with_imagenet_preprocessing_in_the_manifest(tmp_path):
    """The pretrained photo model (random-weight stand-in at 32 px): its TF-style padding and ReLU6 blocks
    convert to all four formats with parity, INT8 is gated, and each manifest carries ImageNet mean/std."""
    import numpy as np

    from nightscan_edge.runtime import load_runner
    from nightscan_edge.spec import IMAGENET_MEAN, IMAGENET_STD

    run_dir = make_photo_run(tmp_path, model_name="efficientnet_lite0_photo")
    # INT8 where the photo budget is decided (LiteRT) and ONNX; the two other converters in FP32 (their INT8 paths
    # are model-independent and covered by tests/export/test_mobile_formats.py)
    with_int8 = export_run(run_dir, ["onnx", "tflite"], int8=True, out_dir=tmp_path / "export-effl0")
    fp32_only = export_run(run_dir, ["executorch", "coreml"], out_dir=tmp_path / "export-effl0-more")
    for report, format_name in [
        (with_int8, "onnx"),
        (with_int8, "tflite"),
        (fp32_only, "executorch"),
        (fp32_only, "coreml"),
    ]:
        fp32 = report.artifact(format_name)
        assert fp32.status == "ok", f"{format_name}: {fp32.error}"
        if format_name != "coreml":  # Core ML predicts only on macOS
            assert fp32.parity["max_abs_diff"] <= 1e-4 and fp32.parity["top1_agreement"] == 1.0, format_name
        if report is with_int8:
            int8 = report.artifact(format_name, "int8")
            assert int8.status in ("ok", "rejected"), f"{format_name} int8: {int8.error}"
        manifest = read_manifest(report.out_dir / fp32.file)
        assert manifest["model_name"] == "efficientnet_lite0_photo"
        spec = manifest["input"]["spec"]
        assert (spec["image_size"], tuple(spec["mean"]), tuple(spec["std"])) == (32, IMAGENET_MEAN, IMAGENET_STD)
    report = with_int8
    runner = load_runner(report.out_dir / "model.tflite", threads=1)
    probabilities = runner.predict(np.zeros((2, 3, 32, 32), dtype=np.float32))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)

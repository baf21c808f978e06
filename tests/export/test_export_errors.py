"""Failure handling: bad requests fail before work; one broken format or a bad INT8 file loses nothing else."""

import json
import zipfile

import pytest
import torch

from nightscan_edge.artifact import onnx as onnx_format
from nightscan_edge.artifact import tflite as tflite_format
from nightscan_edge.cli import main
from nightscan_edge.export import ExportError, export_run


def test_unknown_format_fails_before_any_work(tiny_run):
    with pytest.raises(ExportError, match="known: onnx, tflite, coreml, executorch"):
        export_run(tiny_run, ["onnx", "pickle"])
    assert not (tiny_run / "exports").exists()


def test_cli_prints_one_line_errors(tiny_run, tmp_path, capsys):
    assert main(["export", str(tiny_run), "--formats", "pickle"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: unknown export format 'pickle'; known:")
    assert main(["export", str(tmp_path / "nope"), "--formats", "onnx"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_one_failing_format_keeps_the_others_and_a_bad_int8_is_rejected(tiny_run, tmp_path, monkeypatch):
    def broken_tflite(*args, **kwargs):
        raise RuntimeError("converter exploded")

    def wrong_int8(fp32_path, int8_path, calibration):
        # Stand-in for a quantization that ruined the model: a different network in the INT8 slot.
        from nightscan_edge.artifact.wrapper import ExportableClassifier
        from nightscan_edge.checkpoint import load_trained_model

        trained = load_trained_model(tiny_run)
        torch.manual_seed(123)
        for parameter in trained.model.parameters():
            parameter.data.normal_(0, 0.5)
        module = ExportableClassifier(trained.model, 0.05)
        onnx_format.export_onnx(module, torch.zeros(1, trained.spec.clip_samples), int8_path)

    monkeypatch.setattr(tflite_format, "export_tflite", broken_tflite)
    monkeypatch.setattr(onnx_format, "quantize_onnx", wrong_int8)
    from nightscan_edge.config import ExportConfig

    strict = ExportConfig(max_accuracy_drop=0.0, max_class_recall_drop=0.0, parity_samples=8, calibration_samples=4)
    report = export_run(tiny_run, ["onnx", "tflite"], int8=True, out_dir=tmp_path / "export-mixed", config=strict)
    statuses = {(a.format, a.precision): a.status for a in report.artifacts}
    assert statuses[("onnx", "fp32")] == "ok"
    assert statuses[("tflite", "fp32")] == "failed"
    assert "converter exploded" in report.artifact("tflite").error
    assert statuses[("tflite", "int8")] == "failed"  # nothing to quantize
    int8 = report.artifact("onnx", "int8")
    if int8.status == "rejected":  # a random other network almost surely changes some predictions
        assert "INT8 quality gate failed" in int8.error and int8.gate["failing_classes"]
        assert not (report.out_dir / "model_int8.onnx").exists()
        assert (report.out_dir / "rejected" / "model_int8.onnx").exists()
    assert not report.ok  # an FP32 artifact failed
    with zipfile.ZipFile(report.bundle) as archive:
        names = set(archive.namelist())
    assert "model.onnx" in names and "model.tflite" not in names and "model_int8.onnx" not in names
    saved = json.loads((report.out_dir / "export_report.json").read_text())
    assert [a["status"] for a in saved["artifacts"]] == [a.status for a in report.artifacts]

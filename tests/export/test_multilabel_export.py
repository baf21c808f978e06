"""A multi-label run exports with sigmoid inside the file, its thresholds in every manifest, parity judged on the
present/absent decisions, and an INT8 gate on per-class average precision (docs/multilabel.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nightscan_edge.artifact import ExportError, load_manifest
from nightscan_edge.checkpoint import load_trained_model, save_standalone_checkpoint
from nightscan_edge.export import export_run
from nightscan_edge.export.multilabel_gate import average_precisions, multilabel_quality_gate
from nightscan_edge.runtime import load_runner
from tests.export.conftest import LABELS, MULTILABEL_THRESHOLDS


@pytest.mark.slow  # one shared ONNX FP32 + INT8 export (~15 s)
def test_the_file_returns_sigmoid_scores_and_its_manifest_says_multilabel(multilabel_run, multilabel_export):
    fp32 = multilabel_export.artifact("onnx", "fp32")
    assert fp32.status == "ok", fp32.error
    manifest = load_manifest(multilabel_export.out_dir / "model.onnx")
    assert manifest.objective == "multilabel" and manifest.thresholds == MULTILABEL_THRESHOLDS
    assert manifest.output.activation == "sigmoid" and manifest.temperature == 1.0 and manifest.labels == LABELS
    beside = json.loads((multilabel_export.out_dir / "manifest.json").read_text())
    assert beside["objective"] == "multilabel" and beside["thresholds"] == MULTILABEL_THRESHOLDS
    assert beside["output"]["activation"] == "sigmoid"
    usage = (multilabel_export.out_dir / "USAGE.md").read_text()
    assert "multi-label scores" in usage and "bat 0.450" in usage and "softmax" not in usage

    trained = load_trained_model(multilabel_run)
    x = torch.randn(3, trained.spec.clip_samples, generator=torch.Generator().manual_seed(1)) * 0.1
    with torch.no_grad():
        expected = torch.sigmoid(trained.model.forward_waveform(x)).numpy()
    scores = load_runner(multilabel_export.out_dir / "model.onnx").predict(x.numpy())
    assert np.abs(scores - expected).max() < 1e-4
    assert not np.allclose(scores.sum(axis=1), 1.0, atol=1e-3)  # independent scores, not a softmax


@pytest.mark.slow  # one shared ONNX FP32 + INT8 export (~15 s)
def test_parity_judges_the_decisions_at_the_thresholds_and_the_per_class_ap(multilabel_export):
    parity = multilabel_export.artifact("onnx", "fp32").parity
    assert parity["passed"] and parity["threshold_agreement"] == 1.0
    assert parity["max_class_ap_diff"] is not None and parity["max_class_ap_diff"] < 0.5


@pytest.mark.slow  # one shared ONNX FP32 + INT8 export (~15 s)
def test_the_int8_gate_is_per_class_average_precision(multilabel_export):
    int8 = multilabel_export.artifact("onnx", "int8")
    gate = int8.gate
    assert gate["objective"] == "multilabel" and set(gate["ap_drop"]) == set(LABELS)
    assert gate["fp32_map"] is not None and gate["samples"] > 0
    assert (int8.status == "ok") == gate["passed"]


def test_gate_rejects_a_class_whose_ap_drops_and_passes_identical_scores():
    rng = np.random.default_rng(0)
    targets = (rng.random((60, 3)) < 0.4).astype(np.float32)
    fp32 = np.clip(targets * 0.6 + rng.random((60, 3)) * 0.4, 0, 1)
    assert multilabel_quality_gate(fp32, fp32, targets, LABELS, 2.0, 3.0).passed
    int8 = fp32.copy()
    int8[:, 1] = rng.random(60)  # frog's ranking destroyed
    gate = multilabel_quality_gate(fp32, int8, targets, LABELS, 2.0, 3.0)
    assert not gate.passed and gate.failing_classes == ["frog"] and "frog" in gate.reason
    assert average_precisions(fp32, np.zeros_like(targets)) == [None, None, None]


def test_a_multilabel_checkpoint_without_thresholds_is_refused_before_anything_is_written(tmp_path):
    from nightscan_edge.models import create_model
    from tests.export.conftest import TINY_AUDIO

    run = tmp_path / "run"
    save_standalone_checkpoint(
        run / "best.ckpt",
        create_model("ultralight_audio", 3, spec={"kind": "audio", **TINY_AUDIO}),
        LABELS,
        objective="multilabel",
    )
    with pytest.raises(ExportError, match="without per-class thresholds"):
        export_run(run, ["onnx"])
    assert not (run / "exports").exists()


@pytest.mark.slow  # one LiteRT FP32 + INT8 conversion (~20 s)
def test_litert_int8_keeps_the_sigmoid_float_so_small_scores_keep_their_order(multilabel_run, tmp_path):
    """An 8-bit LOGISTIC turns every score under 1/512 into 0: ties that cost a trained file 16 points of one
    class's AP (docs/multilabel.md). The INT8 file computes the sigmoid in float, after an INT8 head."""
    from ai_edge_quantizer import qtyping

    from nightscan_edge.config import ExportConfig
    from tests.export.tflite_ops import tflite_ops

    config = ExportConfig(parity_samples=6, calibration_samples=8, int8_float_fallback=0)
    report = export_run(multilabel_run, ["tflite"], int8=True, out_dir=tmp_path / "export-int8", config=config)
    artifact = report.artifact("tflite", "int8")
    assert artifact.status in ("ok", "rejected"), artifact.error
    ops = tflite_ops(tmp_path / "export-int8" / artifact.file)
    (sigmoid,) = [op for op in ops if op.code == qtyping.BuiltinOperator.LOGISTIC]
    assert sigmoid.input_types == sigmoid.output_types == [qtyping.TensorType.FLOAT32]
    (head,) = [op for op in ops if op.code == qtyping.BuiltinOperator.FULLY_CONNECTED]
    assert head.input_types[:2] == [qtyping.TensorType.INT8, qtyping.TensorType.INT8]

"""ONNX end to end on a tiny run: files, manifest inside, parity, dynamic batch, INT8 gate, bundle, runner."""

import json
import zipfile

import numpy as np
import pytest
import torch

from nightscan_edge.checkpoint import load_trained_model
from nightscan_edge.export import ManifestError, read_manifest
from nightscan_edge.export.wrapper import ExportableClassifier
from nightscan_edge.runtime import load_runner
from tests.export.conftest import LABELS, TINY_AUDIO


def test_export_folder_layout(onnx_export):
    names = {p.name for p in onnx_export.out_dir.iterdir()}
    assert {
        "model.onnx",
        "model_int8.onnx",
        "manifest.json",
        "labels.txt",
        "parity.json",
        "USAGE.md",
        "bundle.zip",
        "calibration.json",
        "reliability.png",
    } <= names
    assert (onnx_export.out_dir / "labels.txt").read_text().split() == LABELS
    assert onnx_export.ok and onnx_export.export_id == "export-onnx"


def test_manifest_inside_the_file_has_the_contract_keys(onnx_export):
    manifest = read_manifest(onnx_export.out_dir / "model.onnx")
    for key in (
        "format",
        "precision",
        "model_name",
        "run_id",
        "labels",
        "input",
        "output",
        "temperature",
        "package_version",
        "parity",
    ):
        assert key in manifest
    assert manifest["format"] == "onnx" and manifest["precision"] == "fp32"
    assert manifest["labels"] == LABELS and manifest["run_id"] == "tiny-run"
    assert manifest["input"]["shape"] == [-1, TINY_AUDIO["clip_samples"]]
    assert manifest["input"]["spec"]["sample_rate"] == 8000 and manifest["input"]["spec"]["n_mels"] == 32
    assert manifest["output"] == {
        "name": "probabilities",
        "shape": [-1, 3],
        "meaning": "probabilities",
        "temperature_applied": True,
        "activation": "softmax",
    }
    assert manifest["objective"] == "single_label" and manifest["thresholds"] is None
    assert manifest["temperature"] == pytest.approx(onnx_export.temperature)
    assert manifest["parity"]["top1_agreement"] == 1.0  # measured parity is written back into the file
    beside = json.loads((onnx_export.out_dir / "manifest.json").read_text())
    assert set(beside["artifacts"]) == {"model.onnx", "model_int8.onnx"}


def test_fp32_parity_meets_target_and_batch_is_dynamic(onnx_export):
    fp32 = onnx_export.artifact("onnx", "fp32")
    assert fp32.status == "ok", fp32.error
    assert fp32.parity["max_abs_diff"] <= 1e-4 and fp32.parity["top1_agreement"] == 1.0
    assert fp32.parity["inputs"] == "validation split"
    assert fp32.dynamic_batch and fp32.batch_sizes_checked == [1, 4]
    parity = json.loads((onnx_export.out_dir / "parity.json").read_text())
    assert parity["artifacts"]["model.onnx"]["parity"]["max_abs_diff"] == fp32.parity["max_abs_diff"]


def test_runner_matches_pytorch_on_new_inputs(tiny_run, onnx_export):
    trained = load_trained_model(tiny_run)
    module = ExportableClassifier(trained.model, onnx_export.temperature)
    x = np.random.default_rng(3).normal(0, 0.3, size=(5, TINY_AUDIO["clip_samples"])).astype(np.float32)
    runner = load_runner(onnx_export.out_dir / "model.onnx", threads=1)
    assert runner.format == "onnx" and runner.dynamic_batch and runner.manifest["labels"] == LABELS
    probabilities = runner.predict(x)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    assert probabilities.shape == (5, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    with pytest.raises(ValueError, match=r"does not match the model's \(batch, 2048\)"):
        runner.predict(x[:, :100])


def test_int8_is_smaller_gated_and_front_end_stays_float(onnx_export):
    import onnx

    int8 = onnx_export.artifact("onnx", "int8")
    assert int8.status in ("ok", "rejected") and int8.gate is not None
    assert int8.gate["samples"] == 12 and set(int8.gate["recall_drop"]) == set(LABELS)
    assert int8.size_bytes < onnx_export.artifact("onnx", "fp32").size_bytes / 2
    path = onnx_export.out_dir / int8.file
    graph = onnx.load(str(path)).graph
    quantized_inputs = {n.input[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    assert not any("log_mel" in name for name in quantized_inputs)
    assert read_manifest(path)["precision"] == "int8"
    dequantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert not any(name in dequantized for name in convs[0].input[:2])  # the stem convolution stays float
    assert len(convs) > 1 and all(n.input[1] in dequantized for n in convs[1:])  # the rest is INT8


def test_bundle_holds_artifacts_manifest_labels_parity_usage(onnx_export):
    with zipfile.ZipFile(onnx_export.bundle) as archive:
        names = set(archive.namelist())
        usage = archive.read("USAGE.md").decode()
    assert {"model.onnx", "manifest.json", "labels.txt", "parity.json", "USAGE.md"} <= names
    assert "8000 Hz" in usage and "(batch, 2048)" in usage and "labels.txt" in usage
    assert "do not apply softmax" in usage


def test_runner_refuses_a_file_without_manifest(tmp_path, onnx_export):
    import onnx

    model = onnx.load(str(onnx_export.out_dir / "model.onnx"))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    with pytest.raises(ManifestError):
        load_runner(bare)

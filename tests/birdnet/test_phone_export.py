"""``export`` of a birdnet_head run: BirdNET's own LiteRT graph + the head as FP32 / FP16 / INT8 phone files, with
the manifest inside, parity against the server head, the gate, and the files working in predict and bench."""

from __future__ import annotations

import numpy as np
import pytest

from nightscan_edge.artifact import load_manifest
from nightscan_edge.artifact.wrapper import ExportableClassifier
from nightscan_edge.audio import decode_audio
from nightscan_edge.checkpoint import load_trained_model
from nightscan_edge.config import resolve_config
from nightscan_edge.data.datasets import clip_windows
from nightscan_edge.export.birdnet_files import export_birdnet_phone
from nightscan_edge.export.samples import torch_predict
from nightscan_edge.models.birdnet_extractor import BIRDNET_LICENCE, BIRDNET_SPEC
from nightscan_edge.predict.classifier import load_edge_classifier
from nightscan_edge.predict.scoring import score_audio
from nightscan_edge.runtime import load_runner
from nightscan_edge.train import train
from tests.birdnet.conftest import requires_birdnet

pytestmark = [requires_birdnet, pytest.mark.slow]


@pytest.fixture(scope="module")
def phone_run(birdnet_data, embedding_cache, tmp_path_factory):
    config = resolve_config(
        {
            "data": {"path": str(birdnet_data), "cache_dir": str(embedding_cache)},
            "model": {"name": "birdnet_head"},
            "train": {"epochs": 3, "batch_size": 8, "early_stopping_patience": None},
            "export": {"validation_samples": 16, "calibration_samples": 6, "parity_samples": 8},
        }
    )
    return train(config, run_dir=tmp_path_factory.mktemp("phone") / "head", progress=False).run_dir


@pytest.fixture(scope="module")
def phone_files(phone_run):
    return export_birdnet_phone(phone_run, int8=True)


def test_the_export_writes_the_three_phone_files_with_the_manifest_and_licence(phone_files):
    report = phone_files.report
    assert [(a.format, a.precision) for a in report.artifacts] == [
        ("tflite", "fp32"),
        ("tflite", "fp16"),
        ("tflite", "int8"),
    ]
    assert phone_files.fp32.name == "model.tflite" and phone_files.fp16.name == "model_fp16.tflite"
    fp32 = report.artifact("tflite")
    assert fp32.ok and fp32.parity["max_abs_diff"] <= 1e-4 and fp32.parity["top1_agreement"] == 1.0
    assert fp32.dynamic_batch and fp32.batch_sizes_checked == [1, 4]
    sizes = {a.precision: a.size_bytes for a in report.artifacts}
    assert sizes["fp32"] < 27e6 and sizes["fp16"] < 0.55 * sizes["fp32"]
    if phone_files.int8 is not None:
        assert sizes["int8"] < 8e6
    assert report.artifact("tflite", "int8").gate is not None  # gated either way
    manifest = load_manifest(phone_files.fp16)
    assert manifest.model_name == "birdnet_head" and manifest.precision == "fp16"
    assert manifest.licence == BIRDNET_LICENCE and manifest.input.shape == [-1, 144000]
    assert manifest.input.spec.sample_rate == 48000 and manifest.quality_gate is not None
    usage = (report.out_dir / "USAGE.md").read_text()
    assert BIRDNET_LICENCE in usage and "BirdNET V2.4's own spectrogram is inside the model" in usage
    assert (report.out_dir / "bundle.zip").is_file()


def test_predict_on_the_phone_file_answers_like_the_server_head(phone_run, phone_files, birdnet_data):
    clip = sorted(birdnet_data.rglob("*.wav"))[0]
    edge = load_edge_classifier(phone_files.fp32)
    assert edge.spec.sample_rate == 48000 and edge.spec.clip_samples == 144000  # the host resamples to 48 kHz
    on_phone = np.stack([w.probabilities for w in score_audio(edge, clip)])
    windows = clip_windows(decode_audio(clip, 48000), BIRDNET_SPEC)
    head = ExportableClassifier(load_trained_model(phone_run).model, phone_files.report.temperature)
    on_server = torch_predict(head, windows)  # the server head: BirdNET in LiteRT + the PyTorch head
    assert on_phone.shape == on_server.shape and np.abs(on_phone - on_server).max() < 1e-4
    runner = load_runner(phone_files.fp16, threads=1)
    assert runner.predict(windows[:2]).argmax(1).tolist() == on_server[:2].argmax(1).tolist()


def test_bench_of_the_run_measures_the_phone_files(phone_run, phone_files):
    from nightscan_edge.bench import benchmark
    from nightscan_edge.bench.options import BenchOptions
    from nightscan_edge.bench.sources import open_source

    with open_source(phone_run) as source:
        names = sorted(a.name for a in source.artifacts)
        assert "model.tflite" in names and "model_fp16.tflite" in names
        result = benchmark(source, BenchOptions(threads=[1], warmup=1, iterations=2, sample_limit=8), progress=False)
    rows = {a.name: a for a in result.artifacts}
    assert rows["model.tflite"].accuracy is not None
    assert result.frontend_flops > 5e8  # BirdNET's graph counts in the phone estimates, not the head alone


def test_try_it_runs_the_phone_file(phone_files, birdnet_data):
    from nightscan_edge.web.routers.try_it import try_classifier

    clip = sorted(birdnet_data.rglob("*.wav"))[0]
    result = try_classifier(load_edge_classifier(phone_files.int8 or phone_files.fp16), clip, threshold=0.5)
    assert result["kind"] == "audio" and result["total"] >= 1 and result["picture"].startswith("data:image/png")
    assert result["windows"][0]["label"] in load_trained_model(phone_files.report.out_dir.parent.parent).labels

"""birdnet_head trained by ``train``; distillation into an edge student; --unlabeled; licence propagation."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from nightscan_edge.config import resolve_config
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.data.errors import DataError
from nightscan_edge.export.errors import ExportError
from nightscan_edge.models.birdnet_extractor import BIRDNET_LICENCE
from nightscan_edge.safe_load import load_torch_file
from nightscan_edge.train import read_events, train
from nightscan_edge.train.distill import load_teacher
from tests.birdnet.conftest import requires_birdnet
from tests.train.conftest import TINY_AUDIO, tiny_audio_config

pytestmark = requires_birdnet


def head_config(data, cache, **train_options):
    return resolve_config(
        {
            "data": {"path": str(data), "cache_dir": str(cache)},
            "model": {"name": "birdnet_head"},
            "train": {"epochs": 3, "batch_size": 8, "early_stopping_patience": None, **train_options},
        }
    )


def _birdnet_logs(run_dir):
    return [
        e["message"] for e in read_events(run_dir / "events.jsonl") if e["type"] == "log" and "BirdNET" in e["message"]
    ]


@pytest.fixture(scope="module")
def head_run(birdnet_data, embedding_cache, tmp_path_factory):
    return train(
        head_config(birdnet_data, embedding_cache), run_dir=tmp_path_factory.mktemp("h") / "head", progress=False
    )


def test_head_run_has_every_run_file_and_carries_the_licence(head_run):
    run_dir = head_run.run_dir
    for name in (
        "config.yaml",
        "split.csv",
        "metrics.csv",
        "report.json",
        "curves.png",
        "confusion_matrix.png",
        "events.jsonl",
        "best.ckpt",
        "labels.txt",
    ):
        assert (run_dir / name).is_file(), name
    report = json.loads((run_dir / "report.json").read_text())
    assert report["model"] == "birdnet_head" and len(report["labels"]) == 4
    assert report["accuracy"] >= 0.75  # generated sounds BirdNET tells apart easily, on 3 epochs
    checkpoint = load_torch_file(run_dir / "best.ckpt")
    assert checkpoint["nightscan"]["licence"] == BIRDNET_LICENCE
    assert set(checkpoint["state_dict"]) <= {"model.head.weight", "model.head.bias"}  # BirdNET itself is not copied
    with (run_dir / "metrics.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 3


def test_second_training_never_runs_birdnet_again(birdnet_data, embedding_cache, head_run, tmp_path):
    again = train(head_config(birdnet_data, embedding_cache, epochs=1), run_dir=tmp_path / "again", progress=False)
    (message,) = [m for m in _birdnet_logs(again.run_dir) if "embeddings" in m]
    assert message.startswith("BirdNET embeddings: 0 window(s) computed")
    (first,) = [m for m in _birdnet_logs(head_run.run_dir) if "embeddings" in m]
    assert not first.startswith("BirdNET embeddings: 0 window(s)")


def test_mlp_head_option_trains(birdnet_data, embedding_cache, tmp_path):
    config = resolve_config(
        {
            "data": {"path": str(birdnet_data), "cache_dir": str(embedding_cache)},
            "model": {"name": "birdnet_head", "options": {"head": "mlp", "hidden": 32}},
            "train": {"epochs": 1, "batch_size": 8, "early_stopping_patience": None},
        }
    )
    run = train(config, run_dir=tmp_path / "mlp", progress=False)
    state = load_torch_file(run.best_checkpoint)["state_dict"]
    assert state["model.body.1.weight"].shape == (32, 1024)


def test_server_classifier_scores_raw_windows_through_birdnet(head_run):
    import numpy as np

    from nightscan_edge.predict.classifier import load_server_classifier

    server = load_server_classifier(head_run.run_dir)
    assert server.spec.sample_rate == 48000 and server.spec.clip_samples == 144000
    probabilities = server.probabilities(np.zeros((2, 144000), np.float32) + 0.01)
    assert probabilities.shape == (2, 4) and np.allclose(probabilities.sum(1), 1, atol=1e-5)


def test_bench_opens_a_head_run_without_an_export(head_run):
    from nightscan_edge.bench.sources import open_source

    with open_source(head_run.run_dir) as source:
        assert source.artifacts == [] and source.manifest["model_name"] == "birdnet_head"
        assert source.manifest["licence"] == BIRDNET_LICENCE


def test_export_of_a_head_run_to_onnx_alone_is_refused_before_writing(head_run):
    from nightscan_edge.export import export_run

    with pytest.raises(ExportError, match="LiteRT only.*RFFT2D"):
        export_run(head_run.run_dir, formats=["onnx"])
    assert not (head_run.run_dir / "exports").exists()


def test_teacher_that_cannot_map_the_labels_is_refused(head_run):
    from nightscan_edge.spec import AudioSpec

    with pytest.raises(ConfigError, match="cannot map the student's label.*owl"):
        load_teacher(head_run.run_dir, ["owl", "synthetic_tone"], AudioSpec(**TINY_AUDIO), 4.0, 0.5)


def test_unlabeled_without_a_teacher_is_refused(birdnet_data, tmp_path):
    config = tiny_audio_config(birdnet_data, unlabeled=str(birdnet_data))
    with pytest.raises(ConfigError, match="--unlabeled needs --teacher"):
        train(config, run_dir=tmp_path / "u", progress=False)


@pytest.mark.slow
def test_distilled_student_learns_from_the_head_with_unlabeled_windows(
    birdnet_data, embedding_cache, head_run, tmp_path
):
    from nightscan_edge.export import export_run, read_manifest

    config = resolve_config(
        {
            **tiny_audio_config(
                birdnet_data,
                epochs=4,
                teacher=str(head_run.run_dir),
                unlabeled=str(birdnet_data),
                distill_alpha=0.9,
                teacher_grid_seconds=1.0,
            ).model_dump(),
            "data": {**tiny_audio_config(birdnet_data).data.model_dump(), "cache_dir": str(embedding_cache)},
        }
    )
    student = train(config, run_dir=tmp_path / "student", progress=False)
    with (student.run_dir / "metrics.csv").open() as handle:
        losses = [float(row["train_loss"]) for row in csv.DictReader(handle) if row.get("train_loss")]
    assert losses[-1] < losses[0]  # the distillation loss goes down
    messages = [e["message"] for e in read_events(student.run_dir / "events.jsonl") if e["type"] == "log"]
    assert any(m.startswith("--unlabeled: ") for m in messages) and any("BirdNET teacher" in m for m in messages)
    windows = int(next(m for m in messages if m.startswith("--unlabeled: ")).split()[1])
    start = next(e for e in read_events(student.run_dir / "events.jsonl") if e["type"] == "run_start")
    assert windows > config.train.batch_size * config.train.min_steps_per_epoch  # else the check below is empty
    assert start["batches_per_epoch"] >= windows // config.train.batch_size  # an epoch passes over them once
    checkpoint = load_torch_file(student.best_checkpoint)
    assert checkpoint["nightscan"]["licence"] == BIRDNET_LICENCE
    assert not any(key.startswith("teacher") for key in checkpoint["state_dict"])
    report = export_run(student.run_dir, formats=["onnx"])
    assert report.licence == BIRDNET_LICENCE and any("licence" in line for line in report.summary_lines())
    assert read_manifest(report.out_dir / "model.onnx")["licence"] == BIRDNET_LICENCE
    assert BIRDNET_LICENCE in (report.out_dir / "USAGE.md").read_text()


def test_silent_clips_are_set_aside_and_too_many_fail(tmp_path, embedding_cache):
    import numpy as np
    import soundfile

    for label in ("a", "b"):
        for index in range(3):
            signal = np.zeros(22050, np.float32)
            if index:
                signal = 0.3 * np.sin(np.arange(22050) * (0.2 if label == "a" else 0.05)).astype(np.float32)
            (tmp_path / "data" / label).mkdir(parents=True, exist_ok=True)
            soundfile.write(str(tmp_path / "data" / label / f"{index}.wav"), signal, 22050)
    with pytest.raises(DataError, match="silent"):
        train(head_config(tmp_path / "data", embedding_cache, epochs=1), run_dir=tmp_path / "r1", progress=False)


def test_fallback_report_cli_with_a_head_run_as_the_server_model(head_run, birdnet_data, tmp_path, capsys):
    """``predict EDGE.onnx --fallback-report HEAD_RUN``: the edge model's 22.05 kHz windows reach the server
    model resampled to BirdNET's 3 s at 48 kHz, and the report compares both on the same labelled windows."""
    pytest.importorskip("onnxruntime")
    from nightscan_edge.checkpoint import save_standalone_checkpoint
    from nightscan_edge.cli import main
    from nightscan_edge.models import create_model
    from nightscan_edge.spec import AudioSpec
    from tests.predict.conftest import export_tiny_onnx

    labels = json.loads((head_run.run_dir / "report.json").read_text())["labels"]
    torch.manual_seed(0)
    edge_spec = AudioSpec(clip_samples=65024, n_fft=512, hop_length=256, n_mels=32)  # 2.95 s at 22.05 kHz
    edge = create_model("ultralight_audio", len(labels), spec=edge_spec)
    save_standalone_checkpoint(tmp_path / "edge" / "best.ckpt", edge.eval(), labels, run_id="edge")
    artifact = export_tiny_onnx(tmp_path / "edge", tmp_path / "export")
    report_path = tmp_path / "fallback.json"
    argv = ["predict", str(artifact), "--fallback-report", str(head_run.run_dir), "--data", str(birdnet_data)]
    code = main([*argv, "--limit", "8", "--report-out", str(report_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "server accuracy:" in out and "(PyTorch FP32)" in out
    report = json.loads(report_path.read_text())
    assert report["samples"] == 8 and report["data"] == str(birdnet_data)
    assert "best.ckpt" in report["server"] and report["edge"] != report["server"]
    assert report["server_accuracy"] >= 0.75  # the head hears the generated classes apart; the random edge does not
    curve = report["curve"]
    assert [row["threshold"] for row in curve] == [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
    assert all(0.0 <= row["share_to_server"] <= 1.0 for row in curve)

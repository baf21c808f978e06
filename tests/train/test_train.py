"""End-to-end training on a tiny generated set: the run folder contract, errors before training, transfer."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from nightscan_edge.checkpoint import load_trained_model
from nightscan_edge.config import resolve_config
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.data import DataError, load_run_samples
from nightscan_edge.data.prepare import prepare_data
from nightscan_edge.models import create_model
from nightscan_edge.train import read_events, train
from nightscan_edge.train.engine import build_model, initialise_batchnorm, initialise_from
from tests.conftest import write_tone
from tests.train.conftest import TINY_AUDIO, TINY_ULTRALIGHT, tiny_audio_config

RUN_FILES = {
    "config.yaml",
    "split.csv",
    "metrics.csv",
    "events.jsonl",
    "best.ckpt",
    "last.ckpt",
    "labels.txt",
    "report.json",
    "curves.png",
    "confusion_matrix.png",
    "status.json",
}


@pytest.fixture(scope="module")
def audio_run(synth_audio, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    return train(tiny_audio_config(synth_audio), run_dir=run_dir, progress=False)


def test_run_folder_holds_every_documented_file(audio_run):
    assert RUN_FILES <= {p.name for p in audio_run.run_dir.iterdir()}
    assert audio_run.status == "done" and audio_run.best_checkpoint.name == "best.ckpt"
    status = json.loads((audio_run.run_dir / "status.json").read_text())
    assert status["status"] == "done" and status["run_id"] == "tiny"
    with (audio_run.run_dir / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2]  # counted from 1
    labels = (audio_run.run_dir / "labels.txt").read_text().split()
    assert labels == sorted(labels) and len(labels) == 4


def test_events_follow_the_contract(audio_run):
    events = read_events(audio_run.run_dir / "events.jsonl")
    types = [e["type"] for e in events]
    assert types[-1] == "run_end" and events[-1]["status"] == "done"
    start = next(e for e in events if e["type"] == "run_start")
    assert start["epochs"] == 2 and start["model"] == "ultralight_audio" and start["resumed_from_epoch"] is None
    batches = [e for e in events if e["type"] == "batch_end"]
    # throttled to BATCH_EVENT_SECONDS, but every epoch's last batch is reported
    assert [(e["epoch"], e["batch"]) for e in batches if e["batch"] == e["batches"]] == [
        (1, start["batches_per_epoch"]),
        (2, start["batches_per_epoch"]),
    ]
    assert len(batches) <= 2 * start["batches_per_epoch"] and batches[0]["samples_per_s"] > 0
    epochs = [e for e in events if e["type"] == "epoch_end"]
    assert [e["epoch"] for e in epochs] == [1, 2] and all(0 <= e["val_acc"] <= 1 for e in epochs)
    assert events[-1]["best_val_acc"] == max(e["val_acc"] for e in epochs)


def test_checkpoint_rebuilds_the_model_and_report_matches_it(audio_run):
    checkpoint = torch.load(audio_run.run_dir / "best.ckpt", map_location="cpu", weights_only=True)
    assert all(key.startswith("model.") for key in checkpoint["state_dict"])
    trained = load_trained_model(audio_run.run_dir)
    assert trained.model_name == "ultralight_audio" and trained.spec.clip_samples == TINY_AUDIO["clip_samples"]
    report = json.loads((audio_run.run_dir / "report.json").read_text())
    assert set(report["per_class"]) == set(trained.labels)
    assert report["counts"]["val"] == {label: 1 for label in trained.labels}  # 6 per class, 20 % -> 1
    # The report's accuracy is the best checkpoint's clip-level accuracy on the saved validation split.
    inputs, labels, sources = load_run_samples(audio_run.run_dir, "val")
    assert inputs.shape[1] == TINY_AUDIO["clip_samples"] and len(sources) == len(labels)
    with torch.no_grad():
        probabilities = torch.softmax(trained.model.forward_waveform(torch.from_numpy(inputs)), 1).numpy()
    clip_correct = []
    for source in dict.fromkeys(sources):
        rows = [i for i, s in enumerate(sources) if s == source]
        clip_correct.append(probabilities[rows].mean(0).argmax() == labels[rows[0]])
    assert report["accuracy"] == pytest.approx(np.mean(clip_correct))
    limited, _, _ = load_run_samples(audio_run.run_dir, "train", limit=3, seed=1)
    assert limited.shape == (3, TINY_AUDIO["clip_samples"])


def test_existing_run_folder_is_not_overwritten(audio_run, synth_audio):
    with pytest.raises(ConfigError, match="--resume"):
        train(tiny_audio_config(synth_audio), run_dir=audio_run.run_dir, progress=False)


def test_init_from_copies_the_backbone_and_replaces_a_different_head(audio_run):
    spec = load_trained_model(audio_run.run_dir).spec
    same = create_model("ultralight_audio", 4, spec=spec, **TINY_ULTRALIGHT)
    labels = (audio_run.run_dir / "labels.txt").read_text().split()
    assert initialise_from(same, str(audio_run.run_dir), labels) == "backbone and head"
    reference = load_trained_model(audio_run.run_dir).model.state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in same.state_dict().items())
    other = create_model("ultralight_audio", 2, spec=spec, **TINY_ULTRALIGHT)
    assert "new head" in initialise_from(other, str(audio_run.run_dir), ["x", "y"])
    assert torch.equal(other.state_dict()["body.0.weight"], reference["body.0.weight"])
    wider = create_model("ultralight_audio", 4, spec=spec, stem_channels=12, blocks=[[16, 2]])
    with pytest.raises(ConfigError, match="do not fit"):
        initialise_from(wider, str(audio_run.run_dir), labels)


def test_photo_run_trains_on_images(synth_photo, tmp_path):
    config = resolve_config(
        {
            "data": {"path": str(synth_photo)},
            "model": {"name": "mobilenet_v3_small_photo", "image_size": 32},
            "train": {"epochs": 1, "batch_size": 8},
        }
    )
    assert config.train.optimizer == "sgd" and config.train.scheduler == "step"  # the photo preset
    run = train(config, run_dir=tmp_path / "photo", progress=False)
    assert load_trained_model(run.run_dir).spec.image_size == 32
    start = next(e for e in read_events(run.run_dir / "events.jsonl") if e["type"] == "run_start")
    assert start["batches_per_epoch"] == config.train.min_steps_per_epoch == 16  # a small set passes several times
    inputs, labels, _ = load_run_samples(run.run_dir, "val")
    assert inputs.shape == (len(labels), 3, 32, 32)


def test_bad_data_fails_before_training_with_one_clear_line(tmp_path):
    one_class = tmp_path / "one"
    for i in range(3):
        write_tone(one_class / "owl" / f"{i}.wav", 500, 0.2, 22050, seed=i)
    with pytest.raises(DataError, match="only one class"):
        train(tiny_audio_config(one_class), run_dir=tmp_path / "r1", progress=False)
    assert json.loads((tmp_path / "r1" / "status.json").read_text())["status"] == "failed"
    assert read_events(tmp_path / "r1" / "events.jsonl")[-1]["status"] == "failed"
    assert not (tmp_path / "r1" / "last.ckpt").exists()

    broken = tmp_path / "broken"
    for label in ("owl", "bat"):
        write_tone(broken / label / "ok.wav", 500, 0.2, 22050)
        for i in range(2):
            (broken / label / f"bad{i}.wav").write_bytes(b"not audio")
    with pytest.raises(DataError, match=r"4 of 6 files are unreadable .*max_bad_fraction"):
        train(tiny_audio_config(broken), run_dir=tmp_path / "r2", progress=False)

    photos = tmp_path / "photos"
    for label in ("a", "b"):
        (photos / label).mkdir(parents=True)
        (photos / label / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match="holds image files but model ultralight_audio takes audio"):
        train(tiny_audio_config(photos), run_dir=tmp_path / "r3", progress=False)
    with pytest.raises(ConfigError, match="unknown option"):
        resolve_config({"train": {"epochz": 3}})


def test_batchnorm_starts_at_the_statistics_of_the_first_training_inputs(synth_audio):
    config = tiny_audio_config(synth_audio)
    prepared = prepare_data(config)
    model = build_model(config, prepared)
    initialise_batchnorm(model, prepared)
    from nightscan_edge.data.datasets import clip_windows

    windows = np.concatenate([clip_windows(c, prepared.spec)[:1] for c in prepared.splits["train"].arrays[:64]])
    spectrogram = model.log_mel(torch.from_numpy(windows))
    assert model.input_norm.running_mean.item() == pytest.approx(spectrogram.mean().item(), rel=1e-4)
    assert model.input_norm.running_var.item() == pytest.approx(spectrogram.var().item(), rel=1e-3)
    assert model.input_norm.momentum == 0.1 and model.training  # momentum and mode restored
    stem_norm = model.body[1]
    assert stem_norm.running_var.mean().item() != pytest.approx(1.0)  # deeper layers set from data too

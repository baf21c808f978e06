"""Feature distillation (``train.embedding_teacher``) with a fake embedding source: the student learns the embedding
before the labels, on every folder given; the run records it, carries the licence and resumes exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nightscan_edge.audio.decode import window_starts
from nightscan_edge.birdnet.embeddings import EmbeddingStats
from nightscan_edge.birdnet.grid import GridEmbeddings
from nightscan_edge.commands import train as train_command
from nightscan_edge.config import resolve_config
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.data import write_synthetic_dataset
from nightscan_edge.models import create_model
from nightscan_edge.models.birdnet_extractor import BIRDNET_LICENCE
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.safe_load import load_torch_file
from nightscan_edge.spec import AudioSpec
from nightscan_edge.train import TrainingCancelled, embedding_distill, read_events, train
from nightscan_edge.train.embedding_distill import distill_embedding
from nightscan_edge.train.events import EventLog
from nightscan_edge.train.grid_windows import GridWindows
from tests.train.conftest import TINY_AUDIO, TINY_ULTRALIGHT, tiny_audio_config

FAKE_DIM = 12


class FakeEmbedding:
    """A stand-in for BirdNET: each grid window's log energy in ``FAKE_DIM`` frequency bands (something a small
    CNN on log-mel can learn to predict); counts the windows it embedded."""

    name = "fake"
    dim = FAKE_DIM
    licence = BIRDNET_LICENCE

    def __init__(self, spec: AudioSpec, hop_seconds: float = 0.5) -> None:
        self.spec = spec
        self.hop = int(hop_seconds * spec.sample_rate)
        self.stats = EmbeddingStats()
        self.paths: list[Path] = []

    def starts(self, clip: np.ndarray) -> np.ndarray:
        return np.asarray(window_starts(clip.size, self.spec.clip_samples, self.hop))

    def embed(self, clips, paths) -> GridEmbeddings:
        self.paths += list(paths)
        starts = [self.starts(clip) for clip in clips]
        embeddings = []
        for clip, offsets in zip(clips, starts, strict=True):
            rows = []
            for start in offsets:
                window = np.zeros(self.spec.clip_samples, np.float32)
                piece = clip[start : start + self.spec.clip_samples]
                window[: piece.size] = piece
                power = np.abs(np.fft.rfft(window)) ** 2
                rows.append(np.log1p([band.sum() for band in np.array_split(power, FAKE_DIM)]))
            embeddings.append(np.asarray(rows, np.float32))
        self.stats.windows_computed += sum(len(offsets) for offsets in starts)
        return GridEmbeddings(starts, embeddings)


@pytest.fixture
def fake_source(monkeypatch):
    made: list[FakeEmbedding] = []

    def source(config, spec):
        made.append(FakeEmbedding(spec))
        return made[-1]

    monkeypatch.setattr(embedding_distill, "embedding_source", source)
    return made


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Two folders of unlabelled audio (their class folders are ignored): --unlabeled and --embedding-audio."""
    root = tmp_path_factory.mktemp("unlabelled")
    return (
        write_synthetic_dataset(root / "night", per_class=3, seed=7),
        write_synthetic_dataset(root / "ambient", per_class=3, seed=8),
    )


def feature_config(data, recordings, **train):
    unlabeled, ambient = recordings
    return tiny_audio_config(
        data,
        embedding_teacher="birdnet",
        embedding_epochs=3,
        unlabeled=str(unlabeled),
        embedding_audio=[str(ambient)],
        **train,
    )


def test_distill_embedding_moves_the_features_towards_the_targets_and_leaves_the_head(tmp_path):
    spec = AudioSpec(**TINY_AUDIO)
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(spec.clip_samples * 3).astype(np.float32) * scale for scale in (0.05, 0.2, 0.8)]
    source = FakeEmbedding(spec)
    grid = source.embed(clips, [None] * 3)
    targets = [torch.nn.functional.normalize(torch.from_numpy(rows), dim=1) for rows in grid.embeddings]
    windows = GridWindows(clips, grid.starts, targets, spec, "test audio")
    model = create_model("ultralight_audio", 3, spec=spec, **TINY_ULTRALIGHT)
    head = {k: v.clone() for k, v in model.head.state_dict().items()}
    config = resolve_config(
        {
            "model": {"name": "ultralight_audio"},
            "train": {"embedding_epochs": 4, "batch_size": 8, "lr": 3e-3, "min_steps_per_epoch": 4},
        }
    )
    folder = RunFolder(tmp_path)
    history = distill_embedding(
        model, windows, config, folder, EventLog(folder.events), lambda: None, torch.device("cpu")
    )
    assert [record["epoch"] for record in history] == [1, 2, 3, 4]
    assert history[-1]["cosine"] > history[0]["cosine"]
    assert all(torch.equal(model.head.state_dict()[k], v) for k, v in head.items())  # only the features learn
    saved = load_torch_file(folder.embedding_checkpoint)
    assert saved["history"] == history and saved["projection"]["weight"].shape == (FAKE_DIM, model.head.in_features)
    events = [e for e in read_events(folder.events) if e["type"] == "embedding_epoch_end"]
    assert [(e["epoch"], e["epochs"]) for e in events] == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_feature_distilled_run_learns_from_every_folder_records_it_and_carries_the_licence(
    synth_audio, recordings, fake_source, tmp_path
):
    run = train(feature_config(synth_audio, recordings), run_dir=tmp_path / "run", progress=False)
    (source,) = fake_source
    folders = {Path(path).parents[1] for path in source.paths if Path(path).parents[1] != Path(synth_audio)}
    assert folders == {Path(folder).resolve() for folder in recordings}  # both unlabelled folders were embedded
    events = read_events(run.run_dir / "events.jsonl")
    types = [e["type"] for e in events]
    assert types.count("embedding_epoch_end") == 3 and types.count("epoch_end") == 2
    assert max(i for i, t in enumerate(types) if t == "embedding_epoch_end") < types.index("epoch_end")
    (note,) = [e["message"] for e in events if e["type"] == "log" and e["message"].startswith("embedding distill")]
    assert "training clip(s)" in note and "--unlabeled" in note and "--embedding-audio" in note
    checkpoint = load_torch_file(run.best_checkpoint)
    assert checkpoint["nightscan"]["licence"] == BIRDNET_LICENCE
    assert checkpoint["nightscan"]["config"]["train"]["embedding_teacher"] == "birdnet"
    assert not any("projection" in key for key in checkpoint["state_dict"])  # dropped after the phase
    assert (run.run_dir / "report.json").is_file()


def test_cancelled_embedding_phase_resumes_exactly(synth_audio, recordings, fake_source, tmp_path, monkeypatch):
    config = feature_config(synth_audio, recordings, epochs=1)
    whole = train(config, run_dir=tmp_path / "whole", progress=False)

    original = embedding_distill.EmbeddingPhase.save

    def save_then_cancel(phase, model, folder):
        original(phase, model, folder)
        if len(phase.history) == 1:
            raise TrainingCancelled(15)

    monkeypatch.setattr(embedding_distill.EmbeddingPhase, "save", save_then_cancel)
    with pytest.raises(TrainingCancelled):
        train(config, run_dir=tmp_path / "cut", progress=False)
    assert not (tmp_path / "cut" / "last.ckpt").exists() and (tmp_path / "cut" / "embedding.ckpt").is_file()
    monkeypatch.setattr(embedding_distill.EmbeddingPhase, "save", original)
    resumed = train(resume=tmp_path / "cut", progress=False)

    def history(run_dir):
        return [e["cosine"] for e in read_events(run_dir / "events.jsonl") if e["type"] == "embedding_epoch_end"]

    # The cut run saved epoch 1 and stopped; the resumed one ran epochs 2 and 3 exactly as the whole run did.
    assert history(resumed.run_dir) == pytest.approx(history(whole.run_dir)[1:], abs=1e-6)
    logs = [e["message"] for e in read_events(resumed.run_dir / "events.jsonl") if e["type"] == "log"]
    assert "embedding distillation resumed after epoch 1/3" in logs
    cut_state, whole_state = (load_torch_file(r.best_checkpoint)["state_dict"] for r in (resumed, whole))
    assert all(torch.allclose(cut_state[k].float(), whole_state[k].float(), atol=1e-5) for k in whole_state)


def test_unlabeled_without_a_teacher_is_still_refused_unless_an_embedding_is_learnt(synth_audio, recordings, tmp_path):
    config = tiny_audio_config(synth_audio, unlabeled=str(recordings[0]))
    with pytest.raises(ConfigError, match="--embedding-teacher birdnet"):
        train(config, run_dir=tmp_path / "run", progress=False)


@pytest.mark.parametrize(
    ("model", "words"), [("birdnet_head", "already is a head"), ("mobilenet_v3_small_photo", "takes photos")]
)
def test_embedding_teacher_for_a_model_that_cannot_learn_it_is_refused_before_anything_is_written(
    synth_audio, tmp_path, model, words
):
    config = resolve_config(
        {"data": {"path": str(synth_audio)}, "model": {"name": model}, "train": {"embedding_teacher": "birdnet"}}
    )
    with pytest.raises(ConfigError, match=words):
        train(config, run_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_cli_flags_reach_the_config():
    import argparse

    parser = argparse.ArgumentParser()
    train_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(
        ["train", "--data", "clips", "--model", "ultralight_audio", "--embedding-teacher", "birdnet"]
        + ["--embedding-epochs", "4", "--embedding-audio", "ambient one", "--embedding-audio", "night"]
    )
    config = train_command.config_from_args(args)
    assert config.train.embedding_teacher == "birdnet" and config.train.embedding_epochs == 4
    assert config.train.embedding_audio == ["ambient one", "night"]

"""Distillation loss and checkpoint hygiene; cancel (SIGTERM) + ``--resume`` == an uninterrupted run."""

from __future__ import annotations

import json

import pytest
import torch
from torch.nn import functional as F

from nightscan_edge.config_layers import ConfigError
from nightscan_edge.models import create_model
from nightscan_edge.spec import AudioSpec
from nightscan_edge.train import read_events, train
from nightscan_edge.train.distill import Teacher, load_teacher
from tests.train.conftest import TINY_AUDIO, TINY_ULTRALIGHT, cancelled_after_first_epoch, tiny_audio_config


def test_distillation_loss_is_the_documented_mix():
    spec = AudioSpec(**TINY_AUDIO)
    model = create_model("ultralight_audio", 3, spec=spec, **TINY_ULTRALIGHT)
    teacher = Teacher(model, spec, temperature=2.0, alpha=0.25)
    x = torch.randn(4, 1, *spec.spectrogram_shape[1:])
    student = torch.randn(4, 3)
    hard = torch.tensor(1.5)
    with torch.no_grad():
        teacher_logits = model.eval()(x)
    expected = (
        0.25 * 4.0 * F.kl_div(F.log_softmax(student / 2, 1), F.softmax(teacher_logits / 2, 1), reduction="batchmean")
        + 0.75 * hard
    )
    assert torch.allclose(teacher.distillation_loss(student, None, x, hard), expected, atol=1e-6)
    assert not any(p.requires_grad for p in model.parameters())


@pytest.fixture(scope="module")
def teacher_run(synth_audio, tmp_path_factory):
    return train(
        tiny_audio_config(synth_audio, epochs=1), run_dir=tmp_path_factory.mktemp("t") / "teacher", progress=False
    )


def test_student_trains_with_a_teacher_and_saves_only_its_own_weights(synth_audio, teacher_run, tmp_path):
    config = tiny_audio_config(synth_audio, epochs=1, teacher=str(teacher_run.run_dir), distill_alpha=0.5)
    student = train(config, run_dir=tmp_path / "student", progress=False)
    checkpoint = torch.load(student.best_checkpoint, map_location="cpu", weights_only=True)
    teacher_keys = torch.load(teacher_run.best_checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    assert set(checkpoint["state_dict"]) == set(teacher_keys)  # same architecture, no extra teacher.* copies
    assert not any("teacher" in key for key in checkpoint["state_dict"])
    assert checkpoint["nightscan"]["config"]["train"]["teacher"] == str(teacher_run.run_dir)


def test_teacher_with_other_labels_is_refused(teacher_run):
    spec = AudioSpec(**TINY_AUDIO)
    with pytest.raises(ConfigError, match="distill on the same classes"):
        load_teacher(teacher_run.run_dir, ["a", "b"], spec, 4.0, 0.5)
    with pytest.raises(ConfigError, match="must match"):
        labels = (teacher_run.run_dir / "labels.txt").read_text().split()
        load_teacher(teacher_run.run_dir, labels, AudioSpec(**{**TINY_AUDIO, "clip_samples": 8192}), 4.0, 0.5)


@pytest.mark.slow
def test_sigterm_then_resume_equals_an_uninterrupted_run(synth_audio, tmp_path):
    config = tiny_audio_config(
        synth_audio, epochs=3, scheduler="plateau", plateau_patience=0, gamma=0.5, early_stopping_patience=2
    )
    reference = train(config, run_dir=tmp_path / "reference", progress=False)

    interrupted = tmp_path / "interrupted"
    cancelled_after_first_epoch(config, interrupted)
    status = json.loads((interrupted / "status.json").read_text())
    assert status["status"] == "cancelled" and status["resume_from"].endswith("last.ckpt")
    assert read_events(interrupted / "events.jsonl")[-1]["status"] == "cancelled"

    resumed = train(resume=interrupted, progress=False)
    starts = [e for e in read_events(interrupted / "events.jsonl") if e["type"] == "run_start"]
    # Lightning's own SIGTERM handling may stop right at the epoch end, before the next epoch-start
    # checkpoint: the run then replays from the last epoch start, still exactly.
    assert len(starts) == 2 and starts[-1]["resumed_from_epoch"] in (1, 2)  # counted from 1
    assert (reference.run_dir / "metrics.csv").read_text().count("\n") == (
        interrupted / "metrics.csv"
    ).read_text().count("\n")
    for name in ("last.ckpt", "best.ckpt"):
        a = torch.load(reference.run_dir / name, map_location="cpu", weights_only=True)["state_dict"]
        b = torch.load(interrupted / name, map_location="cpu", weights_only=True)["state_dict"]
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert resumed.metrics["val_acc"] == reference.metrics["val_acc"]

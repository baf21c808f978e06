"""``train.objective=multilabel`` end to end on a tiny generated soundscape: sigmoid targets from a ``labels``
column, negatives, ``--background`` as all-zero targets, mAP checkpointing and per-class thresholds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from nightscan_edge.checkpoint import read_checkpoint_meta
from nightscan_edge.config import resolve_config
from nightscan_edge.data.prepare import prepare_data
from nightscan_edge.objective import multilabel_report
from nightscan_edge.train import train
from nightscan_edge.train.losses import soft_loss
from nightscan_edge.train.training_objective import MultiLabelTraining
from tests.train.conftest import tiny_audio_config

RATE = 22050
TONES = {"owl": 700.0, "frog": 2500.0, "bat": 6000.0}


def _soundscape(path: Path, labels: tuple[str, ...], rng: np.random.Generator) -> None:
    t = np.arange(int(0.3 * RATE)) / RATE
    signal = 0.02 * rng.standard_normal(t.size)
    for label in labels:
        signal += 0.3 * np.sin(2 * np.pi * TONES[label] * (1 + 0.03 * rng.standard_normal()) * t)
    soundfile.write(path, signal.astype(np.float32), RATE)


@pytest.fixture(scope="module")
def soundscape(tmp_path_factory) -> Path:
    """30 clips: every combination of three tones (owl, frog, bat) and clips where nothing calls."""
    root = tmp_path_factory.mktemp("soundscape")
    rng = np.random.default_rng(0)
    combos = [("owl",), ("frog",), ("bat",), ("frog", "owl"), ("bat", "owl"), ("bat", "frog", "owl"), ()]
    rows = ["path,labels"]
    for index in range(35):
        labels = combos[index % len(combos)]
        _soundscape(root / f"clip{index}.wav", labels, rng)
        rows.append(f"clip{index}.wav,{';'.join(labels)}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def _multilabel(data: Path, **train_options) -> object:
    config = tiny_audio_config(data, objective="multilabel", **train_options)
    return resolve_config(config.model_dump(mode="json"))


@pytest.fixture(scope="module")
def multilabel_run(soundscape, tmp_path_factory):
    return train(_multilabel(soundscape, epochs=2), run_dir=tmp_path_factory.mktemp("runs") / "ml", progress=False)


@pytest.mark.slow
def test_a_multilabel_run_checkpoints_by_map_with_per_class_thresholds(multilabel_run):
    run_dir = multilabel_run.run_dir
    report = json.loads((run_dir / "report.json").read_text())
    assert report["objective"] == "multilabel" and report["labels"] == ["bat", "frog", "owl"]
    assert 0 <= report["map"] <= 1 and report["val"]["negatives"] > 0
    section = multilabel_report(report)  # the typed section the web renders (docs/multilabel.md)
    assert section is not None and section.map == report["map"] and section.threshold_rule == "best_f1"
    for label in report["labels"]:
        figures = section.per_class[label]
        assert figures.ap is not None and 0 < figures.threshold < 1 and figures.support > 0
        assert len(section.pr_curves[label].precision) >= 2
    with (run_dir / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    best = max(rows, key=lambda row: float(row["val_map"]))
    assert report["best_epoch"] == int(best["epoch"])
    assert read_checkpoint_meta(run_dir / "best.ckpt").thresholds == pytest.approx(report["thresholds"])
    assert not (run_dir / "confusion_matrix.png").exists()


def test_background_audio_is_all_zero_targets_not_a_class(soundscape, tmp_path):
    ambience = tmp_path / "ambience"
    ambience.mkdir()
    soundfile.write(ambience / "night.wav", (0.02 * np.random.default_rng(1).standard_normal(RATE * 4)), RATE)
    config = resolve_config(
        _multilabel(soundscape).model_dump(mode="json"),
        {"data": {"background": str(ambience), "background_windows": 6}},
    )
    prepared = prepare_data(config)
    assert prepared.labels == ["bat", "frog", "owl"]
    background = [
        row for split in prepared.splits.values() for path, row in zip(split.paths, split.targets, strict=True)
        if "night.wav" in str(path)
    ]  # fmt: skip
    assert len(background) == 6 and all(not row.any() for row in background)


def test_focal_loss_and_multilabel_distillation_targets():
    objective = MultiLabelTraining(resolve_config({"train": {"objective": "multilabel", "multilabel_loss": "focal"}}))
    logits = torch.tensor([[4.0, -4.0], [-4.0, 4.0]])
    right, wrong = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert objective.loss(logits, right, None) < 0.01 * objective.loss(logits, wrong, None)
    # a teacher hearing both species teaches both: the student that says both is closer than one saying one
    teacher = torch.tensor([[3.0, 3.0]])
    assert soft_loss(torch.tensor([[3.0, 3.0]]), teacher, 2.0, multilabel=True) < soft_loss(
        torch.tensor([[3.0, -3.0]]), teacher, 2.0, multilabel=True
    )


def test_a_softmax_run_refuses_clips_with_several_labels(soundscape, tmp_path):
    with pytest.raises(Exception, match="train.objective=multilabel"):
        train(tiny_audio_config(soundscape), run_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "best.ckpt").exists()


@pytest.mark.slow
def test_photo_models_train_multilabel_from_a_folder_tree(synth_photo, tmp_path):
    config = resolve_config(
        {
            "data": {"path": str(synth_photo)},
            "model": {"name": "mobilenet_v3_small_photo", "image_size": 32, "weights": "none"},
            "train": {"objective": "multilabel", "epochs": 1, "batch_size": 8, "min_steps_per_epoch": 0},
        }
    )
    run = train(config, run_dir=tmp_path / "photo", progress=False)
    report = json.loads((run.run_dir / "report.json").read_text())
    assert report["objective"] == "multilabel" and len(report["thresholds"]) == 4
    assert "val_grey" in report and "map" in report["val_grey"]


@pytest.mark.slow
def test_a_multilabel_teacher_teaches_a_multilabel_student(multilabel_run, soundscape, tmp_path):
    config = _multilabel(soundscape, epochs=1, teacher=str(multilabel_run.run_dir), distill_alpha=0.5)
    run = train(config, run_dir=tmp_path / "student", progress=False)
    report = json.loads((run.run_dir / "report.json").read_text())
    assert report["objective"] == "multilabel" and 0 <= report["map"] <= 1

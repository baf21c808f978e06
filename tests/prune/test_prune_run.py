"""``prune RUN``: a trained run -> pruned, fine-tuned, normal run folder that rebuilds and exports."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nightscan_edge import cli
from nightscan_edge.checkpoint import load_trained_model
from nightscan_edge.config import load_config, resolve_config
from nightscan_edge.models import measure_complexity

pytest.importorskip("torch_pruning")

# A small spectrogram (32 mels x 33 frames at 8 kHz) keeps training and pruning to seconds.
SMALL_AUDIO = {"sample_rate": 8000, "clip_samples": 8192, "n_fft": 512, "hop_length": 256, "n_mels": 32}


def main(argv: list[str]) -> int:
    """The real CLI entry point with only this command loaded (the others import heavy extras)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "COMMAND_MODULES", ("prune",))
        return cli.main(argv)


@pytest.fixture(scope="module")
def parent_run(tmp_path_factory):
    from nightscan_edge.data.synth import write_synthetic_dataset
    from nightscan_edge.train import train

    root = tmp_path_factory.mktemp("prune")
    data = write_synthetic_dataset(root / "data", "audio", per_class=5, sample_rate=8000)
    config = resolve_config(
        {
            "data": {"path": str(data), "augment": False},
            "model": {"name": "ultralight_audio", "audio": SMALL_AUDIO},
            "train": {"epochs": 1, "batch_size": 8, "runs_dir": str(root / "runs"), "run_name": "parent"},
        }
    )
    return train(config, progress=False).run_dir


def test_prune_without_finetune_writes_a_run_that_rebuilds_the_pruned_model(parent_run, capsys):
    assert (
        main(["prune", str(parent_run), "--target-macs", "0.5", "--finetune-epochs", "0", "--run-name", "pruned-raw"])
        == 0
    )
    run_dir = parent_run.parent / "pruned-raw"
    assert "run folder:" in capsys.readouterr().out
    record = json.loads((run_dir / "prune.json").read_text())
    assert record["macs_ratio"] <= 0.5 and record["parent_run_id"] == "parent"

    parent, pruned = load_trained_model(parent_run), load_trained_model(run_dir)
    assert pruned.labels == parent.labels and pruned.spec == parent.spec
    assert measure_complexity(pruned.model).macs <= 0.5 * measure_complexity(parent.model).macs
    assert measure_complexity(pruned.model).model_size_mb < 0.7 * measure_complexity(parent.model).model_size_mb
    config = load_config(run_dir / "config.yaml")
    assert config.model.options["pruned_channels"]
    assert (run_dir / "split.csv").read_text() == (parent_run / "split.csv").read_text()
    assert json.loads((run_dir / "status.json").read_text())["status"] == "done"
    assert config.train.teacher is None  # nothing was fine-tuned, so nothing was distilled


@pytest.mark.slow
def test_prune_with_finetune_is_a_normal_trained_run(parent_run):
    from nightscan_edge.prune.run import prune_run

    result = prune_run(parent_run, target_macs=0.5, finetune_epochs=1, run_name="pruned-tuned")
    run_dir = result.run_dir
    for name in ("config.yaml", "best.ckpt", "last.ckpt", "split.csv", "labels.txt", "report.json", "events.jsonl"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "split.csv").read_text() == (parent_run / "split.csv").read_text()
    trained = load_trained_model(run_dir)
    assert measure_complexity(trained.model).macs == result.stats.macs_after
    assert result.record["val_acc"] == json.loads((run_dir / "report.json").read_text())["accuracy"]
    # the parent had no teacher: the fine-tune distils from the unpruned parent itself
    assert result.record["finetune_teacher"] == str(parent_run.resolve())
    assert load_config(run_dir / "config.yaml").train.teacher == str(parent_run.resolve())
    wave = torch.randn(2, trained.spec.clip_samples) * 0.1
    with torch.no_grad():
        assert np.isfinite(trained.model.forward_waveform(wave).numpy()).all()


@pytest.mark.slow
def test_prune_no_self_distill_finetunes_on_labels_only(parent_run, capsys):
    assert (
        main(
            [
                "prune",
                str(parent_run),
                "--finetune-epochs",
                "1",
                "--no-self-distill",
                "--no-progress",
                "--run-name",
                "pruned-labels-only",
            ]
        )
        == 0
    )
    run_dir = parent_run.parent / "pruned-labels-only"
    assert load_config(run_dir / "config.yaml").train.teacher is None
    assert json.loads((run_dir / "prune.json").read_text())["finetune_teacher"] is None
    assert (run_dir / "best.ckpt").is_file()


def test_prune_errors_are_one_line(parent_run, tmp_path, capsys):
    assert main(["prune", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["prune", str(parent_run), "--target-macs", "2"]) == 2
    assert "between 0 and 1" in capsys.readouterr().err
    assert main(["prune", str(parent_run), "--finetune-epochs", "-1"]) == 2
    assert "0 or more" in capsys.readouterr().err

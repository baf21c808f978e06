"""``nightscan-edge train`` flags map onto the config; --resume refuses options it would ignore."""

from __future__ import annotations

import argparse

import pytest

from nightscan_edge.cli import UserError
from nightscan_edge.commands import train as train_command


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    train_command.add_parser(parser.add_subparsers())
    return parser.parse_args(["train", *argv])


def test_flags_override_set_and_presets(tmp_path):
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("train:\n  epochs: 7\n  lr: 0.5\n")
    config = train_command.config_from_args(
        _args(
            [
                "--data",
                "some/dir",
                "--model",
                "mobilenet_v3_small_photo",
                "--config",
                str(yaml_file),
                "--set",
                "train.lr=0.02",
                "--set",
                "model.image_size=64",
                "--batch-size",
                "16",
                "--devices",
                "0,1",
                "--teacher",
                "runs/big",
                "--run-name",
                "photo-1",
            ]
        )
    )
    assert config.train.epochs == 7 and config.train.lr == 0.02 and config.train.batch_size == 16
    assert config.train.optimizer == "sgd"  # photo preset
    assert config.model.image_size == 64 and config.data.path == "some/dir"
    assert config.train.devices == "0,1" and config.train.teacher == "runs/big" and config.train.run_name == "photo-1"


def test_resume_refuses_options_it_would_ignore():
    with pytest.raises(UserError, match="drop --epochs, --set"):
        train_command.run(_args(["--resume", "runs/x", "--epochs", "3", "--set", "train.lr=1"]))
    with pytest.raises(UserError, match="give --data"):
        train_command.run(_args(["--model", "ultralight_audio"]))

"""``--resume`` on other hardware: the device flags given now replace the saved ones; nothing else changes."""

from __future__ import annotations

import json
import subprocess

import pytest

from nightscan_edge.commands import train as train_command
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.errors import UserError
from nightscan_edge.train import engine, read_events, train
from tests.train.conftest import cancelled_after_first_epoch, tiny_audio_config
from tests.train.test_ddp import _env, _rows

CHANGED = "resumed on other devices: devices 2 (was auto), accelerator cpu (was auto), strategy ddp (was auto)"


class _Stop(Exception):
    pass


@pytest.fixture
def killed_run(synth_audio, tmp_path):
    """A finished one-epoch run made to look killed (-9) before its report: resumable, in seconds."""
    run = train(tiny_audio_config(synth_audio, epochs=1, lr=0.003), run_dir=tmp_path / "run", progress=False)
    (run.run_dir / "report.json").unlink()
    status = json.loads((run.run_dir / "status.json").read_text())
    (run.run_dir / "status.json").write_text(json.dumps({**status, "status": "running"}))
    return run.run_dir


def _args(argv):
    import argparse

    parser = argparse.ArgumentParser()
    train_command.add_parser(parser.add_subparsers())
    return parser.parse_args(["train", *argv])


def test_resume_flags_reach_the_trainer_and_the_rest_of_the_config_stays(killed_run, monkeypatch):
    saved_yaml = (killed_run / "config.yaml").read_text()
    seen = {}

    def capture(config, plan, folder, progress, callbacks):
        seen.update(config=config, plan=plan)
        raise _Stop

    monkeypatch.setattr(engine, "build_trainer", capture)
    args = _args(
        ["--resume", str(killed_run), "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp"]
        + ["--set", "train.num_nodes=1", "--no-progress"]
    )
    with pytest.raises(_Stop):
        train_command.run(args)
    config, plan = seen["config"], seen["plan"]
    assert (plan.accelerator, plan.devices, config.train.strategy) == ("cpu", 2, "ddp")
    assert config.train.lr == 0.003 and config.train.epochs == 1  # the saved options, not the defaults
    assert (killed_run / "config.yaml").read_text() == saved_yaml  # the run's record of its start is kept
    notes = [e["message"] for e in read_events(killed_run / "events.jsonl") if e["type"] == "log"]
    assert CHANGED in notes


def test_resume_refuses_what_is_not_a_device_option(killed_run):
    status = (killed_run / "status.json").read_text()
    with pytest.raises(UserError, match="drop --set train.lr=1"):
        train_command.run(_args(["--resume", str(killed_run), "--devices", "2", "--set", "train.lr=1"]))
    with pytest.raises(ConfigError, match="only devices, accelerator, strategy, num_nodes may change"):
        train(resume=killed_run, device_options={"batch_size": 4}, progress=False)
    with pytest.raises(ConfigError, match="no GPU is visible"):  # checked before anything is written
        train(resume=killed_run, device_options={"accelerator": "gpu"}, progress=False)
    assert (killed_run / "status.json").read_text() == status


@pytest.mark.slow
def test_a_one_device_run_resumes_on_two_ddp_processes(synth_audio, tmp_path):
    run_dir = tmp_path / "one-then-two"
    cancelled_after_first_epoch(tiny_audio_config(synth_audio, epochs=3), run_dir)
    resumed = subprocess.run(
        train_command_line("--resume", str(run_dir), "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp"),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stdout.count("best val accuracy") == 1  # rank 0 reports; rank 1 is quiet
    assert "MEMBER: 2/2" in resumed.stderr  # Lightning's line from the second process
    events = read_events(run_dir / "events.jsonl")
    notes = [e["message"] for e in events if e["type"] == "log"]
    assert CHANGED in notes
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "done"
    assert [r["epoch"] for r in _rows(run_dir)] == ["1", "2", "3"]


def train_command_line(*args: str) -> list[str]:
    import sys

    return [sys.executable, "-m", "nightscan_edge.cli", "train", *args, "--no-progress"]

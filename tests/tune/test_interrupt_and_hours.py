"""The same command continues a study killed mid-trial (``kill -9``: no Ctrl-C handler runs), and ``--hours``
stops a study cleanly: on a tiny generated set, ONNX only."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nightscan_edge.cli import main
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.train.events import read_events
from nightscan_edge.tune import attrs
from nightscan_edge.tune.storage import default_storage_url
from tests.tune.conftest import tiny_tune_args

# two epochs: the kill lands after the first one's checkpoint, while the second, the report and the export remain
LONGER = ("--epochs", "2")


def _trials(out: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=default_storage_url(out)).trials


def _kill_after_first_epoch(args: list[str], first_checkpoint: Path) -> None:
    """Run the command in a child process and ``kill -9`` it once the first trial has finished an epoch.

    A fresh interpreter, not a fork: a forked copy of a test process whose earlier tests started threads (an
    in-process study, a web server) can deadlock on a lock one of those threads held at the fork."""
    process = subprocess.Popen([sys.executable, "-m", "nightscan_edge.cli", *args])
    try:
        deadline = time.monotonic() + 180
        while not first_checkpoint.is_file():
            assert process.poll() is None, "the command ended before its first trial wrote a checkpoint"
            assert time.monotonic() < deadline, "the first trial never wrote a checkpoint"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


@pytest.mark.slow
def test_a_study_killed_mid_trial_resumes_with_the_same_command(tune_audio, roomy_budget, tiny_space, tmp_path):
    out = tmp_path / "study"
    args = tiny_tune_args(tune_audio, roomy_budget, tiny_space, out, "--trials", "1", "--study", "killed", *LONGER)
    first_folder = RunFolder(out / "runs" / "killed-trial-0000")
    _kill_after_first_epoch(args, first_folder.last_checkpoint)
    assert [t.state for t in _trials(out, "killed")] == [TrialState.RUNNING]  # kill -9: nothing recorded it

    assert main(args) == 0  # the same command
    trials = _trials(out, "killed")
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert trials[0].user_attrs[attrs.INTERRUPTED] and attrs.ERROR not in trials[0].user_attrs
    resumed = trials[1]
    assert resumed.user_attrs[attrs.RESUME_OF] == 0 and resumed.params == trials[0].params  # re-queued once
    assert resumed.user_attrs[attrs.PROBE]  # still the smallest configuration, measured before any other
    # the resumed trial continued the killed one's folder from its checkpoint: no second folder, no epoch 1 again
    assert resumed.user_attrs[attrs.RUN_DIR] == str(first_folder.path)
    assert [p.name for p in (out / "runs").iterdir()] == ["killed-trial-0000"]
    starts = [e.get("resumed_from_epoch") for e in read_events(first_folder.events) if e["type"] == "run_start"]
    assert len(starts) == 2 and starts[0] is None and starts[1] is not None  # the second start resumed last.ckpt
    table = json.loads((out / "pareto.json").read_text())
    assert [(row["trial"], row["state"]) for row in table["trials"]] == [(0, "interrupted"), (1, "complete")]

    assert main(args) == 0  # once more: nothing left to run, nothing run twice
    assert len(_trials(out, "killed")) == 2


@pytest.mark.slow
def test_hours_stops_the_study_cleanly_after_the_running_trial(tune_audio, roomy_budget, tiny_space, tmp_path, capsys):
    out = tmp_path / "study"
    assert main(tiny_tune_args(tune_audio, roomy_budget, tiny_space, out, "--hours", "0.0001", "--study", "h")) == 0
    printed = capsys.readouterr().out
    assert "time limit of 0.0001 h reached; the same command continues the study" in printed
    trials = _trials(out, "h")
    assert [t.state for t in trials] == [TrialState.COMPLETE]  # the first trial ends; no other starts
    assert json.loads((out / "pareto.json").read_text())["winner"] == 0

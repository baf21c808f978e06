"""``nightscan-edge tune`` end to end on a tiny generated set: 2 Dask workers on one SQLite study, every trial
an ordinary run folder of its own, the Pareto files in the study folder, and the winner passing ``check``."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from nightscan_edge.run_folder import RunFolder
from nightscan_edge.tune import attrs
from nightscan_edge.tune.storage import default_storage_url
from tests.tune.conftest import tiny_tune_args

pytest.importorskip("distributed", reason="--workers needs the archive extra (Dask)")


@pytest.mark.slow
def test_two_workers_share_one_study_without_running_or_losing_a_trial(
    tune_audio, roomy_budget, tiny_space, tmp_path, capsys
):
    from nightscan_edge.cli import main

    out = tmp_path / "study"
    args = tiny_tune_args(tune_audio, roomy_budget, tiny_space, out, "--trials", "3", "--workers", "2",
                          "--study", "pair")  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "study pair: 3 trial(s)" in printed and "winner: trial" in printed

    trials = optuna.load_study(study_name="pair", storage=default_storage_url(out)).trials
    assert sorted(t.number for t in trials) == [0, 1, 2]  # the probe + one on each worker: none lost, none twice
    assert all(t.state.is_finished() for t in trials)
    run_dirs = [t.user_attrs[attrs.RUN_DIR] for t in trials]
    assert len(set(run_dirs)) == 3  # one folder per trial, never shared
    for run_dir in run_dirs:
        folder = RunFolder(run_dir)
        assert folder.read_config().model.name == "ultralight_audio"
        assert folder.read_status()["status"] == "done"

    table = json.loads((out / "pareto.json").read_text())
    assert [row["trial"] for row in table["trials"]] == [0, 1, 2]
    assert (out / "pareto.md").is_file() and (out / "pareto.png").is_file()
    winner = json.loads((out / "winner.json").read_text())
    assert winner["within_budget"] and winner["trial"] == table["winner"]
    assert main(["check", winner["export_dir"], "--budget", str(roomy_budget), "--iterations", "3"]) == 0


@pytest.mark.slow
def test_confirm_trains_the_best_trial_on_another_seed_end_to_end(tune_audio, roomy_budget, tiny_space, tmp_path,
                                                                  capsys):  # fmt: skip
    from nightscan_edge.cli import main

    out = tmp_path / "study"
    args = tiny_tune_args(tune_audio, roomy_budget, tiny_space, out, "--trials", "2", "--study", "c",
                          "--confirm", "1", "--confirm-seeds", "1", "--set", "train.seed=7")  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "confirming trial" in printed and "winner: trial" in printed
    assert "confirmed on seeds [7, 8]" in printed or "the winner above is one seed's figure" in printed
    saved = json.loads((out / "confirm.json").read_text())
    assert saved["seeds"] == [8] and len(saved["runs"]) == 1
    ((key, entry),) = saved["runs"].items()
    trial = int(key.split("/")[0])
    folder = RunFolder(entry["run_dir"])
    assert folder.path.name == f"c-trial-{trial:04d}-seed-8"
    assert folder.read_config().train.seed == 8 and folder.read_status()["status"] == "done"
    assert Path(entry[attrs.EXPORT_DIR]).is_dir() and entry[attrs.MEASUREMENT]["macro_f1"] is not None
    table_json = json.loads((out / "pareto.json").read_text())
    assert table_json["confirmations"][0]["seeds"] == [7, 8]
    # the same command again trains nothing more
    assert main(args) == 0
    assert "confirming trial" not in capsys.readouterr().out

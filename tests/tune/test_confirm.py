"""``tune --confirm``: the best trials re-trained on more seeds, resumable, and the winner named by its mean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nightscan_edge.run_folder import RunFolder
from nightscan_edge.study_folder import StudyFolder
from nightscan_edge.tune import attrs, confirm
from nightscan_edge.tune.results import table, write_results
from tests.tune.conftest import tiny_tune_args
from tests.tune.test_results import _measured, _study


def _plan(tmp_path: Path) -> confirm.StudyPlan:
    from nightscan_edge.bench import Budget
    from nightscan_edge.models.search_space import search_space

    return confirm.StudyPlan(
        name="s", storage_url="sqlite://", folder=tmp_path, base_layer={"train": {"seed": 42, "epochs": 1}},
        space=search_space("ultralight_audio"), budget=Budget(max_mb=1.0), formats=("onnx",),
    )  # fmt: skip


def _fake_measure(scores: dict[tuple[int, int], float | None], calls: list[tuple[int, int]]):
    def measure_on_seed(plan, row, seed):
        calls.append((row.trial, seed))
        score = scores[(row.trial, seed)]
        if score is None:
            return {"run_dir": "x", "error": "RuntimeError: diverged"}
        over = ["model_int8.onnx: int8 gate"] if score < 0.5 else []
        return {"run_dir": "x", attrs.MEASUREMENT: _measured(score, 1.0, over)}

    return measure_on_seed


def test_the_winner_is_the_best_mean_among_candidates_that_hold_on_every_seed(tmp_path, monkeypatch):
    # trials within the budget: 1 (0.90), 2 (0.85), 0 (0.80); 3 is over it and never a candidate
    scores = {(1, 43): 0.70, (1, 44): 0.72, (2, 43): 0.86, (2, 44): 0.84, (0, 43): 0.88, (0, 44): 0.40}
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(confirm, "_measure_on_seed", _fake_measure(scores, calls))
    study = _study()
    confirmations = confirm.confirm_candidates(_plan(tmp_path), table(study), 3, 2, say=lambda _: None)
    assert [c.trial for c in confirmations] == [1, 2, 0] and len(calls) == 6
    assert confirmations[0].seeds == [42, 43, 44] and confirmations[0].macro_f1 == [0.90, 0.70, 0.72]
    assert not confirmations[2].robust  # its seed-44 file broke the budget (the INT8 gate here)

    best = write_results(study, tmp_path, [c.as_dict() for c in confirmations])
    assert best is not None and best.trial == 2  # mean 0.85 beats trial 1's lucky 0.90 (mean 0.773)
    folder = StudyFolder(tmp_path)
    winner = json.loads(folder.winner_file.read_text())
    assert winner["trial"] == 2 and winner["confirmation"]["mean_macro_f1"] == pytest.approx(0.85)
    assert folder.read_table()["confirmations"][0]["trial"] == 1
    assert (
        "| 2 | 0.850 / 0.860 / 0.840 | 0.850 | 0.840 | pass / pass / pass | yes |" in folder.table_markdown.read_text()
    )

    # a second start measures nothing again: every (trial, seed) is in confirm.json
    again = confirm.confirm_candidates(_plan(tmp_path), table(study), 3, 2, say=lambda _: None)
    assert len(calls) == 6 and [c.as_dict() for c in again] == [c.as_dict() for c in confirmations]


def test_a_failed_seed_is_recorded_and_when_none_holds_the_single_seed_winner_is_marked_unconfirmed(
    tmp_path, monkeypatch
):
    scores = {(1, 43): None}
    monkeypatch.setattr(confirm, "_measure_on_seed", _fake_measure(scores, []))
    study = _study()
    confirmations = confirm.confirm_candidates(_plan(tmp_path), table(study), 1, 1, say=lambda _: None)
    assert confirmations[0].errors == [None, "RuntimeError: diverged"] and not confirmations[0].robust
    saved = json.loads(StudyFolder(tmp_path).confirm_file.read_text())
    assert saved == {"seeds": [43], "runs": {"1/43": {"run_dir": "x", "error": "RuntimeError: diverged"}}}
    best = write_results(study, tmp_path, [c.as_dict() for c in confirmations])
    assert best is not None and best.trial == 1
    assert "winner (trial 1) is unconfirmed" in StudyFolder(tmp_path).table_markdown.read_text()


BAD_COUNTS = [
    (["--confirm", "-1"], "--confirm must be 0"),
    (["--confirm", "2", "--confirm-seeds", "0"], "--confirm-seeds must be"),
]


@pytest.mark.parametrize(("extra", "words"), BAD_COUNTS)
def test_bad_confirm_counts_are_one_line_and_write_nothing(tune_audio, roomy_budget, tiny_space, tmp_path, capsys,
                                                           extra, words):  # fmt: skip
    from nightscan_edge.cli import main

    out = tmp_path / "study"
    assert main(tiny_tune_args(tune_audio, roomy_budget, tiny_space, out, "--trials", "1", *extra)) != 0
    error = capsys.readouterr().err.strip()
    assert words in error and len(error.splitlines()) == 1
    assert not out.exists()


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

"""``tune --confirm``: the best trials re-trained on more seeds, resumable, and the winner named by its mean."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

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

    written = write_results(study, tmp_path, [c.as_dict() for c in confirmations])
    best = written.winner
    assert best is not None and best.trial == 2  # mean 0.85 beats trial 1's lucky 0.90 (mean 0.773)
    assert written.winner_confirmation is not None and written.winner_confirmation["trial"] == 2
    folder = StudyFolder(tmp_path)
    winner = json.loads(folder.winner_file.read_text())
    assert winner["trial"] == 2 and winner["confirmation"]["mean_macro_f1"] == pytest.approx(0.85)
    saved = folder.read_table()
    assert saved["confirmations"][0]["trial"] == 1 and saved["winner_confirmation"]["trial"] == 2
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
    written = write_results(study, tmp_path, [c.as_dict() for c in confirmations])
    assert written.winner is not None and written.winner.trial == 1 and written.winner_confirmation is None
    assert "winner (trial 1) is unconfirmed" in StudyFolder(tmp_path).table_markdown.read_text()
    assert StudyFolder(tmp_path).read_table()["winner_confirmation"] is None


def test_a_confirmation_cut_short_by_a_signal_is_not_recorded_and_runs_again(tmp_path, monkeypatch):
    from nightscan_edge.errors import TrainingCancelled

    def cancelled(*_args, **_kwargs):
        raise TrainingCancelled(signal.SIGTERM)

    monkeypatch.setattr(confirm, "train_candidate", cancelled)
    with pytest.raises(TrainingCancelled):
        confirm.confirm_candidates(_plan(tmp_path), table(_study()), 1, 1, say=lambda _: None)
    assert not StudyFolder(tmp_path).confirm_file.exists()  # nothing measured: the next start trains it


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

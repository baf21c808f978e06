"""The Pareto table, its front and the winner, read from a study's stored trials; the files written atomically."""

from __future__ import annotations

import json

import optuna
from optuna.trial import TrialState, create_trial

from nightscan_edge.study_folder import StudyFolder
from nightscan_edge.tune import attrs
from nightscan_edge.tune.results import table, write_results


def _measured(macro_f1: float, latency: float, violations: list[str] | None = None) -> dict:
    return {"macro_f1": macro_f1, "latency_p50_ms": latency, "latency_p95_ms": latency, "size_mb": 0.1,
            "peak_memory_mb": 1.0, "file": "model_int8.onnx", "int8_gate": "pass", "violations": violations or [],
            "constraints": [0.0]}  # fmt: skip


def _study() -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize"])
    points = [(0.80, 1.0, None), (0.90, 2.0, None), (0.85, 3.0, None), (0.95, 0.5, ["model.onnx: max_mb"])]
    for number, (f1, latency, violations) in enumerate(points):
        study.add_trial(
            create_trial(
                values=[f1, latency],
                user_attrs={
                    attrs.MEASUREMENT: _measured(f1, latency, violations),
                    attrs.RUN_DIR: f"runs/t{number}",
                    attrs.EXPORT_DIR: f"runs/t{number}/exports/e",
                },  # fmt: skip
            )
        )
    study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs={attrs.PRUNED_AT: 2}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={attrs.ERROR: "RuntimeError: boom"}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={attrs.INTERRUPTED: True}))
    return study


def test_the_front_holds_only_undominated_trials_within_the_budget():
    rows = table(_study())
    assert [r.trial for r in rows if r.on_front] == [0, 1]  # 2 is dominated by 1; 3 is over the budget
    assert [r.state for r in rows[4:]] == ["pruned", "failed", "interrupted"]
    assert rows[4].note == "stopped after epoch 2" and rows[5].note == "RuntimeError: boom"


def test_results_and_winner_are_written_to_the_study_folder(tmp_path):
    best = write_results(_study(), tmp_path).winner
    assert best is not None and best.trial == 1  # the most accurate within the budget, not trial 3
    folder = StudyFolder(tmp_path)
    saved = folder.read_table()
    assert saved is not None
    assert saved["winner"] == 1 and len(saved["trials"]) == 7
    assert json.loads(folder.winner_file.read_text())["export_dir"] == "runs/t1/exports/e"
    markdown = folder.table_markdown.read_text()
    assert "| 1 | complete | 0.900 | 2.00 | 0.100 | pass | yes | * |" in markdown
    assert "trial 3: model.onnx: max_mb" in markdown
    assert folder.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp*"))

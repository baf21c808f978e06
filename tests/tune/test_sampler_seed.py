"""The sampler seed reaches the trials: the same ``--seed`` proposes the same configurations (the pruner
comparison and a rerun of a study rely on it); found when two studies "with seed 0" drew different first trials."""

from __future__ import annotations

from types import SimpleNamespace

import optuna

from nightscan_edge.tune import study as study_module


def _proposals(tmp_path, name: str, seed: int | None, monkeypatch) -> list[float]:
    url = f"sqlite:///{tmp_path / (name + '.db')}"
    optuna.create_study(study_name=name, storage=url, directions=["maximize", "minimize"])
    plan = SimpleNamespace(name=name, storage_url=url, folder=tmp_path)

    def objective_for(plan, study, storage):
        return lambda trial: (trial.suggest_float("lr", 1e-4, 1e-2, log=True), 1.0)

    monkeypatch.setattr(study_module, "objective_for", objective_for)
    monkeypatch.setattr(study_module, "write_results", lambda study, folder: None)
    study_module.run_trials(plan, 3, None, lambda line: None, seed=seed)
    trials = optuna.load_study(study_name=name, storage=url).trials
    return [t.params["lr"] for t in trials]


def test_the_same_seed_proposes_the_same_trials_and_another_does_not(tmp_path, monkeypatch):
    first = _proposals(tmp_path, "a", 0, monkeypatch)
    assert first == _proposals(tmp_path, "b", 0, monkeypatch)
    assert first != _proposals(tmp_path, "c", 1, monkeypatch)

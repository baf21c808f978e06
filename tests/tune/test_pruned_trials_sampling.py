"""A study whose pruner stopped trials keeps sampling: multi-objective TPE must not rank a trial with no values."""

from __future__ import annotations

import optuna

from nightscan_edge.tune import attrs
from nightscan_edge.tune.measure import constraints_of
from nightscan_edge.tune.sampling import make_sampler


def test_pruned_trials_do_not_break_the_next_sample():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=make_sampler(seed=0, startup_trials=2))
    distributions = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)}
    for index in range(4):
        study.add_trial(
            optuna.trial.create_trial(
                params={"lr": 1e-3 * (index + 1)},
                distributions=distributions,
                values=[0.5 + index / 10, 1.0 + index],
                user_attrs={attrs.CONSTRAINTS: [0.5]},  # over the budget, as in the study that failed
            )
        )
    for index in range(8):
        study.add_trial(
            optuna.trial.create_trial(
                params={"lr": 1e-3 * (index + 1)}, distributions=distributions, state=optuna.trial.TrialState.PRUNED
            )
        )
    pruned = study.trials[-1]
    assert constraints_of(pruned) == [1.0]  # no values: counts as over the budget, never ranked on values
    for _ in range(3):
        trial = study.ask(distributions)  # failed with "NoneType * float" inside TPE before
        study.tell(trial, [0.6, 2.0])
    assert len(study.trials) == 15

"""A family's declared search space (``models.search_space``) drawn by an Optuna trial, and the smallest point.

The declaration is data; this is the one place that turns each dimension type into the matching ``suggest_*``
call, so the sampler sees typed ranges (log-scaled learning rates, categorical mel bands) rather than strings.
"""

from __future__ import annotations

from typing import Any

import optuna

from nightscan_edge.models.search_space import Choice, FloatRange, IntRange, SearchSpace, Value
from nightscan_edge.tune.measure import constraints_of


def suggest(trial: optuna.Trial, space: SearchSpace) -> dict[str, Value]:
    """One value per searched key (an enqueued trial, such as the smallest point, gets its queued values)."""
    values: dict[str, Value] = {}
    for key in space.keys():
        dimension = space.dimensions[key]
        if isinstance(dimension, FloatRange):
            values[key] = trial.suggest_float(key, dimension.low, dimension.high, log=dimension.log)
        elif isinstance(dimension, IntRange):
            values[key] = trial.suggest_int(key, dimension.low, dimension.high, step=dimension.step)
        elif isinstance(dimension, Choice):
            choice = trial.suggest_categorical(key, list(dimension.options))
            assert choice is not None  # the declared options hold no None
            values[key] = choice
    return values


def smallest_params(space: SearchSpace) -> dict[str, Any]:
    """The smallest configuration as the params ``Study.enqueue_trial`` takes (searched keys only)."""
    return {key: value for key, value in space.smallest.items() if key in space.dimensions}


def make_sampler(seed: int | None, startup_trials: int) -> optuna.samplers.BaseSampler:
    """Multi-objective TPE (MOTPE) with the budget as constraints (see docs/tune.md for why not NSGA-II).

    A trial costs minutes, so a study has tens of trials, not thousands: TPE models good against bad trials
    from the first few (after ``startup_trials`` random ones), where NSGA-II's default population of 50 would
    still be drawing its first generation at random. ``constraints_func`` makes a trial over the budget count
    as worse than any trial within it, by how far it is over.
    """
    return optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=startup_trials, constraints_func=constraints_of, multivariate=True
    )

"""``nightscan-edge tune``: the most accurate model that fits a budget, found by a multi-objective Optuna study.

One job per module: ``sampling`` (a family's declared space -> an Optuna trial's values), ``storage`` (where a
study lives and the check that one name keeps one space), ``pruning`` (per-epoch macro-F1 to Optuna's
MedianPruner through a companion study), ``measure`` (the exported file's figures and the budget's constraints),
``trial`` (one trial = one ordinary run folder, trained, exported, INT8-gated, benched), ``resume`` (trials an
interruption cut short, queued again), ``results`` (the Pareto table as JSON, Markdown and PNG, and the winner),
``workers`` (N trials at once on Dask) and ``study`` (the whole command, top to bottom).
"""

# The tune extra: every module of this package uses Optuna; the CLI imports the package only for `tune`.
try:
    import optuna  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "nightscan-edge tune needs Optuna: pip install 'nightscan-edge[tune]' (or pip install 'optuna>=4,<5')"
    ) from error

from nightscan_edge.tune.errors import TuneError, UnreachableBudgetError
from nightscan_edge.tune.study import TuneOptions, TuneResult, run_study

__all__ = ["TuneError", "TuneOptions", "TuneResult", "UnreachableBudgetError", "run_study"]

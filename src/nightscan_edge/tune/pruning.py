"""Stopping hopeless trials early: each epoch's validation macro-F1 goes to an Optuna pruner.

Optuna's pruners are single-objective (``Trial.report`` refuses a multi-objective study), so the per-epoch
scores live in a companion study, ``<name>:epochs``, in the same storage: one companion trial per trial,
maximising macro-F1, with a ``MedianPruner``. A trial whose macro-F1 at epoch k is below the median of the
earlier trials at epoch k stops there; it is never exported or benched. The hook is a Lightning callback
passed to ``train`` (after the run's own recorder), so the training loop is the one every run uses and the
stopped trial is an ordinary, finished run folder.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import optuna

from nightscan_edge.run_folder import RunFolder
from nightscan_edge.train.events import EventLog, Log

COMPANION_SUFFIX = ":epochs"
PRUNER_STARTUP_TRIALS = 4  # trials that always run to the end, so the median means something
# The first 40 % of a trial's epochs are never judged. Early epochs rank the learning rate and the warm-up more than
# the configuration: judged from epoch 2 of 8, the pruner stopped 13 of 17 trials on the shared data, most after
# epoch 2, including the widest ones (benchmarks/results/tune.json of 2026-12-07 04:00).
PRUNER_WARMUP_SHARE = 0.4
PRUNER_MIN_TRIALS = 3  # other trials that reached the epoch before a trial is judged there


def pruner_warmup_epochs(epochs: int) -> int:
    """The epochs of a ``epochs``-long trial that the pruner never judges (at least one)."""
    return max(1, math.ceil(PRUNER_WARMUP_SHARE * epochs))


def companion_study(name: str, storage: optuna.storages.BaseStorage, enabled: bool, epochs: int) -> optuna.Study:
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.MedianPruner(
            # steps are epochs counted from 1, and Optuna judges a step once it is >= n_warmup_steps
            n_startup_trials=PRUNER_STARTUP_TRIALS,
            n_warmup_steps=pruner_warmup_epochs(epochs) + 1,
            n_min_trials=PRUNER_MIN_TRIALS,
        )
        if enabled
        else optuna.pruners.NopPruner()
    )
    return optuna.create_study(
        study_name=name + COMPANION_SUFFIX,
        storage=storage,
        direction="maximize",
        pruner=pruner,
        load_if_exists=True,
    )


class EpochPruner(L.Callback):
    """Reports each epoch's ``val_macro_f1`` to the companion trial and asks Lightning to stop when pruned.

    ``exempt``: report but never stop (the smallest configuration must be measured whatever its score).
    """

    def __init__(self, companion: optuna.Study, run_folder: RunFolder, exempt: bool = False) -> None:
        self.companion = companion
        self.trial = companion.ask()
        self.run_folder = run_folder
        self.exempt = exempt
        self.pruned_at_epoch: int | None = None
        self.best_macro_f1: float | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        stats: dict[str, Any] = getattr(module, "last_epoch", {})
        if not stats or not trainer.is_global_zero:
            return
        epoch = int(trainer.current_epoch) + 1  # counted from 1, as the run folder counts
        macro_f1 = float(stats["val_macro_f1"])
        self.best_macro_f1 = macro_f1 if self.best_macro_f1 is None else max(self.best_macro_f1, macro_f1)
        self.trial.report(macro_f1, epoch)
        if not self.exempt and epoch < int(trainer.max_epochs or epoch) and self.trial.should_prune():
            self.pruned_at_epoch = epoch
            trainer.should_stop = True
            EventLog(self.run_folder.events).write(
                Log("info", f"tune: stopped after epoch {epoch} by the pruner (macro-F1 {macro_f1:.3f} below median)")
            )

    def finish(self, failed: bool = False) -> None:
        """Close the companion trial: pruned, failed, or complete with the best macro-F1 seen."""
        if failed or self.best_macro_f1 is None:
            self.companion.tell(self.trial, state=optuna.trial.TrialState.FAIL)
        elif self.pruned_at_epoch is not None:
            self.companion.tell(self.trial, state=optuna.trial.TrialState.PRUNED)
        else:
            self.companion.tell(self.trial, self.best_macro_f1)

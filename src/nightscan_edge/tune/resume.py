"""Starting the same command again continues the study: counting what is done, queueing what was cut short.

A trial stopped by Ctrl-C or SIGTERM is recorded by Optuna as failed with our ``interrupted`` mark; one whose
process was killed outright stays "running" until the storage's heartbeat marks it failed. Either way its run
folder holds ``last.ckpt``; it is queued again once (``resume_of``) with the same values and the new trial
continues that run folder instead of training from scratch. A trial that crashed (``error``) is not retried:
the same values would crash again.
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from nightscan_edge.tune import attrs

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def interrupted(trial: optuna.trial.FrozenTrial) -> bool:
    return trial.state == TrialState.FAIL and attrs.ERROR not in trial.user_attrs


def requeue_interrupted(study: optuna.Study) -> int:
    """Queue each interrupted, not yet requeued trial once with its values; returns how many were queued."""
    trials = study.get_trials(deepcopy=False)
    taken = {int(t.user_attrs[attrs.RESUME_OF]) for t in trials if attrs.RESUME_OF in t.user_attrs}
    queued = 0
    for trial in trials:
        if interrupted(trial) and trial.number not in taken:
            marks: dict[str, object] = {attrs.RESUME_OF: trial.number}
            if trial.user_attrs.get(attrs.PROBE):
                marks[attrs.PROBE] = True
            study.enqueue_trial(dict(trial.params), user_attrs=marks)
            queued += 1
    return queued


def trials_counted(study: optuna.Study) -> int:
    """Trials that count towards ``--trials``: finished, crashed, or running (on another worker or machine); an
    interrupted one is run again instead."""
    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.state in (*FINISHED, TrialState.RUNNING) or (t.state == TrialState.FAIL and not interrupted(t))
    )

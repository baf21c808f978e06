"""Starting the same command again continues the study: counting what is done, queueing what was cut short.

A trial stopped by Ctrl-C or SIGTERM is recorded by Optuna as failed with our ``interrupted`` mark. One whose
process was killed outright (``kill -9``, out of memory, power) stays "running" in the storage: on the same
host the next start sees that the trial's process (its ``owner``, host and PID) is gone and records it as
interrupted at once; a trial of another machine waits for the storage's heartbeat to mark it failed. Either
way it is queued again once (``resume_of``) with the same values, and when its run folder holds ``last.ckpt``
the new trial continues that folder instead of training from scratch. A trial that crashed (``error``) is not
retried: the same values would crash again.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from nightscan_edge.tune import attrs

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")  # Linux: tells apart machines (and boots) sharing a host name


def _host() -> str:
    try:
        boot = BOOT_ID.read_text().strip()[:8]
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}" if boot else socket.gethostname()


def owner_tag() -> str:
    """``host:pid`` of this process, stored on each trial it runs."""
    return f"{_host()}:{os.getpid()}"


def _process_gone(owner: str) -> bool:
    """True when ``owner`` names a process of this host that no longer exists (another host's: unknown, False)."""
    host, _, pid = owner.rpartition(":")
    if host != _host() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def fail_orphaned(study: optuna.Study, storage: BaseStorage) -> int:
    """Record as interrupted each running trial whose process on this host is gone; returns how many."""
    study_id = storage.get_study_id_from_name(study.study_name)
    failed = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(attrs.OWNER)
        if not owner or not _process_gone(str(owner)):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        try:
            storage.set_trial_user_attr(trial_id, attrs.INTERRUPTED, True)
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:  # another start recorded it first
            continue
        failed += 1
    return failed


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

"""Resuming a study queues each interrupted trial once (crashes are not retried); the per-epoch pruner stops
a trial whose macro-F1 is below the median of the earlier ones, through Lightning's ``should_stop``."""

from __future__ import annotations

import os
import subprocess
from types import SimpleNamespace

import optuna
from optuna.trial import TrialState, create_trial

from nightscan_edge.run_folder import RunFolder
from nightscan_edge.train.events import read_events
from nightscan_edge.tune import attrs
from nightscan_edge.tune.pruning import PRUNER_STARTUP_TRIALS, EpochPruner, companion_study, pruner_warmup_epochs
from nightscan_edge.tune.resume import fail_orphaned, owner_tag, requeue_interrupted, trials_counted


def test_interrupted_trials_are_queued_once_and_crashes_are_not():
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(create_trial(values=[0.5, 1.0], params={}, distributions={}))
    interrupted = {attrs.INTERRUPTED: True, attrs.RUN_DIR: "runs/t1", attrs.PROBE: True}
    study.add_trial(create_trial(state=TrialState.FAIL, params={}, distributions={}, user_attrs=interrupted))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={attrs.ERROR: "ValueError: x"}))
    assert trials_counted(study) == 2  # done + crashed; the interrupted one runs again instead
    assert requeue_interrupted(study) == 1
    assert requeue_interrupted(study) == 0  # already queued: a second start queues nothing more
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [t.user_attrs for t in waiting] == [{attrs.RESUME_OF: 1, attrs.PROBE: True}]


def _epoch(pruner: EpochPruner, epoch: int, macro_f1: float, epochs: int = 10) -> SimpleNamespace:
    trainer = SimpleNamespace(current_epoch=epoch - 1, max_epochs=epochs, is_global_zero=True, should_stop=False)
    pruner.on_train_epoch_end(trainer, SimpleNamespace(last_epoch={"val_macro_f1": macro_f1}))
    return trainer


def test_the_warm_up_is_a_share_of_the_schedule():
    assert [pruner_warmup_epochs(epochs) for epochs in (1, 3, 8, 10, 30)] == [1, 2, 4, 4, 12]


def test_a_trial_below_the_median_stops_after_the_warm_up_epochs(tmp_path):
    companion = companion_study("s", optuna.storages.InMemoryStorage(), enabled=True, epochs=10)
    folder = RunFolder(tmp_path)
    for _ in range(PRUNER_STARTUP_TRIALS):  # the startup trials run to the end
        good = EpochPruner(companion, folder)
        for epoch in range(1, 11):
            assert not _epoch(good, epoch, 0.8).should_stop
        good.finish()
    exempt = EpochPruner(companion, folder, exempt=True)
    assert not _epoch(exempt, 6, 0.1).should_stop  # the smallest configuration is never pruned
    exempt.finish()
    poor = EpochPruner(companion, folder)
    for epoch in range(1, 5):  # 40 % of 10 epochs: never judged, however poor
        assert not _epoch(poor, epoch, 0.1).should_stop
    assert _epoch(poor, 5, 0.1).should_stop and poor.pruned_at_epoch == 5
    poor.finish()
    states = [t.state for t in companion.trials]
    assert states == [TrialState.COMPLETE] * (PRUNER_STARTUP_TRIALS + 1) + [TrialState.PRUNED]
    assert "stopped after epoch 5 by the pruner" in read_events(folder.events)[-1]["message"]


def test_the_pruner_waits_for_enough_trials_at_an_epoch(tmp_path):
    companion = companion_study("s", optuna.storages.InMemoryStorage(), enabled=True, epochs=10)
    folder = RunFolder(tmp_path)
    for _ in range(PRUNER_STARTUP_TRIALS):  # they stop reporting at epoch 4 (as if cut short by a crash)
        short = EpochPruner(companion, folder)
        for epoch in range(1, 5):
            _epoch(short, epoch, 0.8)
        short.finish()
    poor = EpochPruner(companion, folder)
    for epoch in range(1, 8):  # past the warm-up, but no other trial reached these epochs: nothing to compare with
        assert not _epoch(poor, epoch, 0.1).should_stop


def test_a_running_trial_whose_process_is_gone_is_recorded_as_interrupted():
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(directions=["maximize", "minimize"], storage=storage)
    finished = subprocess.Popen(["true"])
    finished.wait()  # reaped: its PID names no process now
    owners = [
        owner_tag().replace(f":{os.getpid()}", f":{finished.pid}"),
        owner_tag(),  # this process: alive
        "another-host:1",  # another machine's: left to the storage's heartbeat
    ]
    for owner in owners:
        study.add_trial(create_trial(state=TrialState.RUNNING, user_attrs={attrs.OWNER: owner}))
    assert fail_orphaned(study, storage) == 1
    states = [t.state for t in study.trials]
    assert states == [TrialState.FAIL, TrialState.RUNNING, TrialState.RUNNING]
    assert study.trials[0].user_attrs[attrs.INTERRUPTED]
    assert requeue_interrupted(study) == 1 and fail_orphaned(study, storage) == 0

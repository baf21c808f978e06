"""Exact resume: an epoch-start ``last.ckpt``, the callback that puts it back, and the one Lightning shim.

A run resumed from ``last.ckpt`` replays the remaining epochs exactly (identical weights to an uninterrupted
run): the checkpoint is taken at an epoch's start, when the previous epoch's training, validation, scheduler
step, early-stopping and best-checkpoint bookkeeping are complete and the next epoch's order and augmentation
are seeded by its number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L

from nightscan_edge.config_layers import ConfigError
from nightscan_edge.paths import display_path
from nightscan_edge.safe_load import load_torch_file
from nightscan_edge.train.weight_average import WeightAverage


class EpochBoundaryCheckpoint(L.Callback):
    """``last.ckpt`` at the start of every epoch and at the end of training: the resume point.

    (Lightning's own ``save_last`` runs inside the epoch-end hooks, before the scheduler steps, and its
    loop-state restore then replays or skips part of an epoch.) A cancel mid-epoch loses at most that epoch's
    batches, never exactness.
    """

    def __init__(self, path: Path, resumed: bool) -> None:
        self.path = path
        self.skip_next = resumed  # the checkpoint we resume from already is this epoch's starting point

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.skip_next:
            self.skip_next = False
            return
        # collective under DDP; rank zero writes. weights_only=False said out loud: resuming needs the
        # optimizer and loop state (Lightning otherwise logs that it defaulted to it).
        trainer.save_checkpoint(self.path, weights_only=False)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        trainer.save_checkpoint(self.path, weights_only=False)


class RestoreEpochStart(L.Callback):
    """Puts an epoch-start checkpoint back: optimizer, schedulers and callback states, the weight average (the
    training weights and the epoch counter are set before ``fit``)."""

    def __init__(self, checkpoint: dict[str, Any]) -> None:
        self.checkpoint = checkpoint

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        for optimizer, state in zip(trainer.optimizers, self.checkpoint.get("optimizer_states", []), strict=False):
            optimizer.load_state_dict(state)
        schedulers = self.checkpoint.get("lr_schedulers", [])
        for config, state in zip(trainer.lr_scheduler_configs, schedulers, strict=False):
            config.scheduler.load_state_dict(state)
        saved = self.checkpoint.get("callbacks", {})
        # Lightning's CallbackConnector sets Trainer.callbacks at run time; the class does not declare it.
        for callback in trainer.callbacks:  # type: ignore[attr-defined]
            if callback.state_key in saved:
                callback.load_state_dict(saved[callback.state_key])
            if isinstance(callback, WeightAverage):
                callback.restore(trainer, module, self.checkpoint)


def load_resume_checkpoint(path: Path) -> dict[str, Any]:
    """The whole Lightning checkpoint (optimizer and scheduler states included), read on CPU.

    ``weights_only=True`` (``safe_load``): everything Lightning saves here -- tensors, optimizer/scheduler/callback
    state dicts, loop counters, the ``nightscan`` metadata -- is tensors and plain values, so no safe globals are
    needed, and a crafted ``last.ckpt`` cannot run code.
    """
    checkpoint = load_torch_file(path, "resume checkpoint")
    if not isinstance(checkpoint, dict) or not {"state_dict", "epoch"} <= set(checkpoint):
        raise ConfigError(f"cannot resume from {display_path(path)}: not a Lightning checkpoint (no state_dict/epoch)")
    return checkpoint


def start_at_epoch(trainer: L.Trainer, epoch: int) -> None:
    """The one shim over Lightning's loop state: make ``fit`` begin at ``epoch``.

    Lightning has no public "start at epoch N" and its ``ckpt_path`` restore replays or skips part of an epoch
    (see ``EpochBoundaryCheckpoint``), so the fit loop's epoch counters (``fit_loop.epoch_progress``, Lightning
    2.x) are set to the epoch the checkpoint starts. ``tests/train/test_distill_resume.py`` checks that a
    resumed run ends with the same weights as an uninterrupted one, so a Lightning change here fails loudly.
    """
    progress = trainer.fit_loop.epoch_progress
    for tracker in (progress.current, progress.total):
        # The epoch trackers are _ProcessedTracker at run time; Lightning annotates the field as its base class.
        tracker.ready = tracker.started = tracker.processed = tracker.completed = epoch  # type: ignore[attr-defined]

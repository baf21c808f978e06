"""The Lightning side of a run: its callbacks and its trainer, built from the config and the device plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L

from nightscan_edge.config import Config
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.train.callbacks import RunRecorder, StopOnSignal, StopRequest
from nightscan_edge.train.devices import DevicePlan
from nightscan_edge.train.resume import EpochBoundaryCheckpoint, RestoreEpochStart
from nightscan_edge.train.weight_average import WeightAverage


def selection_metric(config: Config) -> str:
    """What ``best.ckpt`` and early stopping follow: validation accuracy, or mAP for a multi-label run (accuracy
    at fixed thresholds says little of how well each class's scores rank its calls)."""
    return "val_map" if config.train.objective == "multilabel" else "val_acc"


def build_callbacks(
    config: Config,
    folder: RunFolder,
    recorder: RunRecorder,
    stop: StopRequest,
    checkpoint: dict[str, Any] | None,
) -> list[L.Callback]:
    """The run's callbacks: epoch-start ``last.ckpt``, the recorder, the signal stop, ``best.ckpt`` by
    validation accuracy (multi-label: mAP), the weight average (``train.ema_decay``), and on resume the restore of
    optimizer/scheduler/callback states."""
    monitor = selection_metric(config)
    callbacks: list[L.Callback] = [
        EpochBoundaryCheckpoint(folder.last_checkpoint, resumed=checkpoint is not None),
        recorder,
        StopOnSignal(stop),
        L.pytorch.callbacks.ModelCheckpoint(
            dirpath=folder.path,
            filename=Path(folder.BEST_CHECKPOINT).stem,
            monitor=monitor,
            mode="max",
            save_last=False,
            save_top_k=1,
            enable_version_counter=False,
        ),
    ]
    if config.train.ema_decay is not None:
        callbacks.append(WeightAverage(config.train.ema_decay))
    if checkpoint is not None:
        callbacks.append(RestoreEpochStart(checkpoint))
    if config.train.early_stopping_patience is not None:
        callbacks.append(
            L.pytorch.callbacks.EarlyStopping(
                monitor=monitor, mode="max", patience=config.train.early_stopping_patience
            )
        )
    return callbacks


def build_trainer(
    config: Config, plan: DevicePlan, folder: RunFolder, progress: bool, callbacks: list[L.Callback]
) -> L.Trainer:
    """The Lightning trainer for a run on the planned devices (no logger: the recorder writes the records)."""
    return L.Trainer(
        max_epochs=config.train.epochs,
        accelerator=plan.accelerator,
        devices=plan.devices,
        num_nodes=config.train.num_nodes,
        strategy=config.train.strategy,
        precision=plan.precision,
        use_distributed_sampler=False,  # EpochBatches gives each rank its share of every global batch
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_train_batches=config.train.limit_train_batches,
        default_root_dir=str(folder.path),
        log_every_n_steps=0,  # no logger to feed: Lightning would otherwise gather its step metrics every step
    )

"""``train(config) -> Run``: one run = one folder, from data to a checkpoint with the figures to trust it.

Lightning does the loop, checkpoints (``best.ckpt`` by validation accuracy, ``last.ckpt`` at every epoch
start), early stopping and devices. The steps read top to bottom in ``train``; each lives in its own module:
opening the run folder (``run_setup``), the model's start (``initialise``), the loaders (``loaders``), exact
resume (``resume``), the Lightning callbacks and trainer (``trainer``), the records of the run
(``callbacks``, ``events``), the final figures (``final_report``) and how the run ends (``run_end``). The files are
named by ``RunFolder``.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import lightning as L
import numpy as np
import torch

from nightscan_edge.atomic import remove_atomic_leftovers
from nightscan_edge.birdnet.data import embed_prepared
from nightscan_edge.config import Config
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.data.augment import WaveformAugment
from nightscan_edge.data.long_clips import long_clips_message
from nightscan_edge.data.photo_augment import PhotoAugment
from nightscan_edge.data.photo_views import PhotoViews
from nightscan_edge.data.prepare import PreparedData, prepare_data
from nightscan_edge.data.splits import write_split
from nightscan_edge.models import MODELS, EdgeClassifier
from nightscan_edge.paths import display_path
from nightscan_edge.spec import ImageSpec
from nightscan_edge.train.birdnet_teacher import BirdNetTeacher, UnlabeledWindows, load_unlabeled
from nightscan_edge.train.callbacks import (
    OneBasedProgressBar,
    RunRecorder,
    StopRequest,
    TrainingCancelled,
)
from nightscan_edge.train.devices import RUN_DIR_ENV, launched_rank, plan_devices, prepare_model
from nightscan_edge.train.distill import Teacher, teacher_for
from nightscan_edge.train.embedding_distill import check_embedding_student, embedding_licence, learn_embedding
from nightscan_edge.train.events import EventLog, Log, RunEnd, write_status
from nightscan_edge.train.initialise import (
    build_model,
    check_model_options,
    initialise_batchnorm,
    initialise_from,
    resumed_model,
    start_model,
)
from nightscan_edge.train.loaders import build_loaders
from nightscan_edge.train.module import ClassifierModule
from nightscan_edge.train.photo_teacher import UnlabeledPhotos, prepare_photo_teaching
from nightscan_edge.train.resume import (
    start_at_epoch,
)
from nightscan_edge.train.run_end import Run, finish, record_cancel, record_failure, record_finished
from nightscan_edge.train.run_setup import (
    OpenedRun,
    check_device_options,
    join_run,
    open_new_run,
    open_resumed_run,
    planned_folder,
    with_absolute_paths,
    writer_lock,
)
from nightscan_edge.train.trainer import build_callbacks, build_trainer, selection_metric

# build_model / initialise_* lived here before the split; callers and tests still import them from here.
__all__ = ["build_model", "initialise_batchnorm", "initialise_from", "train"]

log = logging.getLogger(__name__)


def train(
    config: Config | None = None,
    *,
    run_dir: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    device_options: dict[str, Any] | None = None,
    callbacks: Sequence[L.Callback] = (),
) -> Run:
    """Train one model; with ``resume`` continue the run folder's ``last.ckpt`` with its saved config and split,
    on the devices ``device_options`` names (``devices``, ``accelerator``, ``strategy``, ``num_nodes``) when the
    hardware differs from the run's first start.

    Raises ``DataError``/``ConfigError`` before training for bad data or options, ``TrainingCancelled`` after
    SIGINT/SIGTERM (``last.ckpt`` kept), and re-raises anything else after recording the failure.
    ``callbacks`` are Lightning callbacks added after the run's own (the tuner's pruner watches the epochs
    through one): they see the same hooks, in the same loop, after the recorder has written each epoch.
    """
    if launched_rank() > 0:
        # Ranks > 0 of a multi-process run (Lightning's DDP launcher, torchrun, SLURM) train in rank 0's folder
        # but write nothing and take no lock: rank 0 owns the folder, its events and its checkpoints.
        opened = open_resumed_run(resume, config, device_options) if resume is not None else join_run(config, run_dir)
        return _train(opened, progress, follower=True, callbacks=callbacks)
    if config is not None and resume is None:
        plan_devices(with_absolute_paths(config).train)  # hardware problems: one line, before any folder exists
        if config.train.embedding_teacher:
            check_embedding_student(config)
        check_model_options(config)
    if device_options and resume is None:
        raise ConfigError("device_options are for resume=RUN; a new run takes them in its config (train.devices...)")
    check_device_options(device_options)
    folder = planned_folder(config, run_dir, resume)  # checks only; nothing is written yet
    with writer_lock(folder):  # one writer per run folder, held until this run ends
        if resume is not None:
            remove_atomic_leftovers(folder.path)  # a killed writer's half-written temporaries
        if resume is not None and folder.report_file.is_file():
            return record_finished(folder)
        opened = (
            open_resumed_run(resume, config, device_options)
            if resume is not None
            else open_new_run(config, folder.path)
        )
        return _train(opened, progress, callbacks=callbacks)


def _train(opened: OpenedRun, progress: bool, follower: bool = False, callbacks: Sequence[L.Callback] = ()) -> Run:
    folder, config, run_id = opened.folder, opened.config, opened.run_id
    plan = plan_devices(config.train)  # a resumed run's saved options, checked before anything trains
    events = EventLog(folder.events, enabled=not follower)
    if not follower:
        write_status(
            folder.path, "running", run_id=run_id, model=config.model.name, epoch=None, epochs=config.train.epochs
        )
    recorder: RunRecorder | None = None
    stop = StopRequest()
    try:
        with stop:
            L.seed_everything(config.train.seed, workers=True, verbose=False)
            if opened.device_changes:
                _log(
                    events,
                    "info",
                    "resumed on other devices: "
                    + ", ".join(f"{k} {now} (was {was})" for k, (was, now) in opened.device_changes.items()),
                )
            prepared = _prepare(opened, events, write=not follower)
            stop.check()
            checkpoint = opened.checkpoint
            model = (
                resumed_model(config, prepared, checkpoint) if checkpoint is not None else start_model(config, prepared)
            )
            device = torch.device("cuda" if plan.on_cuda else "cpu")
            if checkpoint is None and config.train.embedding_teacher:  # before the labels (or continuing it)
                learn_embedding(model, config, prepared, folder, events, stop.check, device, write=not follower)
            teaching = _teacher(config, prepared, events, device)
            module = _module(config, prepared, prepare_model(model, config, plan), run_id, teaching)
            loaders = build_loaders(
                config,
                prepared,
                plan.on_cuda,
                teacher_positions=isinstance(module.teacher, BirdNetTeacher),
                unlabeled_windows=len(module.unlabeled) if module.unlabeled is not None else 0,
                teacher_views=teaching.train_views,
            )
            module.train_sampler, module.batch_augment = loaders.sampler, loaders.augment
            resumed_epoch = int(checkpoint["epoch"]) if checkpoint is not None else None
            first_epoch = None if resumed_epoch is None else resumed_epoch + 1  # counted from 1
            recorder = RunRecorder(
                folder.path,
                events,
                run_id,
                config.model.name,
                prepared.labels,
                config.train.epochs,
                first_epoch,
                monitor=selection_metric(config),
            )
            own_callbacks = build_callbacks(config, folder, recorder, stop, checkpoint)
            trainer = build_trainer(
                config,
                plan,
                folder,
                progress,
                [*own_callbacks, *callbacks, *([OneBasedProgressBar()] if progress else [])],
            )
            if resumed_epoch is not None:
                start_at_epoch(trainer, resumed_epoch)
            started = time.perf_counter()
            os.environ[RUN_DIR_ENV] = str(folder.path.resolve())  # the processes Lightning launches join it
            try:
                trainer.fit(module, loaders.train, loaders.val)
            finally:
                os.environ.pop(RUN_DIR_ENV, None)
            stop.check()
        if not trainer.is_global_zero:
            return Run(folder.path, run_id, "done", folder.best_checkpoint)
        metrics = finish(folder, module, prepared, config, recorder, trainer, time.perf_counter() - started)
        for warning in metrics["warnings"]:
            _log(events, "warning", warning)
        events.write(RunEnd("done", recorder.best_val_acc, recorder.best_epoch))
        recorder.status("done", trainer, val_acc=metrics["val_acc"], val_macro_f1=metrics["val_macro_f1"])
        return Run(folder.path, run_id, "done", folder.best_checkpoint, metrics)
    except BaseException as error:
        if follower:
            raise
        if isinstance(error, (TrainingCancelled, KeyboardInterrupt)) or stop.signal_number is not None:
            record_cancel(folder, events, recorder, run_id, config, stop.signal_number)
            if isinstance(error, TrainingCancelled):
                raise
            raise TrainingCancelled(stop.signal_number or signal.SIGINT) from error
        record_failure(folder, events, recorder, run_id, config, error)
        raise


def _prepare(opened: OpenedRun, events: EventLog, write: bool = True) -> PreparedData:
    """Decode and split the data (a resumed run reads its saved split); a new run saves split and labels."""
    folder, config = opened.folder, opened.config
    prepared = prepare_data(config, split_file=folder.split if opened.resumed else None)
    if MODELS.get(config.model.name).frozen_embedding:
        prepared = _embed(prepared, config, events)
    if not opened.resumed and write:  # rank 0: the other ranks draw the same seeded split
        write_split(prepared.plan, folder.split)
        folder.write_labels(prepared.labels)
    _log(
        events,
        "info",
        f"{sum(len(s.labels) for s in prepared.splits.values())} files, "
        f"{len(prepared.labels)} classes; split: {prepared.plan.method}; train counts "
        + ", ".join(f"{k} {v}" for k, v in prepared.counts("train").items()),
    )
    if prepared.bad_files:
        _log(
            events,
            "warning",
            f"skipped {len(prepared.bad_files)} unreadable file(s): "
            + "; ".join(display_path(p) for p, _ in prepared.bad_files),
        )
    if prepared.long_clips:
        _log(events, "warning", long_clips_message(prepared.long_clips))
    return prepared


def _module(
    config: Config, prepared: PreparedData, model: EdgeClassifier, run_id: str, teaching: Teaching
) -> ClassifierModule:
    """The Lightning module: the model, class weights (multi-label: BCE positive weights) and, when distilling, its
    teacher (and unlabelled data)."""
    weights = None
    if config.data.class_weights:
        weights = torch.tensor(prepared.positive_weights() if prepared.multilabel else prepared.class_weights())
    teacher, unlabeled = teaching.teacher, teaching.unlabeled
    licence = teacher.licence if teacher is not None and teacher.licence else embedding_licence(config)
    return ClassifierModule(model, prepared.labels, config, run_id, weights, teacher, unlabeled, licence)


@dataclass
class Teaching:
    """The distillation teacher of a run, its unlabelled data and (photo teacher, ``train.teacher_views``) its
    fixed views of the training photos; all None without ``train.teacher``."""

    teacher: Teacher | BirdNetTeacher | None = None
    unlabeled: UnlabeledWindows | UnlabeledPhotos | None = None
    train_views: PhotoViews | None = None


def _teacher(config: Config, prepared: PreparedData, events: EventLog, device: torch.device) -> Teaching:
    """The distillation teacher and what it has scored before training: a birdnet_head's cached grid scores on
    the training clips and the unlabelled windows of ``train.unlabeled``; a photo teacher's fixed views (if any)
    and the unlabelled photos."""
    if not config.train.teacher:
        if config.train.unlabeled and not config.train.embedding_teacher:
            raise ConfigError(
                "--unlabeled needs --teacher RUN (a birdnet_head run, or a photo run for photos) to give them soft "
                "labels, or --embedding-teacher birdnet to learn BirdNET's embedding of the recordings"
            )
        return Teaching()
    teacher = teacher_for(config, prepared.labels, prepared.spec)
    train_split = prepared.splits["train"]
    if isinstance(teacher, Teacher) and prepared.kind == "image":
        image_spec = cast(ImageSpec, prepared.spec)  # kind "image"
        augment = PhotoAugment(config.data.photo_augment, image_spec) if config.data.augment else None
        photos = prepare_photo_teaching(
            teacher,
            cast(list[np.ndarray], train_split.arrays),  # photos: decoded arrays (only audio is seekable)
            augment,
            config.train.teacher_views,
            config.train.unlabeled,
            config.data.max_bad_fraction,
            config.train.seed,
            device,
        )
        _log(events, "info", photos.note)
        return Teaching(teacher, photos.unlabeled, photos.train_views)
    if not isinstance(teacher, BirdNetTeacher):
        if config.train.unlabeled:
            raise ConfigError(
                "--unlabeled needs a birdnet_head teacher run for recordings (its soft labels come from BirdNET)"
            )
        return Teaching(teacher)
    teacher.prepare(train_split.arrays, train_split.paths)
    unlabeled = None
    if config.train.unlabeled:
        waveform_augment = WaveformAugment(config.data.audio_augment, [], enabled=config.data.augment)
        unlabeled = load_unlabeled(config.train.unlabeled, teacher, config.data.max_bad_fraction, waveform_augment)
        _log(events, "info", f"--unlabeled: {len(unlabeled)} window(s) with the teacher's soft labels")
    stats = teacher.stats
    _log(
        events,
        "info",
        f"BirdNET teacher: {stats.windows_computed} grid window(s) scored, {stats.windows_cached} from the cache, "
        f"{stats.seconds:.1f} s",
    )
    return Teaching(teacher, unlabeled)


def _embed(prepared: PreparedData, config: Config, events: EventLog) -> PreparedData:
    """Frozen-embedding models (birdnet_head) train on cached embeddings, computed once per file and window."""
    embedded, _stats, notes = embed_prepared(
        prepared, config.data.cache_dir, int(config.model.options.get("threads", 1)), config.data.max_bad_fraction
    )
    for note in notes:
        _log(events, "info", note)
    return embedded


def _log(events: EventLog, level: str, message: str) -> None:
    getattr(log, level)(message)
    events.write(Log(level, message))

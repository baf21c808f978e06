"""``train(config) -> Run``: one run = one folder, from data to a checkpoint with the figures to trust it.

Lightning does the loop, checkpoints (``best.ckpt`` by validation accuracy, ``last.ckpt`` every epoch), early
stopping and devices. Everything the web UI, export and bench rely on is written here: ``config.yaml``,
``split.csv``, ``labels.txt``, ``metrics.csv``, ``events.jsonl``, ``status.json``, ``report.json`` and plots.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from nightscan_edge.checkpoint import BEST_CHECKPOINT, LAST_CHECKPOINT, CheckpointError, load_trained_model
from nightscan_edge.config import Config, ConfigError, load_config
from nightscan_edge.data.augment import WaveformAugment, load_backgrounds
from nightscan_edge.data.datasets import (
    AudioEvalDataset,
    AudioTrainDataset,
    EmbeddingEvalDataset,
    EmbeddingTrainDataset,
    EpochSeededSampler,
    ImageDataset,
    collate_images,
    collate_windows,
)
from nightscan_edge.data.prepare import PreparedData, SplitData, prepare_data
from nightscan_edge.data.splits import write_split
from nightscan_edge.models import MODELS, EdgeClassifier, create_model
from nightscan_edge.train.birdnet_teacher import BirdNetTeacher, load_unlabeled
from nightscan_edge.train.callbacks import RunRecorder, StopOnSignal, StopRequest, TrainingCancelled
from nightscan_edge.train.distill import load_teacher
from nightscan_edge.train.events import EventLog, Log, RunEnd, read_events, write_status
from nightscan_edge.train.module import ClassifierModule
from nightscan_edge.train.report import classification_report, plot_confusion_matrix, plot_curves, write_report

log = logging.getLogger(__name__)


@dataclass
class Run:
    """A finished (or stopped) run: where it lives, its best checkpoint and its headline figures."""

    run_dir: Path
    run_id: str
    status: str
    best_checkpoint: Path | None
    metrics: dict = field(default_factory=dict)


def _absolute(path: str | None) -> str | None:
    return str(Path(path).expanduser().resolve()) if path else path


def _with_absolute_paths(config: Config) -> Config:
    """Paths in the saved config must still work when the run is resumed from another directory."""
    data = config.model_dump()
    data["data"]["path"] = _absolute(config.data.path)
    data["data"]["cache_dir"] = _absolute(config.data.cache_dir)
    data["data"]["audio_augment"]["noise_dir"] = _absolute(config.data.audio_augment.noise_dir)
    data["train"]["teacher"] = _absolute(config.train.teacher)
    data["train"]["unlabeled"] = _absolute(config.train.unlabeled)
    data["data"]["background"] = _absolute(config.data.background)
    data["model"]["init_from"] = _absolute(config.model.init_from)
    if config.model.weights not in (None, "imagenet"):
        data["model"]["weights"] = _absolute(config.model.weights)
    return Config.model_validate(data)


def new_run_id(config: Config) -> str:
    return config.train.run_name or f"{config.model.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def build_model(config: Config, prepared: PreparedData) -> EdgeClassifier:
    options = dict(config.model.options)
    if MODELS.get(config.model.name).input_kind == "image" and config.model.weights:
        options["weights"] = config.model.weights
        model = create_model(config.model.name, 1000, spec=prepared.spec, **options)
        model.reset_head(len(prepared.labels))
    else:
        model = create_model(config.model.name, len(prepared.labels), spec=prepared.spec, **options)
    if config.model.init_from:
        initialise_from(model, config.model.init_from, prepared.labels)
    return model


def initialise_from(model: EdgeClassifier, source: str, labels: list[str]) -> str:
    """Copy another run's (or a weights file's) backbone; the head too when the classes are the same."""
    path = Path(source)
    if path.is_dir() or path.suffix == ".ckpt":
        try:
            trained = load_trained_model(path)
        except CheckpointError as error:
            raise ConfigError(f"model.init_from: {error}") from None
        if trained.model_name != model.model_name:
            raise ConfigError(
                f"model.init_from: {source} is a {trained.model_name}, this run trains {model.model_name}"
            )
        state, same_classes = trained.model.state_dict(), trained.labels == list(labels)
    elif path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        state = {k.removeprefix("model."): v for k, v in state.items()}
        head = state.get("head.weight")
        same_classes = head is not None and tuple(head.shape) == tuple(model.head.weight.shape)
    else:
        raise ConfigError(f"model.init_from: {source} not found; give a run folder, a .ckpt or a weights file")
    if not same_classes:
        state = {k: v for k, v in state.items() if not k.startswith("head.")}
    own = model.state_dict()
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    unexpected = [k for k in state if k not in own]
    missing = [k for k in own if k not in state and not k.startswith("head.")]
    if mismatched or unexpected or missing:
        detail = "; ".join(
            f"{name}: {', '.join(keys[:3])}"
            for name, keys in (("shape differs", mismatched), ("unexpected", unexpected), ("missing", missing))
            if keys
        )
        raise ConfigError(f"model.init_from: weights in {source} do not fit {model.model_name} ({detail})")
    model.load_state_dict(state, strict=False)
    return "backbone and head" if same_classes else "backbone (new head for the new classes)"


@torch.no_grad()
def initialise_batchnorm(model: EdgeClassifier, prepared: PreparedData, items: int = 64) -> None:
    """Start every BatchNorm's running statistics at those of the first training inputs (a "data-dependent
    init"), instead of PyTorch's 0 and 1.

    Log-mel values sit around -50 dB with a spread of ~20 dB, and many channels deeper in a fresh network have a
    variance far from 1. With momentum 0.1 the initial 0/1 still weighs 0.9**k after k steps; a small data set
    (400 clips at batch 64: 7 steps per epoch) evaluates with those stale statistics for several epochs, the
    evaluation collapses to one class, the validation loss rises and ReduceLROnPlateau cuts the learning rate
    before training has really started. One cumulative pass over a few inputs fixes the starting point.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    inputs = _first_inputs(model, prepared, items)
    momenta = [norm.momentum for norm in norms]
    was_training = model.training
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the batches below
    model.train()
    model(inputs)
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    model.train(was_training)


def _first_inputs(model: EdgeClassifier, prepared: PreparedData, items: int) -> torch.Tensor:
    """The model inputs of the first ``items`` training examples (first window of a clip; unaugmented photo)."""
    train_split = prepared.splits["train"]
    if prepared.kind == "audio":
        from nightscan_edge.data.datasets import clip_windows

        windows = np.concatenate([clip_windows(clip, prepared.spec)[:1] for clip in train_split.arrays[:items]])
        return model.log_mel(torch.from_numpy(windows))
    dataset = ImageDataset(train_split.arrays[:items], train_split.labels[:items], prepared.spec, None)
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


def _loaders(config: Config, prepared: PreparedData, module: ClassifierModule):
    train_split, val_split = prepared.splits["train"], prepared.splits["val"]
    batch_size, workers = config.train.batch_size, config.data.num_workers
    sampler = EpochSeededSampler(
        train_split.labels,
        config.train.seed,
        weighted=config.data.weighted_sampler,
        draws=config.train.min_steps_per_epoch * batch_size,
    )
    module.train_sampler = sampler
    if prepared.inputs == "embedding":
        train_set = EmbeddingTrainDataset(train_split.arrays, train_split.labels)
        val_set, collate = EmbeddingEvalDataset(val_split.arrays, val_split.labels), collate_windows
    elif prepared.kind == "audio":
        audio = config.data.audio_augment
        backgrounds = (
            load_backgrounds(audio.noise_dir, prepared.spec.sample_rate)
            if (config.data.augment and audio.noise_mix_probability > 0)
            else []
        )
        train_set = AudioTrainDataset(
            train_split.arrays,
            train_split.labels,
            prepared.spec,
            WaveformAugment(audio, backgrounds, enabled=config.data.augment),
            with_position=isinstance(module.teacher, BirdNetTeacher),
        )
        val_set, collate = AudioEvalDataset(val_split.arrays, val_split.labels, prepared.spec), collate_windows
    else:
        augment = config.data.photo_augment if config.data.augment else None
        train_set = ImageDataset(train_split.arrays, train_split.labels, prepared.spec, augment)
        val_set, collate = ImageDataset(val_split.arrays, val_split.labels, prepared.spec, None), collate_images
    train_loader = DataLoader(
        train_set,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=len(sampler) % batch_size == 1,
        persistent_workers=workers > 0,
    )
    val_loader = DataLoader(
        val_set,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate,
        persistent_workers=workers > 0,
    )
    return train_loader, val_loader


def _teacher(config: Config, prepared: PreparedData, events: EventLog):
    """The distillation teacher (None without ``train.teacher``) and, for a birdnet_head teacher, its cached grid
    scores on the training clips and the unlabelled windows of ``train.unlabeled``."""
    if not config.train.teacher:
        if config.train.unlabeled:
            raise ConfigError(
                "--unlabeled needs --teacher RUN (a birdnet_head run) to give those recordings soft labels"
            )
        return None, None
    teacher = load_teacher(
        config.train.teacher,
        prepared.labels,
        prepared.spec,
        config.train.distill_temperature,
        config.train.distill_alpha,
        cache_dir=config.data.cache_dir,
        grid_seconds=config.train.teacher_grid_seconds,
    )
    if not isinstance(teacher, BirdNetTeacher):
        if config.train.unlabeled:
            raise ConfigError("--unlabeled needs a birdnet_head teacher run; this teacher is a " + config.model.name)
        return teacher, None
    train_split = prepared.splits["train"]
    teacher.prepare(train_split.arrays, train_split.paths)
    unlabeled = None
    if config.train.unlabeled:
        unlabeled = load_unlabeled(config.train.unlabeled, teacher, config.data.max_bad_fraction)
        _log(events, "info", f"--unlabeled: {len(unlabeled)} window(s) with the teacher's soft labels")
    stats = teacher.stats
    _log(
        events,
        "info",
        f"BirdNET teacher: {stats.windows_computed} grid window(s) scored, {stats.windows_cached} from the cache, "
        f"{stats.seconds:.1f} s",
    )
    return teacher, unlabeled


def _embed(prepared: PreparedData, config: Config, events: EventLog) -> PreparedData:
    """Frozen-embedding models (birdnet_head) train on cached embeddings, computed once per file and window."""
    from nightscan_edge.birdnet.data import embed_prepared

    embedded, _stats, notes = embed_prepared(
        prepared, config.data.cache_dir, int(config.model.options.get("threads", 1)), config.data.max_bad_fraction
    )
    for note in notes:
        _log(events, "info", note)
    return embedded


def eval_dataset(prepared: PreparedData, split: SplitData):
    if prepared.inputs == "embedding":
        return EmbeddingEvalDataset(split.arrays, split.labels), collate_windows
    if prepared.kind == "audio":
        return AudioEvalDataset(split.arrays, split.labels, prepared.spec), collate_windows
    return ImageDataset(split.arrays, split.labels, prepared.spec, None), collate_images


@torch.no_grad()
def predict_split(module: ClassifierModule, prepared: PreparedData, split: SplitData, batch_size: int) -> torch.Tensor:
    """Clip-level predicted class per file of a split (windows averaged)."""
    dataset, collate = eval_dataset(prepared, split)
    module.eval()
    predictions = []
    for windows, labels, owner in DataLoader(dataset, batch_size=batch_size, collate_fn=collate):
        predictions.append(module.clip_probabilities(windows, owner, labels.numel()).argmax(1))
    return torch.cat(predictions)


def _final_report(
    run_dir: Path, module: ClassifierModule, prepared: PreparedData, config: Config, recorder: RunRecorder
) -> dict:
    best = torch.load(run_dir / BEST_CHECKPOINT, map_location="cpu", weights_only=False)
    module.load_state_dict(best["state_dict"], strict=False)
    module.cpu()
    report: dict = {
        "run_id": module.run_id,
        "model": config.model.name,
        "labels": prepared.labels,
        "checkpoint": BEST_CHECKPOINT,
        "best_epoch": recorder.best_epoch,
        "split_method": prepared.plan.method,
        "counts": {split: prepared.counts(split) for split in prepared.splits},
        "bad_files": [{"path": str(p), "reason": r} for p, r in prepared.bad_files],
    }
    for split in ("val", "test"):
        if split in prepared.splits:
            data = prepared.splits[split]
            predictions = predict_split(module, prepared, data, config.train.batch_size)
            report[split] = classification_report(predictions, torch.tensor(data.labels), prepared.labels)
    report.update({k: report["val"][k] for k in ("accuracy", "macro_f1", "per_class", "confusion_matrix")})
    write_report(run_dir / "report.json", report)
    plot_curves(run_dir / "metrics.csv", run_dir / "curves.png")
    plot_confusion_matrix(
        report["val"]["confusion_matrix"],
        prepared.labels,
        run_dir / "confusion_matrix.png",
        f"{config.model.name} validation (accuracy {report['val']['accuracy']:.1%})",
    )
    return report


class EpochBoundaryCheckpoint(L.Callback):
    """``last.ckpt`` at the start of every epoch and at the end of training: the resume point.

    At an epoch's start the previous epoch -- training, validation, scheduler step, early-stopping and best-
    checkpoint bookkeeping -- is complete, and the next epoch's order and augmentation are seeded by its
    number, so a run resumed from here replays the remaining epochs exactly. (Lightning's own ``save_last``
    runs inside the epoch-end hooks, before the scheduler steps, and its loop-state restore then replays or
    skips part of an epoch.) A cancel mid-epoch loses at most that epoch's batches, never exactness.
    """

    def __init__(self, path: Path, resumed: bool) -> None:
        self.path = path
        self.skip_next = resumed  # the checkpoint we resume from already is this epoch's starting point

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.skip_next:
            self.skip_next = False
            return
        trainer.save_checkpoint(self.path)  # collective under DDP; rank zero writes

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        trainer.save_checkpoint(self.path)


class RestoreEpochStart(L.Callback):
    """Puts an epoch-start checkpoint back: optimizer, schedulers and callback states (weights and the epoch
    counter are set before ``fit``)."""

    def __init__(self, checkpoint: dict) -> None:
        self.checkpoint = checkpoint

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        for optimizer, state in zip(trainer.optimizers, self.checkpoint.get("optimizer_states", [])):
            optimizer.load_state_dict(state)
        for config, state in zip(trainer.lr_scheduler_configs, self.checkpoint.get("lr_schedulers", [])):
            config.scheduler.load_state_dict(state)
        saved = self.checkpoint.get("callbacks", {})
        for callback in trainer.callbacks:
            if callback.state_key in saved:
                callback.load_state_dict(saved[callback.state_key])


def _start_at_epoch(trainer: L.Trainer, epoch: int) -> None:
    progress = trainer.fit_loop.epoch_progress
    for tracker in (progress.current, progress.total):
        tracker.ready = tracker.started = tracker.processed = tracker.completed = epoch


def _prepare_run_dir(config: Config, run_dir: Path | None) -> tuple[Path, str]:
    run_id = new_run_id(config)
    run_dir = Path(run_dir) if run_dir is not None else Path(config.train.runs_dir) / run_id
    if run_dir is not None and config.train.run_name is None:
        run_id = run_dir.name
    if (run_dir / LAST_CHECKPOINT).exists() or (run_dir / "events.jsonl").exists():
        raise ConfigError(
            f"run folder {run_dir} already holds a run; continue it with --resume {run_dir} "
            "or choose another --run-dir/--run-name"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir, run_id


def train(
    config: Config | None = None,
    *,
    run_dir: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
) -> Run:
    """Train one model; with ``resume`` continue the run folder's ``last.ckpt`` with its saved config and split.

    Raises ``DataError``/``ConfigError`` before training for bad data or options, ``TrainingCancelled`` after
    SIGINT/SIGTERM (``last.ckpt`` kept), and re-raises anything else after recording the failure.
    """
    resume_from: Path | None = None
    if resume is not None:
        run_dir = Path(resume)
        resume_from = run_dir / LAST_CHECKPOINT
        if not resume_from.is_file() or not (run_dir / "config.yaml").is_file():
            raise ConfigError(f"cannot resume {run_dir}: it has no {LAST_CHECKPOINT} or config.yaml")
        saved = load_config(run_dir / "config.yaml")
        if config is not None and config.train.devices != saved.train.devices:
            saved = Config.model_validate(
                {
                    **saved.model_dump(),
                    "train": {
                        **saved.train.model_dump(),
                        **{k: getattr(config.train, k) for k in ("devices", "accelerator", "strategy")},
                    },
                }
            )
        config = saved
        run_id = next(
            (e["run_id"] for e in read_events(run_dir / "events.jsonl") if e["type"] == "run_start"), run_dir.name
        )
    else:
        if config is None:
            raise ConfigError("train() needs a config (or resume=RUN_DIR)")
        config = _with_absolute_paths(config)
        run_dir, run_id = _prepare_run_dir(config, run_dir)
        (run_dir / "config.yaml").write_text(config.to_yaml())
    events = EventLog(run_dir / "events.jsonl")
    write_status(run_dir, "running", run_id=run_id, model=config.model.name, epoch=None, epochs=config.train.epochs)
    recorder: RunRecorder | None = None
    trainer: L.Trainer | None = None
    stop = StopRequest()
    try:
        with stop:
            L.seed_everything(config.train.seed, workers=True, verbose=False)
            prepared = prepare_data(config, split_file=run_dir / "split.csv" if resume_from else None)
            stop.check()
            if MODELS.get(config.model.name).frozen_embedding:
                prepared = _embed(prepared, config, events)
                stop.check()
            if resume_from is None:
                write_split(prepared.plan, run_dir / "split.csv")
                (run_dir / "labels.txt").write_text("\n".join(prepared.labels) + "\n")
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
                    + "; ".join(str(p) for p, _ in prepared.bad_files),
                )
            resume_checkpoint = None
            if resume_from is None:
                model = build_model(config, prepared)
                if not config.model.init_from and not config.model.weights:
                    initialise_batchnorm(model, prepared)
            else:
                resume_checkpoint = torch.load(resume_from, map_location="cpu", weights_only=False)
                model = create_model(
                    config.model.name, len(prepared.labels), spec=prepared.spec, **config.model.options
                )
                model.load_state_dict(
                    {
                        k[len("model.") :]: v
                        for k, v in resume_checkpoint["state_dict"].items()
                        if k.startswith("model.")
                    }
                )
            teacher, unlabeled = _teacher(config, prepared, events)
            weights = torch.tensor(prepared.class_weights()) if config.data.class_weights else None
            module = ClassifierModule(model, prepared.labels, config, run_id, weights, teacher, unlabeled)
            train_loader, val_loader = _loaders(config, prepared, module)
            resumed_epoch = int(resume_checkpoint["epoch"]) if resume_checkpoint is not None else None
            recorder = RunRecorder(
                run_dir, events, run_id, config.model.name, prepared.labels, config.train.epochs, resumed_epoch
            )
            callbacks = [
                EpochBoundaryCheckpoint(run_dir / LAST_CHECKPOINT, resumed=resume_from is not None),
                recorder,
                StopOnSignal(stop),
                L.pytorch.callbacks.ModelCheckpoint(
                    dirpath=run_dir,
                    filename="best",
                    monitor="val_acc",
                    mode="max",
                    save_last=False,
                    save_top_k=1,
                    enable_version_counter=False,
                ),
            ]
            if resume_checkpoint is not None:
                callbacks.append(RestoreEpochStart(resume_checkpoint))
            if config.train.early_stopping_patience is not None:
                callbacks.append(
                    L.pytorch.callbacks.EarlyStopping(
                        monitor="val_acc", mode="max", patience=config.train.early_stopping_patience
                    )
                )
            trainer = L.Trainer(
                max_epochs=config.train.epochs,
                accelerator=config.train.accelerator,
                devices=_devices(config.train.devices),
                strategy=config.train.strategy,
                precision=config.train.precision,
                callbacks=callbacks,
                logger=False,
                enable_progress_bar=progress,
                enable_model_summary=False,
                num_sanity_val_steps=0,
                limit_train_batches=config.train.limit_train_batches,
                default_root_dir=str(run_dir),
                log_every_n_steps=1,
            )
            if resumed_epoch is not None:
                _start_at_epoch(trainer, resumed_epoch)
            started = time.perf_counter()
            trainer.fit(module, train_loader, val_loader)
            stop.check()
        if not trainer.is_global_zero:
            return Run(run_dir, run_id, "done", run_dir / BEST_CHECKPOINT)
        report = _final_report(run_dir, module, prepared, config, recorder)
        metrics = {
            "best_val_acc": recorder.best_val_acc,
            "best_epoch": recorder.best_epoch,
            "val_acc": report["val"]["accuracy"],
            "val_macro_f1": report["val"]["macro_f1"],
            "epochs_run": trainer.current_epoch,
            "seconds": time.perf_counter() - started,
            "per_class": report["val"]["per_class"],
        }
        if "test" in report:
            metrics["test_acc"] = report["test"]["accuracy"]
        events.write(RunEnd("done", recorder.best_val_acc, recorder.best_epoch))
        recorder.status("done", trainer, val_acc=metrics["val_acc"], val_macro_f1=metrics["val_macro_f1"])
        return Run(run_dir, run_id, "done", run_dir / BEST_CHECKPOINT, metrics)
    except BaseException as error:
        if isinstance(error, (TrainingCancelled, KeyboardInterrupt)) or stop.signal_number is not None:
            _record_cancel(run_dir, events, recorder, run_id, config, stop.signal_number)
            if isinstance(error, TrainingCancelled):
                raise
            raise TrainingCancelled(stop.signal_number or signal.SIGINT) from error
        message = str(error).strip() or type(error).__name__
        events.write(
            RunEnd(
                "failed",
                recorder.best_val_acc if recorder else None,
                recorder.best_epoch if recorder else None,
                error=message,
            )
        )
        write_status(run_dir, "failed", run_id=run_id, model=config.model.name, error=message)
        raise


def _record_cancel(
    run_dir: Path,
    events: EventLog,
    recorder: RunRecorder | None,
    run_id: str,
    config: Config,
    signal_number: int | None,
) -> None:
    best = recorder.best_val_acc if recorder else None
    events.write(RunEnd("cancelled", best, recorder.best_epoch if recorder else None))
    last = run_dir / LAST_CHECKPOINT
    write_status(
        run_dir,
        "cancelled",
        run_id=run_id,
        model=config.model.name,
        signal=signal_number,
        best_val_acc=best,
        resume_from=str(last) if last.exists() else None,
    )


def _devices(devices: str):
    """``"auto"``, ``"2"`` or ``"0,1"`` (the CLI's text) -> what Lightning takes."""
    text = str(devices).strip()
    if text == "auto" or text == "-1":
        return text if text == "auto" else -1
    if text.isdigit():
        return int(text)
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"train.devices must be auto, a count or a list like 0,1; got {devices!r}") from None


def _log(events: EventLog, level: str, message: str) -> None:
    getattr(log, level)(message)
    events.write(Log(level, message))

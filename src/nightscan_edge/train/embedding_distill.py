"""Feature distillation (``train.embedding_teacher``): before learning the labels, an audio student learns to
reproduce BirdNET's 1024-d embedding of every window of audio at hand.

Why: distilling a birdnet_head's soft labels teaches the student the few labelled clips again (plus what the
unlabelled windows say about those same classes). BirdNET's embedding describes any sound it has heard in 6,522
species' terms; a student whose penultimate features can predict it starts the label training from that knowledge,
learnt from every recording the user has -- the training clips, ``--unlabeled`` and ``train.embedding_audio``
(e.g. ambient recordings of the site) -- with no label needed.

How: a linear projection (student features -> 1024) is trained with the student; the loss is the cosine distance
``1 - cos(projection(features), embedding)``. Cosine rather than MSE: BirdNET's embedding norm follows loudness and
how much of the window holds a call, while its direction says what the sound is; the cosine needs no per-dimension
scaling of the targets, and MSE on unit-normalised vectors is the same loss up to a factor 2. The projection is
dropped afterwards: only the student's own layers carry the knowledge into the label training, the checkpoint and
every export (nothing of BirdNET's weights is in them, but the licence, CC BY-NC-SA 4.0, is).

Targets: BirdNET's embedding of each window on the teacher's grid (``train.teacher_grid_seconds``), computed once
per file in the embedding cache -- the same entries a birdnet_head teacher reads, so a run with both teachers runs
BirdNET once per window. Every epoch draws as many augmented windows as there are grid windows (at least
``train.min_steps_per_epoch`` batches); the draws are seeded by (seed, epoch, step), so a resumed phase continues
exactly. ``embedding.ckpt`` in the run folder (model, projection, optimizer, history), written atomically after
each epoch, is the phase's resume point; once the labelled epochs have a ``last.ckpt``, that one is.
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nightscan_edge.atomic import write_bytes_atomic
from nightscan_edge.audio.recording import AudioClip
from nightscan_edge.birdnet.embeddings import EmbeddingStats
from nightscan_edge.birdnet.grid import GridEmbeddings, StudentGrid
from nightscan_edge.config import Config
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.data.augment import SpecAugment, WaveformAugment
from nightscan_edge.data.datasets import epoch_seed
from nightscan_edge.data.prepare import PreparedData
from nightscan_edge.models import MODELS, EdgeClassifier
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.safe_load import load_torch_file
from nightscan_edge.spec import AudioSpec
from nightscan_edge.train.birdnet_teacher import decode_recordings
from nightscan_edge.train.events import EmbeddingEpochEnd, EventLog, Log
from nightscan_edge.train.grid_windows import GridWindows
from nightscan_edge.train.module import make_optimizer, model_input

log = logging.getLogger(__name__)


class EmbeddingSource(Protocol):
    """What feature distillation learns from: an embedding of every grid window of a clip (BirdNET's, or a fake
    in tests), its size, its licence and what it cost."""

    name: str
    dim: int
    stats: EmbeddingStats

    @property
    def licence(self) -> str | None: ...

    def starts(self, clip: AudioClip) -> np.ndarray: ...

    def embed(self, clips: list[AudioClip], paths: list[Any]) -> GridEmbeddings: ...


def check_embedding_student(config: Config) -> None:
    """Feature distillation needs an audio student with its own layers (not birdnet_head); one line otherwise."""
    entry = MODELS.get(config.model.name)
    if entry.input_kind != "audio":
        raise ConfigError(
            f"train.embedding_teacher={config.train.embedding_teacher} teaches audio models; {config.model.name} "
            "takes photos"
        )
    if entry.frozen_embedding:
        raise ConfigError(
            f"train.embedding_teacher: {config.model.name} already is a head on BirdNET's embedding; use it with an "
            "edge audio model (ultralight_audio, lightweight_audio, ...)"
        )


def embedding_source(config: Config, spec: AudioSpec) -> EmbeddingSource:
    """The source ``train.embedding_teacher`` names (``birdnet``: BirdNET V2.4's embedding on the student's grid)."""
    return StudentGrid(spec, config.train.teacher_grid_seconds, config.data.cache_dir)


def embedding_windows(config: Config, prepared: PreparedData, source: EmbeddingSource) -> tuple[GridWindows, str]:
    """Every window at hand with its unit-normalised target: the training clips, ``train.unlabeled`` and each
    folder of ``train.embedding_audio`` (validation and test clips are never used). Returns a log line saying how
    much of each and what BirdNET cost."""
    spec = prepared.spec
    assert isinstance(spec, AudioSpec)  # learn_embedding refuses photo data first
    train_split = prepared.splits["train"]
    clips, paths = list(train_split.arrays), list(train_split.paths)
    counts = [f"{len(clips)} training clip(s)"]
    folders = [("--unlabeled", config.train.unlabeled)] if config.train.unlabeled else []
    folders += [("--embedding-audio", folder) for folder in config.train.embedding_audio]
    for option, folder in folders:
        more, more_paths = decode_recordings(folder, option, spec, config.data.max_bad_fraction)
        clips += more
        paths += more_paths
        counts.append(f"{len(more)} recording(s) of {option} {folder}")
    grid = source.embed(clips, paths)
    targets = [F.normalize(torch.from_numpy(np.asarray(rows, dtype=np.float32)), dim=1) for rows in grid.embeddings]
    windows = GridWindows(clips, grid.starts, targets, spec, "the embedding distillation audio")
    stats = source.stats
    note = (
        f"embedding distillation ({source.name}): {len(windows)} window(s) from " + ", ".join(counts) + f"; "
        f"{stats.windows_computed} embedding(s) computed, {stats.windows_cached} from the cache, {stats.seconds:.1f} s"
    )
    return windows, note


def embedding_licence(config: Config) -> str | None:
    """The terms a student inherits from the embedding it learnt (BirdNET's CC BY-NC-SA 4.0), or None."""
    return StudentGrid.licence if config.train.embedding_teacher == "birdnet" else None


def learn_embedding(
    model: EdgeClassifier,
    config: Config,
    prepared: PreparedData,
    folder: RunFolder,
    events: EventLog,
    check_stop: Callable[[], None],
    device: torch.device,
    write: bool = True,
) -> list[dict[str, float]]:
    """The whole phase for a run: its source, its windows (logged with what BirdNET cost), then the epochs."""
    if not isinstance(prepared.spec, AudioSpec):
        raise ConfigError("train.embedding_teacher teaches audio models")
    check_embedding_student(config)
    source = embedding_source(config, prepared.spec)
    windows, note = embedding_windows(config, prepared, source)
    log.info(note)
    events.write(Log("info", note))
    check_stop()
    return distill_embedding(model, windows, config, folder, events, check_stop, device, write)


@dataclass
class EmbeddingPhase:
    """The phase's state between epochs: what ``embedding.ckpt`` holds."""

    projection: nn.Linear
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    history: list[dict[str, float]]

    def save(self, model: EdgeClassifier, folder: RunFolder) -> None:
        buffer = io.BytesIO()
        torch.save(
            {
                "model": model.state_dict(),
                "projection": self.projection.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "history": self.history,
            },
            buffer,
        )
        write_bytes_atomic(folder.embedding_checkpoint, buffer.getvalue())

    def restore(self, model: EdgeClassifier, folder: RunFolder) -> None:
        state = load_torch_file(folder.embedding_checkpoint, "embedding distillation state")
        model.load_state_dict(state["model"])
        self.projection.load_state_dict(state["projection"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.history = list(state["history"])


def distill_embedding(
    model: EdgeClassifier,
    windows: GridWindows,
    config: Config,
    folder: RunFolder,
    events: EventLog,
    check_stop: Callable[[], None],
    device: torch.device,
    write: bool = True,
) -> list[dict[str, float]]:
    """Train ``model``'s layers (not its head) to predict the targets through a projection, for
    ``train.embedding_epochs`` epochs, continuing ``embedding.ckpt`` when one is there; returns the per-epoch history.
    ``check_stop`` raises when the run is cancelled (between steps)."""
    train = config.train
    epochs = train.embedding_epochs
    dim = int(windows.targets[0].shape[1])
    projection = nn.Linear(model.head.in_features, dim)
    optimizer = make_optimizer([*model.parameters(), *projection.parameters()], train)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    phase = EmbeddingPhase(projection, optimizer, scheduler, [])
    if folder.embedding_checkpoint.is_file():
        phase.restore(model, folder)
        events.write(Log("info", f"embedding distillation resumed after epoch {len(phase.history)}/{epochs}"))
    audio = config.data.audio_augment
    augment = WaveformAugment(audio, [], enabled=config.data.augment)
    spec_augment = SpecAugment(audio) if (config.data.augment and audio.spec_augment) else None
    batch_size = train.batch_size
    steps = max(math.ceil(len(windows) / batch_size), train.min_steps_per_epoch, 1)
    model.to(device).train()
    phase.projection.to(device).train()
    for epoch in range(len(phase.history), epochs):
        started = time.perf_counter()
        torch.manual_seed(epoch_seed(train.seed, epoch, salt=49_999))  # dropout: resumed == uninterrupted
        loss_sum = cosine_sum = 0.0
        for step in range(steps):
            seed = epoch_seed(train.seed, epoch, salt=50_000 + step)
            batch, targets = windows.draw(np.random.default_rng(seed), batch_size, augment)
            inputs = model_input(model, batch.to(device), spec_augment, augment_seed=seed)
            cosine = F.cosine_similarity(phase.projection(model.features(inputs)), targets.to(device), dim=1)
            loss = (1.0 - cosine).mean()
            phase.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
            phase.optimizer.step()
            loss_sum += float(loss.detach())
            cosine_sum += float(cosine.detach().mean())
            check_stop()
        phase.scheduler.step()
        record = {
            "epoch": epoch + 1,
            "loss": loss_sum / steps,
            "cosine": cosine_sum / steps,
            "windows": steps * batch_size,
            "seconds": time.perf_counter() - started,
        }
        phase.history.append(record)
        if write:
            phase.save(model, folder)
        events.write(
            EmbeddingEpochEnd(
                epoch + 1, epochs, record["loss"], record["cosine"], int(record["windows"]), record["seconds"]
            )
        )
        log.info("embedding epoch %d/%d: cosine %.3f (%.0f s)", epoch + 1, epochs, record["cosine"], record["seconds"])
    model.to("cpu")
    return phase.history

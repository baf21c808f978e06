"""How a run's model starts: built from the registry, seeded from another run (``--init-from``) or a weights
file, BatchNorm statistics started at the data's, or put back from a resume checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from nightscan_edge.checkpoint import MODEL_PREFIX, TrainedModel, load_trained_model
from nightscan_edge.config import Config
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.data.datasets import ImageDataset, clip_windows
from nightscan_edge.data.prepare import PreparedData, spec_from_config
from nightscan_edge.errors import CheckpointError
from nightscan_edge.models import MODELS, AudioClassifier, EdgeClassifier, create_model
from nightscan_edge.safe_load import load_torch_file
from nightscan_edge.spec import AudioSpec, ImageSpec
from nightscan_edge.train.weight_average import training_weights


def build_model(config: Config, prepared: PreparedData) -> EdgeClassifier:
    """A fresh model for a new run (ImageNet weights with a new head for photos; ``init_from`` copied in)."""
    options = dict(config.model.options)
    weights = start_weights(config)
    if weights:
        options["weights"] = weights
        model = create_model(config.model.name, 1000, spec=prepared.spec, **options)
        model.reset_head(len(prepared.labels))
    else:
        model = create_model(config.model.name, len(prepared.labels), spec=prepared.spec, **options)
    if config.model.init_from:
        initialise_from(model, config.model.init_from, prepared.labels)
    return model


def check_model_options(config: Config) -> None:
    """A model option its family does not take (``model.options.nonsense``) or cannot use (``dropout=lots``) is a
    one-line ``ConfigError`` before any run folder exists, not a traceback after the data was read.

    Checked by building the family once with two classes and no pretrained weights, which takes milliseconds;
    families that read an optional extra's files (BirdNET's) or train on embeddings are left to their own checks.
    """
    entry = MODELS.get(config.model.name)
    if entry.requires is not None or entry.frozen_embedding or not config.model.options:
        return
    try:
        options = {key: value for key, value in config.model.options.items() if key != "weights"}  # no loading here
        create_model(config.model.name, 2, spec=spec_from_config(config), **options)
    except (TypeError, ValueError) as error:
        problem = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"model.options of {config.model.name}: {problem}; fix or drop that option") from None


def start_weights(config: Config) -> str | None:
    """The weights a new photo run starts from: ``model.weights``, or the family's pretrained ones when unset
    (``'none'``: a random start). Audio families take none."""
    entry = MODELS.get(config.model.name)
    return entry.training_weights(config.model.weights) if entry.input_kind == "image" else None


def weights_licence(config: Config) -> str | None:
    """The licence line a run's checkpoints carry for the weights it started from (None: the project's own)."""
    entry = MODELS.get(config.model.name)
    if entry.pretrained is not None and start_weights(config) == entry.pretrained.name:
        return entry.pretrained.provenance
    return entry.licence


def start_model(config: Config, prepared: PreparedData) -> EdgeClassifier:
    """A new run's model: built, then BatchNorm started at the data unless weights came from elsewhere."""
    model = build_model(config, prepared)
    if not config.model.init_from and not start_weights(config):
        initialise_batchnorm(model, prepared)
    return model


def resumed_model(config: Config, prepared: PreparedData, checkpoint: dict[str, Any]) -> EdgeClassifier:
    """The model as it was saved in a resume checkpoint (``last.ckpt``): the optimizer's weights, not the average."""
    model = create_model(config.model.name, len(prepared.labels), spec=prepared.spec, **config.model.options)
    model.load_state_dict(
        {k[len(MODEL_PREFIX) :]: v for k, v in training_weights(checkpoint).items() if k.startswith(MODEL_PREFIX)}
    )
    return model


def initialise_from(model: EdgeClassifier, source: str, labels: list[str]) -> str:
    """Copy another run's (or a weights file's) backbone; the head too when the classes are the same."""
    path = Path(source)
    if path.is_dir() or path.suffix == ".ckpt":
        try:
            trained = load_trained_model(path)
        except CheckpointError as error:
            raise ConfigError(f"model.init_from: {error}") from None
        if getattr(trained.model, "takes_embeddings", False) and hasattr(model, "embed"):
            return _head_from_embedding_run(model, trained, source, labels)
        if trained.model_name != model.model_name:
            raise ConfigError(
                f"model.init_from: {source} is a {trained.model_name}, this run trains {model.model_name}"
            )
        state, same_classes = trained.model.state_dict(), trained.labels == list(labels)
    elif path.is_file():
        state = load_torch_file(path, "model.init_from weights")
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        state = {k.removeprefix(MODEL_PREFIX): v for k, v in state.items()}
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
def _head_from_embedding_run(model: EdgeClassifier, trained: TrainedModel, source: str, labels: list[str]) -> str:
    """A network that computes a frozen-embedding run's embedding itself (birdnet_backbone_audio rebuilds BirdNET,
    whose embedding a birdnet_head reads) starts with that run's trained head: the run begins where the head
    ended instead of at a random classifier. Only a linear head on the same embedding and labels fits."""
    head = trained.model.head
    if (
        head.in_features != model.head.in_features
        or getattr(trained.model, "body", None) is not None
        and any(isinstance(layer, torch.nn.Linear) for layer in cast(torch.nn.Module, trained.model.body).modules())
    ):
        raise ConfigError(
            f"model.init_from: {source}'s head reads {head.in_features}-d features (an MLP head on BirdNET's "
            f"{trained.model.embedding_size}-d embedding), {model.model_name} ends in a "
            f"{model.head.in_features}-d embedding; start from a linear {trained.model_name} run (head: linear)"
        )
    if trained.labels != list(labels):
        raise ConfigError(
            f"model.init_from: {source} was trained on labels {trained.labels}, this run has {list(labels)}; "
            "a head only transfers to the same labels"
        )
    model.head.load_state_dict(head.state_dict())
    return f"head of {trained.model_name} run {trained.run_id}"


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
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    model.train(was_training)


def _first_inputs(model: EdgeClassifier, prepared: PreparedData, items: int) -> torch.Tensor:
    """The model inputs of the first ``items`` training examples (first window of a clip; unaugmented photo)."""
    train_split = prepared.splits["train"]
    if prepared.kind == "audio":
        # the first window only: a long recording (read by seeking) is never windowed whole
        audio_spec = cast(AudioSpec, prepared.spec)  # kind "audio": clips decoded for an AudioSpec
        window = audio_spec.clip_samples
        windows = np.concatenate([clip_windows(clip[:window], audio_spec) for clip in train_split.arrays[:items]])
        inputs: torch.Tensor = cast(AudioClassifier, model).log_mel(torch.from_numpy(windows))
        return inputs
    # photos: decoded arrays (only audio is ever a SeekableRecording), for an ImageSpec
    photos = cast(list[np.ndarray], train_split.arrays[:items])
    dataset = ImageDataset(photos, train_split.labels[:items], cast(ImageSpec, prepared.spec))
    return torch.stack([dataset[i][0] for i in range(len(dataset))])

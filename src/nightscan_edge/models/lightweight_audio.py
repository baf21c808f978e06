"""``lightweight_audio``: a plain VGG-style CNN with BatchNorm on a 1x128x128 log-mel spectrogram.

The seed's "light" audio model (~2.5 MB FP32, budget < 3 MB): four conv stages of two 3x3 convolutions
with BatchNorm and ReLU, max-pooling between stages, global average pooling and a linear head. Plain
convolutions quantize well to INT8 and run on every mobile delegate.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nightscan_edge.models.base import AudioClassifier, register_model
from nightscan_edge.spec import AudioSpec


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


# channels of the four stages; `tune`'s width multiplier scales them
DEFAULT_WIDTHS: tuple[int, ...] = (24, 48, 96, 192)


class LightweightAudioCNN(AudioClassifier):
    def __init__(
        self, num_classes: int, spec: AudioSpec, widths: tuple[int, ...] = DEFAULT_WIDTHS, dropout: float = 0.3
    ) -> None:
        super().__init__(spec)
        layers: list[nn.Module] = []
        in_channels = 1
        for stage, width in enumerate(widths):
            layers += _conv_bn_relu(in_channels, width) + _conv_bn_relu(width, width)
            if stage < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            in_channels = width
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(in_channels, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.dropout(self.pool(self.body(self.input_norm(x))).flatten(1))
        return features


@register_model(
    "lightweight_audio",
    input_kind="audio",
    budget_mb=3.0,
    description="CNN with BatchNorm on a 1x128x128 log-mel spectrogram (~2.5 MB)",
)
def lightweight_audio(num_classes: int, spec: AudioSpec, **options: Any) -> LightweightAudioCNN:
    return LightweightAudioCNN(num_classes, spec, **options)

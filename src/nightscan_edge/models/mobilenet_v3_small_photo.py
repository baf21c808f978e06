"""``mobilenet_v3_small_photo``: torchvision's MobileNetV3-Small (Howard et al., "Searching for
MobileNetV3", ICCV 2019) for night/camera-trap photos at 224x224.

Built with torchvision's own ``mobilenet_v3_small`` so the architecture (and optional ImageNet weights via
its weights API) is the maintained one. Two changes for this use:
- BatchNorm momentum 0.1 by default: torchvision's 0.01 stalls on the short schedules users run here;
- ``in_channels=1`` for grayscale/infrared cameras: the stem convolution takes one channel (pretrained RGB
  stem weights are summed over the colour axis, which is the same as feeding a gray image three times).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import MobileNet_V3_Small_Weights, mobilenet_v3_small

from nightscan_edge.models.base import EdgeClassifier, register_model
from nightscan_edge.models.conv_like import conv2d_like
from nightscan_edge.models.pretrained import PretrainedWeightsError, read_weights_file
from nightscan_edge.spec import ImageSpec

IMAGENET_CLASSES = 1000


def load_torchvision_weights(weights: str | Path, enum_cls: Any, model_label: str) -> dict[str, torch.Tensor]:
    """``'imagenet'`` -> torchvision's weights API (downloads once, cached); a path -> that local file."""
    if str(weights).lower() == "imagenet":
        try:
            state_dict: dict[str, torch.Tensor] = enum_cls.DEFAULT.get_state_dict(progress=False)
            return state_dict
        except Exception as error:  # URLError, SSL errors, hub errors: all mean "not available here"
            raise PretrainedWeightsError(
                f"could not download ImageNet weights for {model_label} ({error.__class__.__name__}); "
                "you seem to be offline: pass a local file with --weights PATH.pth, or train from scratch"
            ) from error
    return read_weights_file(weights)


class MobileNetV3SmallPhoto(EdgeClassifier):
    input_kind = "image"

    def __init__(
        self,
        num_classes: int,
        spec: ImageSpec,
        weights: str | Path | None = None,
        bn_momentum: float = 0.1,
        dropout: float = 0.2,
    ) -> None:
        super().__init__(spec)
        net = mobilenet_v3_small(weights=None, num_classes=IMAGENET_CLASSES, dropout=dropout)
        if weights is not None:
            state = load_torchvision_weights(weights, MobileNet_V3_Small_Weights, "MobileNetV3-Small")
            try:
                net.load_state_dict(state)
            except RuntimeError as error:
                raise PretrainedWeightsError(f"weights {weights} do not fit MobileNetV3-Small: {error}") from error
        if spec.channels == 1:
            stem: nn.Conv2d = net.features[0][0]
            gray = conv2d_like(stem, 1, stem.out_channels)  # the stem has no bias
            with torch.no_grad():
                gray.weight.copy_(stem.weight.sum(dim=1, keepdim=True))
            net.features[0][0] = gray
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.momentum = bn_momentum
        self.body = net.features
        self.pool = net.avgpool
        self.pre_head = net.classifier[:-1]  # Linear(576, 1024) + Hardswish + Dropout
        old_head: nn.Linear = net.classifier[-1]
        self.head = old_head if num_classes == IMAGENET_CLASSES else nn.Linear(old_head.in_features, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.pre_head(self.pool(self.body(x)).flatten(1))
        return features


@register_model(
    "mobilenet_v3_small_photo",
    input_kind="image",
    budget_mb=8.0,
    description="torchvision MobileNetV3-Small, 224x224 RGB or grayscale/IR (~6 MB)",
)
def mobilenet_v3_small_photo(num_classes: int, spec: ImageSpec, **options: Any) -> MobileNetV3SmallPhoto:
    return MobileNetV3SmallPhoto(num_classes, spec, **options)

"""``resnet_photo``: torchvision's ResNet-18 or ResNet-50 (He et al., "Deep Residual Learning for Image
Recognition", CVPR 2016) -- the server-side photo model and the teacher for distilling
``mobilenet_v3_small_photo``.

Server tier, budget < 200 MB: ``depth=18`` (default, ~43 MB, 1.8 GMACs at 224 px) trains in reasonable time
on a CPU; ``depth=50`` (~90 MB, 4.1 GMACs) is the maximum-accuracy choice when a GPU is at hand. Built with
torchvision's own ``resnet18``/``resnet50`` so the architecture and
the optional ImageNet weights (``weights='imagenet'`` via torchvision's weights API, or a local ``.pth``
file) are the maintained ones; offline, ``'imagenet'`` fails with a clear message instead of hanging.
``in_channels=1`` (grayscale/infrared cameras) sums the pretrained RGB stem over the colour axis, exactly
as the edge photo model does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import ResNet18_Weights, ResNet50_Weights, resnet18, resnet50

from nightscan_edge.models.base import EdgeClassifier, register_model
from nightscan_edge.models.mobilenet_v3_small_photo import IMAGENET_CLASSES, load_torchvision_weights
from nightscan_edge.models.pretrained import PretrainedWeightsError
from nightscan_edge.spec import ImageSpec

# depth -> (torchvision builder, its weights enum)
_DEPTHS = {18: (resnet18, ResNet18_Weights), 50: (resnet50, ResNet50_Weights)}


class ResNetPhoto(EdgeClassifier):
    input_kind = "image"

    def __init__(
        self,
        num_classes: int,
        spec: ImageSpec,
        depth: int = 18,
        weights: str | Path | None = None,
        dropout: float = 0.2,
    ) -> None:
        super().__init__(spec)
        if depth not in _DEPTHS:
            raise ValueError(f"resnet_photo depth must be one of {sorted(_DEPTHS)}; got {depth!r}")
        builder, weights_enum = _DEPTHS[depth]
        net = builder(weights=None, num_classes=IMAGENET_CLASSES)
        if weights is not None:
            state = load_torchvision_weights(weights, weights_enum, f"ResNet-{depth}")
            try:
                net.load_state_dict(state)
            except RuntimeError as error:
                raise PretrainedWeightsError(f"weights {weights} do not fit ResNet-{depth}: {error}") from error
        if spec.channels == 1:
            stem = net.conv1
            gray = nn.Conv2d(1, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False)
            with torch.no_grad():
                gray.weight.copy_(stem.weight.sum(dim=1, keepdim=True))
            net.conv1 = gray
        self.body = nn.Sequential(
            net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4
        )
        self.pool = net.avgpool
        self.dropout = nn.Dropout(dropout)
        old_head: nn.Linear = net.fc
        self.head = old_head if num_classes == IMAGENET_CLASSES else nn.Linear(old_head.in_features, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.dropout(self.pool(self.body(x)).flatten(1))
        return features


@register_model(
    "resnet_photo",
    input_kind="image",
    budget_mb=200.0,
    tier="server",
    description="server/teacher: torchvision ResNet-18 (~43 MB; depth=50: ResNet-50, ~90 MB)",
)
def resnet_photo(num_classes: int, spec: ImageSpec, **options: Any) -> ResNetPhoto:
    return ResNetPhoto(num_classes, spec, **options)

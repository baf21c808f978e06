"""Fine-tuning a pretrained backbone on a few hundred examples per class, the way timm and fastai do it.

Three habits, each a ``train`` option (``configs/pretrained-photos.yaml`` turns them on):
- **Discriminative learning rates** (fastai ``lr=slice(...)``, timm's layer decay in its simplest form): the new
  head learns at ``train.lr``, the pretrained backbone at ``train.lr * train.backbone_lr_scale``, so the first
  steps of a random head do not wreck features learnt on a million photos.
- **A frozen first phase** (fastai ``fine_tune(freeze_epochs=...)``): for ``train.freeze_backbone_epochs`` epochs
  only the head trains; the backbone has no gradient (cheaper steps, too) and its BatchNorm layers keep their
  pretrained statistics (eval mode) so a batch of 32 small photos cannot replace ImageNet's.
- **Linear warm-up then cosine** (timm ``--warmup-epochs`` with ``--sched cosine``), stepped per batch: the rate
  climbs over ``train.warmup_epochs`` and decays to zero by the last step.

``train.batchnorm=frozen`` keeps every BatchNorm's running statistics as pretrained for the whole run (timm's
``--freeze-bn`` idea): for batches too small to estimate them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch import nn

from nightscan_edge.config import TrainConfig
from nightscan_edge.models import EdgeClassifier


def parameter_groups(model: EdgeClassifier, train: TrainConfig) -> list[dict[str, Any]]:
    """Backbone at ``lr * backbone_lr_scale`` first, the head at ``lr`` last (the group the logged rate reads)."""
    head_ids = {id(parameter) for parameter in model.head.parameters()}
    backbone = [parameter for parameter in model.parameters() if id(parameter) not in head_ids]
    return [
        {"params": backbone, "lr": train.lr * train.backbone_lr_scale, "name": "backbone"},
        {"params": list(model.head.parameters()), "lr": train.lr, "name": "head"},
    ]


def backbone_frozen(train: TrainConfig, epoch: int) -> bool:
    """Whether zero-based ``epoch`` is in the frozen first phase."""
    return epoch < train.freeze_backbone_epochs


def set_backbone_trainable(model: EdgeClassifier, trainable: bool) -> None:
    """Gradients on or off for everything but the head (the head always trains)."""
    head_ids = {id(parameter) for parameter in model.head.parameters()}
    for parameter in model.parameters():
        if id(parameter) not in head_ids:
            parameter.requires_grad_(trainable)


def hold_batchnorm_statistics(model: EdgeClassifier) -> None:
    """Every BatchNorm in eval mode: it normalises with, and no longer updates, its running statistics.

    Called at each training step while it applies: Lightning puts the whole module back in train mode after
    validation."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def warmup_cosine(total_steps: int, warmup_steps: int, decay: bool) -> Callable[[int], float]:
    """The LR factor at each step: linear from ~0 to 1 over ``warmup_steps``, then a cosine to 0 (or flat)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        if not decay:
            return 1.0
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def warmup_steps(train: TrainConfig, total_steps: int) -> int:
    """Steps of linear warm-up: ``warmup_epochs`` worth of the run's ``total_steps``."""
    return round(total_steps * train.warmup_epochs / train.epochs)

"""How training follows ``train.objective`` (the names: ``nightscan_edge.objective``): its loss, the activation of
its scores and how a clip's windows combine -- one softmax over the classes (``single_label``) or one sigmoid per
class (``multilabel``).

Multi-label training is what a soundscape needs: an owl and a frog chorus in the same seconds are two positives,
and a window where nothing calls is an all-zero target, so no ``background`` class is needed. Its loss is binary
cross-entropy per class with ``pos_weight`` = negatives / positives from the training counts (a rare species' few
positives weigh as much as its many negatives), or the sigmoid focal loss (Lin et al., "Focal Loss for Dense Object
Detection", ICCV 2017), which down-weights the many easy negatives instead. A clip's score for a class is the
highest of its windows' (a species calling in one window of a clip is present in the clip), where a softmax model
averages its windows' distributions.
"""

from __future__ import annotations

from typing import cast

import torch
from torch.nn import functional as F
from torchvision.ops import sigmoid_focal_loss

from nightscan_edge.config import Config
from nightscan_edge.objective import MULTILABEL

FOCAL_GAMMA = 2.0  # Lin et al.'s default: easy examples (p_t 0.9) weigh 100 x less than with plain BCE
FOCAL_ALPHA = 0.25


class TrainingObjective:
    """The single-label softmax objective; ``MultiLabelTraining`` overrides each step."""

    multilabel = False

    def __init__(self, config: Config) -> None:
        self.config = config

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        """``weights``: class weights (CE) or positive weights (BCE), on the logits' device; used when
        ``data.class_weights`` is on."""
        return F.cross_entropy(
            logits,
            targets,
            weight=weights if self.config.data.class_weights else None,
            label_smoothing=self.config.train.label_smoothing,
        )

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.float(), dim=1)

    def clip_scores(self, probabilities: torch.Tensor, owner: torch.Tensor, clips: int) -> torch.Tensor:
        """Each clip's score from its windows' (owner = the clip of each window): the mean distribution."""
        summed = torch.zeros(clips, probabilities.shape[1], device=probabilities.device).index_add_(
            0, owner, probabilities
        )
        counts = torch.bincount(owner, minlength=clips).clamp(min=1).unsqueeze(1)
        return summed / counts

    def clip_loss(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The validation loss on clip scores (probabilities, not logits)."""
        return F.nll_loss(torch.log(scores.clamp(min=1e-8)), targets)

    def correct(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Right answers in the batch (a float on the device): top-1 hits."""
        return (logits.argmax(1) == targets).sum().float()


class MultiLabelTraining(TrainingObjective):
    multilabel = True

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        targets = targets.to(logits.dtype)
        if self.config.train.multilabel_loss == "focal":
            return cast(
                torch.Tensor,
                sigmoid_focal_loss(logits, targets, alpha=FOCAL_ALPHA, gamma=FOCAL_GAMMA, reduction="mean"),
            )
        positive = weights if self.config.data.class_weights else None
        return F.binary_cross_entropy_with_logits(logits, targets, pos_weight=positive)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits.float())

    def clip_scores(self, probabilities: torch.Tensor, owner: torch.Tensor, clips: int) -> torch.Tensor:
        """Each clip's score per class: the highest of its windows'."""
        index = owner.unsqueeze(1).expand_as(probabilities)
        start = torch.zeros(clips, probabilities.shape[1], device=probabilities.device)
        return start.scatter_reduce(0, index, probabilities, reduce="amax", include_self=False)

    def clip_loss(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy(scores.clamp(1e-7, 1 - 1e-7), targets.float())

    def correct(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Per clip the share of its classes decided right at 0.5, summed (the train_acc of a multi-label run)."""
        return ((logits >= 0).float() == targets).float().mean(dim=1).sum()


def training_objective(config: Config) -> TrainingObjective:
    return (MultiLabelTraining if config.train.objective == MULTILABEL else TrainingObjective)(config)

"""The distillation loss every teacher shares (Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural
Network", 2015).

A multi-label student learns each class's sigmoid as its own soft target: binary cross-entropy between the
student's and the teacher's ``sigmoid(logit / T)`` per class (the KL divergence of two Bernoulli distributions up
to the teacher's constant entropy), so a window where the teacher hears an owl *and* a frog teaches both -- a
softmax target would split one unit of probability between them."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def soft_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float, multilabel: bool = False
) -> torch.Tensor:
    """``T^2 * KL(softmax(teacher/T) || softmax(student/T))``, batch mean; ``T^2`` keeps gradients comparable
    across temperatures. ``multilabel``: ``T^2 * BCE(sigmoid(student/T), sigmoid(teacher/T))``, mean over
    windows and classes (the scale of the hard BCE it is blended with)."""
    t = temperature
    if multilabel:
        soft_targets = torch.sigmoid(teacher_logits.float() / t)
        return F.binary_cross_entropy_with_logits(student_logits.float() / t, soft_targets) * (t * t)
    kl = F.kl_div(
        F.log_softmax(student_logits / t, dim=1),
        F.log_softmax(teacher_logits / t, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    return kl * (t * t)


def blend_with_teacher(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    hard_loss: torch.Tensor,
    temperature: float,
    alpha: float,
    multilabel: bool = False,
) -> torch.Tensor:
    """``alpha * soft + (1 - alpha) * hard``: the blend every teacher trains its student with."""
    return alpha * soft_loss(student_logits, teacher_logits, temperature, multilabel) + (1 - alpha) * hard_loss

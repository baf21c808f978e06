"""The distillation loss every teacher shares (Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural
Network", 2015)."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def soft_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * KL(softmax(teacher/T) || softmax(student/T))``, batch mean; ``T^2`` keeps gradients comparable
    across temperatures."""
    t = temperature
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
) -> torch.Tensor:
    """``alpha * soft + (1 - alpha) * hard``: the blend every teacher trains its student with."""
    return alpha * soft_loss(student_logits, teacher_logits, temperature) + (1 - alpha) * hard_loss

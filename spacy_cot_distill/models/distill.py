"""The distillation loss of conditional prompt distillation, over any [N, C] logits."""
from typing import Optional

import torch
import torch.nn.functional as F


def distillation_loss(
    teacher_logits: Optional[torch.Tensor],
    student_logits: torch.Tensor,
    gold: torch.Tensor,
    mask: torch.Tensor,
    alpha: float,
    temperature: float,
) -> torch.Tensor:
    """L = a*(CE_t + CE_s) + (1-a)*T^2*KL(P_t.detach() || P_s), averaged over the rows in `mask`.

    Rows whose mask is 0 (no gold label, e.g. a misaligned token) count in no
    term. Without teacher logits the loss is the student's cross-entropy alone.
    """
    mask = mask.bool()
    if not bool(mask.any()):
        return student_logits.sum() * 0.0
    student = student_logits[mask]
    gold = gold[mask]
    if teacher_logits is None:
        return F.cross_entropy(student, gold)
    teacher = teacher_logits[mask]
    ce = F.cross_entropy(teacher, gold) + F.cross_entropy(student, gold)
    kl = F.kl_div(
        F.log_softmax(student / temperature, dim=-1),
        F.log_softmax(teacher.detach() / temperature, dim=-1),
        log_target=True,
        reduction="batchmean",
    )
    return alpha * ce + (1 - alpha) * temperature**2 * kl

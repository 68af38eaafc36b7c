"""The distillation loss of conditional prompt distillation, over any [N, C] logits."""
from typing import Optional

import torch
import torch.nn.functional as F


def teacher_log_probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """The teacher's per-row distribution that the KL term targets: log softmax(logits / T)."""
    return F.log_softmax(logits / temperature, dim=-1)


def distillation_loss(
    teacher_logits: Optional[torch.Tensor],
    student_logits: torch.Tensor,
    gold: torch.Tensor,
    mask: torch.Tensor,
    alpha: float,
    temperature: float,
    stored: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """L = a*(CE_t + CE_s) + (1-a)*T^2*KL(P_t.detach() || P_s), averaged over the rows in `mask`.

    Rows whose mask is 0 (no gold label, e.g. a misaligned token) count in no
    term. `stored`, in place of teacher logits, is the teacher's log P_t at T per
    row, made earlier (two-stage distillation, `cot-distill teach`):
    L = a*CE_s + (1-a)*T^2*KL(P_stored || P_s). With neither, the loss is the
    student's cross-entropy alone.
    """
    mask = mask.bool()
    if not bool(mask.any()):
        return student_logits.sum() * 0.0
    student = student_logits[mask]
    gold = gold[mask]
    ce = F.cross_entropy(student, gold)
    if teacher_logits is not None:
        ce = ce + F.cross_entropy(teacher_logits[mask], gold)
        target = teacher_log_probs(teacher_logits[mask].detach(), temperature)
    elif stored is not None:
        target = stored[mask]
    else:
        return ce
    kl = F.kl_div(teacher_log_probs(student, temperature), target, log_target=True, reduction="batchmean")
    return alpha * ce + (1 - alpha) * temperature**2 * kl

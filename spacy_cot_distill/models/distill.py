"""The distillation loss of conditional prompt distillation, over any [N, C] logits."""
from typing import Optional, Tuple

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
    distilled: Optional[torch.Tensor] = None,
    weights: Tuple[float, float] = (1.0, 1.0),
) -> torch.Tensor:
    """L = a*(CE_t + CE_s) + (1-a)*T^2*KL(P_t.detach() || P_s): the CEs averaged over the rows in `mask` (those
    with a gold label), the KL over the rows in `distilled` (default: `mask`).

    A row in neither (e.g. a misaligned token) counts in no term; a row in
    `distilled` only (a token of a doc without gold annotation) trains the
    student through the KL term alone, so a batch without gold rows still
    learns from the teacher. `stored`, in place of teacher logits, is the
    teacher's log P_t at T per row, made earlier (two-stage distillation,
    `cot-distill teach`): L = a*CE_s + (1-a)*T^2*KL(P_stored || P_s). With
    neither, the loss is the student's cross-entropy alone. `weights` scale the
    CE and the KL term apart: a chunk's shares of its batch's gold and distilled rows.
    """
    mask = mask.bool()
    distilled = mask if distilled is None else distilled.bool()
    target = None
    if teacher_logits is not None and bool(distilled.any()):
        target = teacher_log_probs(teacher_logits[distilled].detach(), temperature)
    elif stored is not None and bool(distilled.any()):
        target = stored[distilled]
    ce = None
    if bool(mask.any()):
        ce = F.cross_entropy(student_logits[mask], gold[mask])
        if teacher_logits is not None:
            ce = ce + F.cross_entropy(teacher_logits[mask], gold[mask])
    kl = None
    if target is not None:
        kl = F.kl_div(teacher_log_probs(student_logits[distilled], temperature), target, log_target=True,
                      reduction="batchmean")
    return combine_terms(ce, kl, alpha, temperature, weights, student_logits)


def combine_terms(
    ce: Optional[torch.Tensor],
    kl: Optional[torch.Tensor],
    alpha: float,
    temperature: float,
    weights: Tuple[float, float],
    like: torch.Tensor,
) -> torch.Tensor:
    """alpha * CE * weights[0] + (1 - alpha) * T^2 * KL * weights[1], a missing term left out; with neither, a zero
    that keeps `like`'s graph. Equal weights scale the sum, in the order of the loss before unlabelled docs
    existed, so that batches of gold docs give bit-identical losses and gradients to that code."""
    if kl is None:
        return like.sum() * 0.0 if ce is None else ce * weights[0]
    kl_term = (1 - alpha) * temperature**2 * kl
    if ce is None:
        return kl_term * weights[1]
    if weights[0] == weights[1]:
        return (alpha * ce + kl_term) * weights[0]
    return alpha * ce * weights[0] + kl_term * weights[1]

"""A linear-chain CRF over BIO tags: learnt transitions, invalid BIO transitions forbidden, batched in torch.

Every recursion runs over the positions of a padded batch [B, L, n_tags], all
docs at once; `mask` [B, L] marks the real tokens (a doc's tokens come first).
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .bio import bio_tags, start_scores, transition_scores
from .distill import combine_terms

# the score of a forbidden transition in the sums: exp() of it is 0 in float32, and it stays finite so that
# a gold path through it (never made by `cot_ner`'s targets) would give a large loss, not NaN gradients
FORBIDDEN = -1e4
# Adam moves a parameter by about the learning rate per step: right for the encoder (1e-4), but it would leave
# the transitions near 0 for hundreds of steps. The CRF's scores are stored divided by this, so they learn
# this much faster (the usual BERT-CRF practice of a ~100x learning rate for the CRF, within one optimizer).
SCORE_SCALE = 100.0


class LinearChainCRF(nn.Module):
    """Transition [from, to], start and end scores, learnt; O -> I-X, B-X/I-X -> I-Y and start -> I-X stay forbidden.

    The tags are `bio_tags` order (O, then B-/I- per label), so n_tags alone gives the BIO structure.
    """

    allowed: torch.Tensor  # [from, to] bool, a buffer
    allowed_start: torch.Tensor  # [to] bool, a buffer

    def __init__(self, n_tags: int):
        super().__init__()
        tags = bio_tags([str(i) for i in range((n_tags - 1) // 2)])
        if len(tags) != n_tags:
            raise ValueError(f"a BIO CRF needs 1 + 2 * n_labels tags, not {n_tags}")
        self.transitions = nn.Parameter(torch.zeros(n_tags, n_tags))
        self.start = nn.Parameter(torch.zeros(n_tags))
        self.end = nn.Parameter(torch.zeros(n_tags))
        # buffers, not parameters: the optimizer never touches them, and they travel in the state dict
        self.register_buffer("allowed", torch.from_numpy(transition_scores(tags) == 0))
        self.register_buffer("allowed_start", torch.from_numpy(start_scores(tags) == 0))

    def scores(self, fill: float = FORBIDDEN, temperature: float = 1.0) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(transitions, start, end) with the forbidden entries set to `fill`, whatever was learnt there."""
        scale = SCORE_SCALE / temperature
        transitions = (self.transitions * scale).masked_fill(~self.allowed, fill)
        start = (self.start * scale).masked_fill(~self.allowed_start, fill)
        return transitions, start, self.end * scale

    def _forward_scores(self, emissions: torch.Tensor, mask: torch.Tensor, temperature: float = 1.0) -> List[torch.Tensor]:
        """log alpha per position: the scores of all paths ending in each tag there (kept as is past a doc's end)."""
        transitions, start, _ = self.scores(temperature=temperature)
        alpha = start + emissions[:, 0]
        alphas = [alpha]
        for t in range(1, emissions.shape[1]):
            step = torch.logsumexp(alpha.unsqueeze(2) + transitions, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t, None], step, alpha)
            alphas.append(alpha)
        return alphas

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log Z per doc [B]: the log-sum of the scores of every tag path."""
        alpha = self._forward_scores(emissions, mask)[-1]
        return torch.logsumexp(alpha + self.scores()[2], dim=-1)

    def nll(self, emissions: torch.Tensor, gold: torch.Tensor, known: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """-log P(gold) per doc [B]; a token whose gold is not `known` is marginalised over (any tag fits there)."""
        fits = F.one_hot(gold, emissions.shape[-1]).bool() | ~known.unsqueeze(-1)
        gold_paths = self.log_partition(emissions.masked_fill(~fits, FORBIDDEN), mask)
        return self.log_partition(emissions, mask) - gold_paths

    def log_marginals(self, emissions: torch.Tensor, mask: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """log P(tag at position) [B, L, n_tags] by forward-backward, for the CRF at `temperature`."""
        emissions = emissions / temperature
        transitions, _, end = self.scores(temperature=temperature)
        alphas = self._forward_scores(emissions, mask, temperature)
        beta = end.expand_as(alphas[0])
        betas = [beta]
        for t in range(emissions.shape[1] - 2, -1, -1):
            step = torch.logsumexp(transitions + (emissions[:, t + 1] + beta).unsqueeze(1), dim=2)
            beta = torch.where(mask[:, t + 1, None], step, beta)
            betas.append(beta)
        scores = torch.stack(alphas, dim=1) + torch.stack(betas[::-1], dim=1)
        return scores - torch.logsumexp(alphas[-1] + end, dim=-1)[:, None, None]

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> List[List[int]]:
        """The best tag path of each doc (Viterbi); forbidden transitions are -inf, so it is always valid BIO."""
        transitions, start, end = self.scores(fill=float("-inf"))
        score = start + emissions[:, 0]
        n_tags = emissions.shape[-1]
        stay = torch.arange(n_tags, device=emissions.device).expand_as(score)
        backpointers = []
        for t in range(1, emissions.shape[1]):
            best, previous = (score.unsqueeze(2) + transitions).max(dim=1)
            score = torch.where(mask[:, t, None], best + emissions[:, t], score)
            backpointers.append(torch.where(mask[:, t, None], previous, stay))  # past the end: stay put
        tag = (score + end).argmax(dim=-1)
        path = [tag]
        for previous in reversed(backpointers):
            tag = previous.gather(1, tag.unsqueeze(1)).squeeze(1)
            path.append(tag)
        tags = torch.stack(path[::-1], dim=1).tolist()
        lengths = mask.sum(dim=1).tolist()
        return [row[:length] for row, length in zip(tags, lengths)]


def pad_rows(flat: torch.Tensor, lengths: Sequence[int], value: float = 0) -> torch.Tensor:
    """[sum(lengths), ...] -> [len(lengths), max(lengths), ...], padded with `value`."""
    rows = list(torch.split(flat, list(lengths)))
    return nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=value)


def length_mask(lengths: Sequence[int], device: Optional[torch.device] = None) -> torch.Tensor:
    """[B, max(lengths)] True on each row's first `length` positions."""
    sizes = torch.tensor(list(lengths), device=device)
    return torch.arange(int(sizes.max()), device=device)[None, :] < sizes[:, None]


def crf_distillation_loss(
    crf: LinearChainCRF,
    teacher_emissions: Optional[torch.Tensor],
    student_emissions: torch.Tensor,
    gold: torch.Tensor,
    known: torch.Tensor,
    lengths: Sequence[int],
    alpha: float,
    temperature: float,
    stored: Optional[torch.Tensor] = None,
    distilled: Optional[torch.Tensor] = None,
    weights: Tuple[float, float] = (1.0, 1.0),
) -> torch.Tensor:
    """`distillation_loss` for a CRF head: a*(NLL_t + NLL_s) + (1-a)*T^2*KL(marginals_t.detach() || marginals_s).

    The flat [n_tokens, n_tags] emissions split into docs of `lengths` tokens. The
    NLLs are summed over docs and divided by the tokens with a known gold tag, the
    KL (per token, over the CRF's forward-backward marginals at temperature T) is
    averaged over the tokens in `distilled` (default: the known ones; a doc
    without gold annotation has all its tokens there and learns through the KL
    alone): the same per-token scale as the softmax head's cross-entropy.
    `stored`, in place of teacher emissions, is the teacher's log marginals at T
    per token [n_tokens, n_tags], made earlier (`cot-distill teach`):
    a*NLL_s + (1-a)*T^2*KL(stored || marginals_s). With neither, the loss is the
    student's NLL alone. `weights` scale the NLL and the KL term apart (see `combine_terms`).
    """
    known = known.bool()
    distilled = known if distilled is None else distilled.bool()
    n_known = int(known.sum())
    mask = length_mask(lengths, student_emissions.device)
    gold_rows, known_rows = pad_rows(gold, lengths), pad_rows(known, lengths, False)
    distilled_rows = pad_rows(distilled, lengths, False)
    student = pad_rows(student_emissions, lengths)
    nll: Optional[torch.Tensor] = None
    if n_known:
        nll = crf.nll(student, gold_rows, known_rows, mask).sum() / n_known
    # The KL compares marginals, not the softmax of the emissions: under a CRF the emissions are not the model's
    # per-token belief (the transitions carry part of it, e.g. I-PER after B-PER), so a softmax over them is a
    # distribution the model never predicts, and T would soften the emissions but not the transitions. The
    # marginals are the CRF's own P(tag | doc) per token, the analogue of the softmax head's distribution, at
    # temperature T (every score / T); one forward-backward per view costs little next to the encoder.
    target = None
    if teacher_emissions is not None:
        teacher = pad_rows(teacher_emissions, lengths)
        if nll is not None:
            nll = crf.nll(teacher, gold_rows, known_rows, mask).sum() / n_known + nll
        # the teacher's marginals are a target: detach them (the CRF's transitions, shared, learn from the NLLs and
        # from the student's side of the KL)
        if bool(distilled.any()):
            with torch.no_grad():
                target = crf.log_marginals(teacher, mask, temperature)[distilled_rows]
    elif stored is not None and bool(distilled.any()):
        target = stored[distilled]  # flat: the order in which [distilled_rows] reads the padded rows
    kl = None
    if target is not None:
        guess = crf.log_marginals(student, mask, temperature)[distilled_rows]
        kl = F.kl_div(guess, target, log_target=True, reduction="batchmean")
    return combine_terms(nll, kl, alpha, temperature, weights, student_emissions)

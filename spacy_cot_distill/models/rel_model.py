"""The relation network: a (prompted) encoder over marked text, the two start markers' vectors, a linear head."""
from typing import Any, List, Sequence

import torch
from spacy.util import registry
from thinc.api import Model
from torch import nn

from .encoder import EncoderModel
from .prompt_generator import PromptedEncoder
from .views import ViewBatch

MARKERS = ("[E1]", "[/E1]", "[E2]", "[/E2]")


class RelModule(nn.Module):
    """Label logits per candidate pair for each view of a batch; both views share every weight."""

    def __init__(self, encoder: Any, tokenizer: Any, nO: int, m: int, n_heads: int, dropout: float):
        super().__init__()
        self.tokenizer = tokenizer
        self.nO = nO
        self.text_encoder = PromptedEncoder(encoder, m, n_heads)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(2 * self.text_encoder.width, nO)

    @property
    def encoder(self) -> Any:
        return self.text_encoder.encoder

    def forward(self, inputs: "RelInputs") -> List[torch.Tensor]:
        """Logits [n_pairs, nO] per view."""
        return [self._view_logits(view, inputs.heads, inputs.tails) for view in inputs.views]

    def _view_logits(self, view: ViewBatch, heads: torch.Tensor, tails: torch.Tensor) -> torch.Tensor:
        hidden = self.text_encoder(view.input_ids, view.attention_mask, view.prompted)
        hidden = hidden.reshape(-1, hidden.shape[-1])
        # pooling "first": word i's vector sits at piece_index[i]
        pairs = torch.cat([hidden[view.piece_index[heads]], hidden[view.piece_index[tails]]], dim=-1)
        return self.output(self.dropout(pairs))


class RelInputs:
    """The views of a batch of pairs (student, and teacher when distilling) and each pair's start-marker words."""

    def __init__(self, views: List[ViewBatch], heads: Sequence[int], tails: Sequence[int]):
        self.views = views
        self.heads = torch.as_tensor(heads, dtype=torch.long)
        self.tails = torch.as_tensor(tails, dtype=torch.long)

    def to(self, device: torch.device) -> "RelInputs":
        return RelInputs([view.to(device) for view in self.views], self.heads.to(device), self.tails.to(device))


@registry.architectures("spacy_cot_distill.CotRelModel.v1")
def build_cot_rel_model(
    encoder: str,
    m: int = 8,
    n_heads: int = 4,
    dropout: float = 0.1,
    markers: List[str] = list(MARKERS),
) -> Model:
    """An encoder (hub name or local directory) with head/tail marker tokens, `m` soft prompts and a pair classifier."""
    if len(markers) != 4 or len(set(markers)) != 4:
        raise ValueError(f"markers must be 4 distinct tokens (head start, head end, tail start, tail end), not {markers}")

    def build(hf_encoder: Any, tokenizer: Any, nO: int) -> RelModule:
        return RelModule(hf_encoder, tokenizer, nO, m, n_heads, dropout)

    model = EncoderModel("cot_rel_model", encoder, build, special_tokens=markers)
    model.attrs.update({"m": m, "markers": list(markers)})
    return model

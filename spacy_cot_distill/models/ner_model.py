"""The NER network: word vectors from a (prompted) encoder, casing features, a BIO head."""
from typing import Any, List

import torch
from spacy.util import registry
from thinc.api import Model
from torch import nn

from .encoder import EncoderModel
from .prompt_generator import PromptedEncoder
from .views import ViewBatch


class NerModule(nn.Module):
    """Per-word BIO logits for each view of a batch; both views share every weight."""

    def __init__(
        self,
        encoder: Any,
        tokenizer: Any,
        nO: int,
        m: int,
        n_heads: int,
        shape_buckets: int,
        shape_width: int,
        dropout: float,
    ):
        super().__init__()
        self.tokenizer = tokenizer
        self.nO = nO
        self.text_encoder = PromptedEncoder(encoder, m, n_heads)
        self.shape_buckets = shape_buckets
        # the encoders at hand are uncased: the word's spaCy shape gives casing back
        self.shape_embedding = nn.Embedding(shape_buckets, shape_width)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(self.text_encoder.width + shape_width, nO)

    @property
    def encoder(self) -> Any:
        return self.text_encoder.encoder

    def forward(self, inputs: "NerInputs") -> List[torch.Tensor]:
        """Logits [n_words, nO] per view."""
        shapes = self.shape_embedding(inputs.shape_ids)
        return [self._view_logits(view, shapes) for view in inputs.views]

    def _view_logits(self, view: ViewBatch, shapes: torch.Tensor) -> torch.Tensor:
        hidden = self.text_encoder(view.input_ids, view.attention_mask, view.prompted)
        hidden = hidden.reshape(-1, hidden.shape[-1])
        words = hidden.new_zeros((view.n_words, hidden.shape[-1]))
        words.index_add_(0, view.piece_word, hidden[view.piece_index])
        counts = torch.bincount(view.piece_word, minlength=view.n_words).clamp(min=1)
        words = words / counts.unsqueeze(-1).to(words.dtype)
        return self.output(self.dropout(torch.cat([words, shapes], dim=-1)))


class NerInputs:
    """The views of a batch (student, and teacher when training with distillation) and word shapes."""

    def __init__(self, views: List[ViewBatch], shape_ids: torch.Tensor):
        self.views = views
        self.shape_ids = shape_ids

    def to(self, device: torch.device) -> "NerInputs":
        return NerInputs([view.to(device) for view in self.views], self.shape_ids.to(device))


@registry.architectures("spacy_cot_distill.CotNerModel.v1")
def build_cot_ner_model(
    encoder: str,
    m: int = 8,
    pooling: str = "first",
    n_heads: int = 4,
    shape_buckets: int = 256,
    shape_width: int = 16,
    dropout: float = 0.1,
) -> Model:
    """An encoder (hub name or local directory), a prompt generator of `m` prompts and a BIO head."""
    if pooling not in ("first", "mean"):
        raise ValueError(f"pooling must be 'first' or 'mean', not {pooling!r}")

    def build(hf_encoder: Any, tokenizer: Any, nO: int) -> NerModule:
        return NerModule(hf_encoder, tokenizer, nO, m, n_heads, shape_buckets, shape_width, dropout)

    model = EncoderModel("cot_ner_model", encoder, build)
    model.attrs.update({"m": m, "pooling": pooling, "shape_buckets": shape_buckets})
    return model

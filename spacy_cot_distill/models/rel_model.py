"""The relation network: a (prompted) encoder over marked text, the two start markers' vectors, a linear head."""
from typing import Any, List, Optional, Sequence

import torch
from spacy.util import registry
from thinc.api import Model
from torch import nn

from .encoder import EncoderModel
from .pair_views import build_pair_view
from .prompt_generator import PromptedEncoder
from .views import DocViews, PieceCache, ViewBatch, encoder_length

MARKERS = ("[E1]", "[/E1]", "[E2]", "[/E2]")


class RelModule(nn.Module):
    """Label logits per candidate pair for each view of a batch; both views share every weight."""

    def __init__(
        self, encoder: Any, tokenizer: Any, nO: int, m: int, n_heads: int, dropout: float, markers: Sequence[str]
    ):
        super().__init__()
        self.tokenizer = tokenizer
        self.pieces = PieceCache(tokenizer)
        self.nO = nO
        self.markers = list(markers)
        self.text_encoder = PromptedEncoder(encoder, m, n_heads)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(2 * self.text_encoder.width, nO)

    @property
    def encoder(self) -> Any:
        return self.text_encoder.encoder

    def featurize(self, batch: DocViews) -> "RelInputs":
        """The student view (prompts + marked text) and/or the teacher view (marked text + knowledge), one row per pair."""
        if batch.pairs is None:
            raise ValueError(f"{type(self).__name__} reads one (head, tail) pair per row: DocViews.pairs is None")
        tokenizer, m, max_length = self.tokenizer, self.text_encoder.m, batch.max_length
        markers = tuple(tokenizer.convert_tokens_to_ids(self.markers))
        budget = max_length - m - 2  # the student's room for text; the teacher reads the same marked text
        pieces = batch.pieces
        for doc in batch.docs:
            if id(doc) not in pieces:
                pieces[id(doc)] = self.pieces.words([token.text for token in doc])
        views: List[ViewBatch] = []
        heads: List[int] = []
        tails: List[int] = []
        if batch.student:
            rows = [(pieces[id(doc)], head, tail, None) for doc, (head, tail) in zip(batch.docs, batch.pairs)]
            view, heads, tails = build_pair_view(tokenizer, rows, markers, max_length - m, budget, True)
            views.append(view)
        if batch.knowledge is not None:
            teacher_length = encoder_length(self.encoder, batch.teacher_length)
            taught = [
                (pieces[id(doc)], head, tail, self.pieces.knowledge(segments, batch.segment_max_length))
                for doc, segments, (head, tail) in zip(batch.docs, batch.knowledge, batch.pairs)
            ]
            view, heads, tails = build_pair_view(tokenizer, taught, markers, teacher_length, budget, False)
            views.append(view)
        return RelInputs(views, heads, tails)

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

    def __init__(self, views: List[ViewBatch], heads: Sequence[int] | torch.Tensor, tails: Sequence[int] | torch.Tensor):
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
    quantize: Optional[str] = None,
) -> Model:
    """Label logits per candidate pair from a prompted encoder over the marked text, for `cot_rel`.

    encoder (str): A Hugging Face hub name or local model directory, read once at initialize and stored in the pipeline.
    m (int): The number of soft prompts the conditional prompt generator puts before the student's text.
    n_heads (int): Attention heads of the prompt generator (1 where the encoder width is not divisible by it).
    dropout (float): Dropout rate of the whole network until training sets it (`[training] dropout`).
    markers (List[str]): The 4 tokens added to the encoder's vocabulary: head start, head end, tail start, tail end.
    quantize (Optional[str]): "int8" to quantise the Linear layers dynamically when the trained weights are
        loaded (CPU inference); null loads the weights as saved (fp32, or int8 from `cot-distill quantize`).
        Training runs in fp32 only.
    RETURNS (Model[DocViews, List[torch.Tensor]]): Logits [n_pairs, nO] per view asked for.
    """
    if len(markers) != 4 or len(set(markers)) != 4:
        raise ValueError(f"markers must be 4 distinct tokens (head start, head end, tail start, tail end), not {markers}")

    def build(hf_encoder: Any, tokenizer: Any, nO: int) -> RelModule:
        return RelModule(hf_encoder, tokenizer, nO, m, n_heads, dropout, markers)

    # a student input holds the prompts, [CLS], [SEP] and the 4 markers
    return EncoderModel(
        "cot_rel_model", encoder, build, dropout=dropout, min_length=m + 6, m=m, special_tokens=markers,
        quantize=quantize,
    )

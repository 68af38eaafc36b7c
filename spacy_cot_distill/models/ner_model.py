"""The NER network: word vectors from a (prompted) encoder, casing features, a BIO head (softmax or CRF)."""
from typing import Any, List, Optional

import torch
from spacy.util import registry
from thinc.api import Model
from torch import nn

from .crf import LinearChainCRF
from .encoder import EncoderModel, torch_module
from .prompt_generator import PromptedEncoder
from .views import DocViews, PieceCache, ViewBatch, build_view, encoder_length, windows


HEADS = ("softmax", "crf")


class NerModule(nn.Module):
    """Per-word BIO logits (a CRF's emission scores with the "crf" head) for each view; both views share every weight."""

    def __init__(
        self,
        encoder: Any,
        tokenizer: Any,
        nO: int,
        m: int,
        pooling: str,
        n_heads: int,
        shape_buckets: int,
        shape_width: int,
        dropout: float,
        bucket_rows: int = 0,
        head: str = "softmax",
    ):
        super().__init__()
        self.tokenizer = tokenizer
        self.pieces = PieceCache(tokenizer)
        self.nO = nO
        self.pooling = pooling
        self.text_encoder = PromptedEncoder(encoder, m, n_heads, bucket_rows)
        self.shape_buckets = shape_buckets
        # the encoders at hand are uncased: the word's spaCy shape gives casing back
        self.shape_embedding = nn.Embedding(shape_buckets, shape_width)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(self.text_encoder.width + shape_width, nO)
        # the pipe reads the CRF's scores in its loss and its decoding; they are saved with the other weights
        self.crf: Optional[LinearChainCRF] = LinearChainCRF(nO) if head == "crf" else None

    @property
    def encoder(self) -> Any:
        return self.text_encoder.encoder

    def featurize(self, batch: DocViews) -> "NerInputs":
        """The student view (prompts + text) and/or the teacher view (text + knowledge) of the docs, and word shapes."""
        tokenizer, m, max_length = self.tokenizer, self.text_encoder.m, batch.max_length
        # the student's room for text; the teacher reads the same windows, each followed by the doc's knowledge
        budget = max_length - m - 2
        all_pieces = self.pieces.texts([[token.text for token in doc] for doc in batch.docs])
        texts = [(pieces, windows(pieces, budget)) for pieces in all_pieces]
        views = []
        if batch.student:
            student = [(p, w, None) for p, w in texts]
            views.append(build_view(tokenizer, student, max_length - m, budget, True, self.pooling))
        if batch.knowledge is not None:
            teacher_length = encoder_length(self.encoder, batch.teacher_length)
            known = [self.pieces.knowledge(segments, batch.segment_max_length) for segments in batch.knowledge]
            teacher = [(p, w, k) for (p, w), k in zip(texts, known)]
            views.append(build_view(tokenizer, teacher, teacher_length, budget, False, self.pooling))
        shapes = [token.shape % self.shape_buckets for doc in batch.docs for token in doc]
        return NerInputs(views, torch.tensor(shapes, dtype=torch.long))

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
    bucket_rows: int = 16,
    quantize: Optional[str] = None,
    head: str = "softmax",
) -> Model:
    """Per-token BIO logits from a prompted encoder, for `cot_ner`.

    encoder (str): A Hugging Face hub name or local model directory, read once at initialize and stored in the pipeline.
    m (int): The number of soft prompts the conditional prompt generator puts before the student's text.
    pooling (str): A word's vector from its "first" sub-token or the "mean" of them.
    n_heads (int): Attention heads of the prompt generator (1 where the encoder width is not divisible by it).
    shape_buckets (int): Hash buckets of spaCy's token shape, the casing feature the uncased encoders lack.
    shape_width (int): Width of the shape embedding.
    dropout (float): Dropout rate of the whole network until training sets it (`[training] dropout`).
    bucket_rows (int): Encode a view of more rows in length-sorted groups of this many, each padded to its own
        longest row (0: the whole view at once). The same output for less padding.
    quantize (Optional[str]): "int8" to turn the Linear layers into `Int8Linear` (per-channel int8 weights,
        per-token int8 activations) when the trained weights are loaded (CPU inference; e.g. `spacy.load(path,
        config={"components": {"cot_ner": {"model": {"quantize": "int8"}}}})`); null loads the weights as saved
        (fp32, or int8 from `cot-distill quantize`). Training runs in fp32 only.
    head (str): "softmax": per-token BIO softmax, BIO-constrained Viterbi at inference; "crf": a linear-chain CRF
        with learnt transition, start and end scores (invalid BIO transitions forbidden), trained by its likelihood.
    RETURNS (Model[DocViews, List[torch.Tensor]]): Logits [n_tokens, nO] per view asked for.
    """
    if pooling not in ("first", "mean"):
        raise ValueError(f"pooling must be 'first' or 'mean', not {pooling!r}")
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, not {head!r}")

    def build(hf_encoder: Any, tokenizer: Any, nO: int) -> NerModule:
        return NerModule(
            hf_encoder, tokenizer, nO, m, pooling, n_heads, shape_buckets, shape_width, dropout, bucket_rows, head
        )

    # a student input holds the prompts, [CLS], [SEP] and at least one sub-token
    model = EncoderModel("cot_ner_model", encoder, build, dropout=dropout, min_length=m + 4, m=m, quantize=quantize)
    model.attrs["head"] = head
    return model


def crf_of(model: Model) -> Optional[LinearChainCRF]:
    """The CRF of a `CotNerModel` with the "crf" head, whose scores the pipe's loss and decoding read (None: softmax).

    The torch module is reached here, beside the model that builds it, and
    nowhere in the pipe: the CRF is saved and loaded with the other weights.
    """
    return torch_module(model).crf if model.attrs.get("head") == "crf" else None

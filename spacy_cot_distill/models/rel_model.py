"""The relation network: a (prompted) encoder over marked text, the two start markers' vectors, a linear head.

Two encodings of the candidate pairs (`encoding`): "per_sentence" reads each
window of a doc once for all its pairs, every mention marked once with
plain-text markers (`mention_views.py`); "per_pair" reads each pair as its own
sequence, its head and tail marked with four added tokens (`pair_views.py`).
"""
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from torch import nn

from .encoder import EncoderModel
from .mention_views import DocLayout, Pair, Span, layout_doc, marker_texts
from .pair_views import build_pair_view
from .prompt_generator import PromptedEncoder
from .views import DocViews, PieceCache, ViewBatch, build_view, encoder_length, remember, word_pieces

MARKERS = ("[E1]", "[/E1]", "[E2]", "[/E2]")
ENCODINGS = ("per_sentence", "per_pair")
# doc layouts kept for the next batches: the pairs of a long doc span several
LAYOUTS = 4096


@dataclass
class RelViews(DocViews):
    """The views of candidate pairs: each row's (head, tail) token spans, and the pairs each doc's windows hold.

    `doc_pairs` gives, by id(doc), every pair of the doc in the call, not only
    the batch's: a doc is laid out in windows from all of them, so that a pair
    reads the same window in any batch; a doc missing there is laid out from
    the batch's pairs.
    """

    pairs: Sequence[Pair] = ()
    doc_pairs: Dict[int, Sequence[Pair]] = field(default_factory=dict)


class RelModule(nn.Module):
    """Label logits per candidate pair for each view of a batch; both views share every weight."""

    def __init__(
        self,
        encoder: Any,
        tokenizer: Any,
        nO: int,
        m: int,
        n_heads: int,
        dropout: float,
        markers: Sequence[str],
        encoding: str,
        bucket_rows: int = 0,
    ):
        super().__init__()
        self.tokenizer = tokenizer
        self.pieces = PieceCache(tokenizer)
        self.nO = nO
        self.encoding = encoding
        self.markers = list(markers)
        if encoding == "per_pair" and tokenizer.unk_token_id in tokenizer.convert_tokens_to_ids(self.markers):
            raise ValueError(
                f"The encoder's tokenizer does not know the markers {self.markers} that encoding = \"per_pair\" reads: "
                "the pipeline was trained with encoding = \"per_sentence\"; load it with that setting"
            )
        self.marker_pieces: Dict[str, List[int]] = {}  # the plain-text markers' sub-tokens, by text
        self.layouts: "OrderedDict[Tuple[Any, ...], DocLayout]" = OrderedDict()  # by what a layout is made of
        self.text_encoder = PromptedEncoder(encoder, m, n_heads, bucket_rows)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(2 * self.text_encoder.width, nO)

    @property
    def encoder(self) -> Any:
        return self.text_encoder.encoder

    def featurize(self, batch: DocViews) -> "RelInputs":
        """The student view (prompts + marked text) and/or the teacher view (marked text + knowledge) of the pairs."""
        if not isinstance(batch, RelViews):
            raise ValueError(f"{type(self).__name__} reads one (head, tail) pair per row: give RelViews, not {type(batch).__name__}")
        if self.encoding == "per_pair":
            return self._pair_inputs(batch)
        return self._window_inputs(batch)

    def _pair_inputs(self, batch: RelViews) -> "RelInputs":
        """One sequence per pair and view, its head and tail marked with the four marker tokens."""
        tokenizer, m, max_length = self.tokenizer, self.text_encoder.m, batch.max_length
        markers = tuple(tokenizer.convert_tokens_to_ids(self.markers))
        budget = max_length - m - 2  # the student's room for text; the teacher reads the same marked text
        docs = {id(doc): doc for doc in batch.docs}
        # the batch's docs in one tokenizer call, as NerModule.featurize reads its docs
        words = dict(zip(docs, self.pieces.texts([[token.text for token in doc] for doc in docs.values()])))
        inputs = RelInputs()
        if batch.student:
            rows = [(words[id(doc)], head, tail, None) for doc, (head, tail) in zip(batch.docs, batch.pairs)]
            inputs.add(*build_pair_view(tokenizer, rows, markers, max_length - m, budget, True))
        if batch.knowledge is not None:
            teacher_length = encoder_length(self.encoder, batch.teacher_length)
            taught = [
                (words[id(doc)], head, tail, self.pieces.knowledge(segments, batch.segment_max_length))
                for doc, segments, (head, tail) in zip(batch.docs, batch.knowledge, batch.pairs)
            ]
            inputs.add(*build_pair_view(tokenizer, taught, markers, teacher_length, budget, False))
        return inputs

    def _window_inputs(self, batch: RelViews) -> "RelInputs":
        """One sequence per window of a doc and view, read by all the batch's pairs in it.

        The teacher reads a window once per distinct knowledge: the doc's
        knowledge is one pass for the window, but pairs that carry their own
        (relation["cot"]) each add one.
        """
        m = self.text_encoder.m
        budget = batch.max_length - m - 2
        in_batch: Dict[int, List[Pair]] = {}
        for doc, pair in zip(batch.docs, batch.pairs):
            in_batch.setdefault(id(doc), []).append(pair)
        layouts: Dict[int, DocLayout] = {}
        for doc in batch.docs:
            if id(doc) not in layouts:
                layouts[id(doc)] = self._layout(doc, batch.doc_pairs.get(id(doc), in_batch[id(doc)]), budget)
        inputs = RelInputs()
        keys: List[Tuple[Any, ...]]
        if batch.student:
            keys = [(id(doc), layouts[id(doc)].rows[pair][0]) for doc, pair in zip(batch.docs, batch.pairs)]
            inputs.add(*self._window_view(batch, layouts, keys, None, batch.max_length - m, budget, True))
        if batch.knowledge is not None:
            known = [tuple(segments) for segments in batch.knowledge]
            keys = [(id(doc), layouts[id(doc)].rows[pair][0], k) for doc, pair, k in zip(batch.docs, batch.pairs, known)]
            teacher_length = encoder_length(self.encoder, batch.teacher_length)
            inputs.add(*self._window_view(batch, layouts, keys, known, teacher_length, budget, False))
        return inputs

    def _layout(self, doc: Doc, pairs: Sequence[Pair], budget: int) -> DocLayout:
        """The doc's windows for its pairs, each mention marked with its entity type where doc.ents has it.

        Kept by what it is made of (words, pairs, types, budget), so that a doc
        whose pairs span batches, or that is read every epoch, is laid out once.
        """
        words = tuple(token.text for token in doc)
        types = {(ent.start, ent.end): ent.label_ for ent in doc.ents}
        key = (words, tuple(pairs), tuple(types.items()), budget)
        layout = self.layouts.get(key)
        if layout is None:

            def markers(span: Span) -> Tuple[List[int], List[int]]:
                start, end = marker_texts(types.get(span, ""))
                return self._marker(start), self._marker(end)

            layout = layout_doc(self.pieces.words(words), pairs, markers, budget)
        remember(self.layouts, key, layout, LAYOUTS)
        return layout

    def _marker(self, text: str) -> List[int]:
        if text not in self.marker_pieces:
            self.marker_pieces[text] = word_pieces(self.tokenizer, [text])[0]
        return self.marker_pieces[text]

    def _window_view(
        self,
        batch: RelViews,
        layouts: Dict[int, DocLayout],
        keys: Sequence[Tuple[Any, ...]],
        knowledge: Optional[Sequence[Tuple[str, ...]]],
        max_length: int,
        budget: int,
        prompted: bool,
    ) -> Tuple[ViewBatch, List[int], List[int]]:
        """One sequence per distinct key (a doc's window, with the knowledge it is read with), and each row's two words."""
        texts: List[Tuple[List[List[int]], List[Tuple[int, int]], Optional[List[int]]]] = []
        offsets: Dict[Tuple[Any, ...], int] = {}  # key -> the number of words before its sequence
        n_words = 0
        heads: List[int] = []
        tails: List[int] = []
        for r, (doc, pair, key) in enumerate(zip(batch.docs, batch.pairs, keys)):
            window, head, tail = layouts[id(doc)].rows[pair]
            if key not in offsets:
                words = layouts[id(doc)].windows[window].words
                ids = None if knowledge is None else self.pieces.knowledge(knowledge[r], batch.segment_max_length)
                texts.append((words, [(0, len(words))], ids))
                offsets[key] = n_words
                n_words += len(words)
            heads.append(offsets[key] + head)
            tails.append(offsets[key] + tail)
        return build_view(self.tokenizer, texts, max_length, budget, prompted, "mean"), heads, tails

    def forward(self, inputs: "RelInputs") -> List[torch.Tensor]:
        """Logits [n_pairs, nO] per view."""
        return [self._view_logits(*view) for view in zip(inputs.views, inputs.heads, inputs.tails)]

    def _view_logits(self, view: ViewBatch, heads: torch.Tensor, tails: torch.Tensor) -> torch.Tensor:
        hidden = self.text_encoder(view.input_ids, view.attention_mask, view.prompted)
        hidden = hidden.reshape(-1, hidden.shape[-1])
        # a marker word's vector: the mean of its sub-tokens (one for the per_pair marker tokens)
        words = hidden.new_zeros((view.n_words, hidden.shape[-1]))
        words.index_add_(0, view.piece_word, hidden[view.piece_index])
        counts = torch.bincount(view.piece_word, minlength=view.n_words).clamp(min=1)
        words = words / counts.unsqueeze(-1).to(words.dtype)
        pairs = torch.cat([words[heads], words[tails]], dim=-1)
        return self.output(self.dropout(pairs))


class RelInputs:
    """The views of a batch of pairs (student, and teacher when distilling), and in each every pair's two marker words."""

    def __init__(
        self,
        views: Optional[List[ViewBatch]] = None,
        heads: Optional[List[torch.Tensor]] = None,
        tails: Optional[List[torch.Tensor]] = None,
    ):
        self.views = views if views is not None else []
        self.heads = heads if heads is not None else []
        self.tails = tails if tails is not None else []

    def add(self, view: ViewBatch, heads: Sequence[int], tails: Sequence[int]) -> None:
        self.views.append(view)
        self.heads.append(torch.as_tensor(heads, dtype=torch.long))
        self.tails.append(torch.as_tensor(tails, dtype=torch.long))

    def to(self, device: torch.device) -> "RelInputs":
        move = lambda tensors: [t.to(device) for t in tensors]  # noqa: E731
        return RelInputs(move(self.views), move(self.heads), move(self.tails))


@registry.architectures("spacy_cot_distill.CotRelModel.v2")
def build_cot_rel_model_v2(
    encoder: str,
    m: int = 8,
    n_heads: int = 4,
    dropout: float = 0.1,
    encoding: str = "per_sentence",
    markers: List[str] = list(MARKERS),
    bucket_rows: int = 16,
    quantize: Optional[str] = None,
) -> Model:
    """Label logits per candidate pair from a prompted encoder over the marked text, for `cot_rel`.

    encoder (str): A Hugging Face hub name or local model directory, read once at initialize and stored in the pipeline.
    m (int): The number of soft prompts the conditional prompt generator puts before the student's text.
    n_heads (int): Attention heads of the prompt generator (1 where the encoder width is not divisible by it).
    dropout (float): Dropout rate of the whole network until training sets it (`[training] dropout`).
    encoding (str): "per_sentence": one encoder sequence per window of a doc (and per view) for all its pairs,
        each mention marked once with plain-text markers (`<PER>` ... `</PER>`, `<E>` ... `</E>` where the type is
        unknown), a pair's vector from its head's and tail's start markers. "per_pair": one sequence per pair,
        its head and tail marked with `markers` (the only encoding of `CotRelModel.v1`).
    markers (List[str]): "per_pair" only: the 4 tokens added to the encoder's vocabulary: head start, head end,
        tail start, tail end.
    bucket_rows (int): Encode a view of more rows in length-sorted groups of this many, each padded to its own
        longest row (0: the whole view at once). The same output for less padding: the teacher's rows vary with
        the knowledge's length.
    quantize (Optional[str]): "int8" to turn the Linear layers into `Int8Linear` (per-channel int8 weights,
        per-token int8 activations) when the trained weights are loaded (CPU inference); null loads the weights
        as saved (fp32, or int8 from `cot-distill quantize`). Training runs in fp32 only.
    RETURNS (Model[RelViews, List[torch.Tensor]]): Logits [n_pairs, nO] per view asked for.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, not {encoding!r}")
    if len(markers) != 4 or len(set(markers)) != 4:
        raise ValueError(f"markers must be 4 distinct tokens (head start, head end, tail start, tail end), not {markers}")

    def build(hf_encoder: Any, tokenizer: Any, nO: int) -> RelModule:
        return RelModule(hf_encoder, tokenizer, nO, m, n_heads, dropout, markers, encoding, bucket_rows)

    # a student input holds the prompts, [CLS], [SEP] and 4 marker words
    return EncoderModel(
        "cot_rel_model", encoder, build, dropout=dropout, min_length=m + 6, m=m,
        special_tokens=markers if encoding == "per_pair" else (), quantize=quantize,
    )


@registry.architectures("spacy_cot_distill.CotRelModel.v1")
def build_cot_rel_model(
    encoder: str,
    m: int = 8,
    n_heads: int = 4,
    dropout: float = 0.1,
    markers: List[str] = list(MARKERS),
    quantize: Optional[str] = None,
) -> Model:
    """`CotRelModel.v2` with `encoding = "per_pair"`: the model of the pipelines saved before v2 (same arguments)."""
    return build_cot_rel_model_v2(
        encoder, m, n_heads, dropout, encoding="per_pair", markers=markers, quantize=quantize
    )

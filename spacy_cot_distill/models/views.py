"""Batches of encoder inputs: texts split into windows, with or without knowledge appended.

Generic over tasks: a "word" is whatever unit a head reads a vector for.
"""
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from spacy.tokens import Doc

Span = Tuple[int, int]


@dataclass
class DocViews:
    """What a distillation model reads: one doc per row and the views to build of them.

    `knowledge` holds the teacher's text segments per row (caption, CoT
    dimensions); None builds no teacher view. The student view holds
    `max_length` sub-tokens, the teacher view `teacher_max_length` (None:
    `max_length`), each knowledge segment cut to `segment_max_length`
    sub-tokens (0: uncut). A task whose rows are more than docs extends it
    (`rel_model.RelViews`); the model only reads it.
    """

    docs: Sequence[Doc]
    max_length: int
    student: bool
    knowledge: Optional[Sequence[Sequence[str]]] = None
    teacher_max_length: Optional[int] = None
    segment_max_length: int = 0

    @property
    def teacher_length(self) -> int:
        return self.teacher_max_length or self.max_length


@dataclass
class ViewBatch:
    """One view of a batch of texts, as padded windows, and where each word's sub-tokens are."""

    input_ids: torch.Tensor  # [B, L]
    attention_mask: torch.Tensor  # [B, L]
    piece_index: torch.Tensor  # [P] flat index into B * L
    piece_word: torch.Tensor  # [P] index of the word each sub-token belongs to
    n_words: int
    prompted: bool

    def to(self, device: torch.device) -> "ViewBatch":
        move = lambda t: t.to(device)  # noqa: E731
        return ViewBatch(
            move(self.input_ids), move(self.attention_mask), move(self.piece_index),
            move(self.piece_word), self.n_words, self.prompted,
        )


def special_ids(tokenizer: Any) -> Tuple[int, int]:
    """The (start, separator) token ids: [CLS]/[SEP] for BERT, <s>/</s> for MPNet or RoBERTa."""
    start = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    sep = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    return start, sep


def encode_texts(tokenizer: Any, texts: Sequence[str]) -> List[List[int]]:
    """Sub-token ids of each text, without special tokens.

    A fast tokenizer's Rust backend is called directly: the same ids, without
    the Python dict that `tokenizer(...)` builds per text (most of the cost for
    many one-word texts).
    """
    if not texts:
        return []
    if getattr(tokenizer, "is_fast", False):
        backend = tokenizer.backend_tokenizer
        # as `tokenizer(...)` does when asked for neither: a saved tokenizer may pad (all-MiniLM-L6-v2's pads
        # every text to 128) or truncate by default
        if backend.padding is not None:
            backend.no_padding()
        if backend.truncation is not None:
            backend.no_truncation()
        return [encoding.ids for encoding in backend.encode_batch(list(texts), add_special_tokens=False)]
    return tokenizer(list(texts), add_special_tokens=False)["input_ids"]


def word_pieces(tokenizer: Any, words: Sequence[str]) -> List[List[int]]:
    """Sub-token ids per word; a word the tokenizer drops entirely (e.g. a control character) becomes [UNK]."""
    return [pieces or [tokenizer.unk_token_id] for pieces in encode_texts(tokenizer, words)]


def windows(pieces: Sequence[Sequence[int]], budget: int) -> List[Tuple[int, int]]:
    """Split words into consecutive [start, end) ranges of at most `budget` sub-tokens each.

    Every word lands in exactly one window; a single word longer than the
    budget gets a window of its own (its sub-tokens are cut in `build_view`).
    """
    spans: List[Tuple[int, int]] = []
    start, used = 0, 0
    for i, word in enumerate(pieces):
        if used and used + len(word) > budget:
            spans.append((start, i))
            start, used = i, 0
        used += len(word)
    if start < len(pieces):
        spans.append((start, len(pieces)))
    return spans


def join_segments(sep: int, segments: Sequence[Sequence[int]], segment_max_length: int = 0) -> List[int]:
    """Segments' ids separated by `sep`, each cut to its first `segment_max_length` ids (0: uncut)."""
    ids: List[int] = []
    for segment in segments:
        if ids:
            ids.append(sep)
        ids.extend(segment[:segment_max_length] if segment_max_length > 0 else segment)
    return ids


def knowledge_ids(tokenizer: Any, segments: Sequence[str], segment_max_length: int = 0) -> List[int]:
    """The knowledge segments (caption, CoT dimensions) as ids, separated by the separator token."""
    return join_segments(special_ids(tokenizer)[1], encode_texts(tokenizer, segments), segment_max_length)


def encoder_length(encoder: Any, length: int) -> int:
    """`length`, or the encoder's number of positions where it has fewer (a teacher view cannot be longer)."""
    positions = getattr(getattr(encoder, "config", None), "max_position_embeddings", None)
    return min(length, positions) if isinstance(positions, int) else length


class PieceCache:
    """Sub-token ids of texts and knowledge segments, tokenised once and kept for the next steps.

    Training reads the same docs every epoch; tokenising a doc's knowledge (a
    few hundred sub-tokens) at every step costs as much as a small forward
    pass. A least-recently-used map of at most `size` entries per kind bounds
    the memory (a Twitter train split needs about 4,000 of each).
    """

    def __init__(self, tokenizer: Any, size: int = 50_000):
        self.tokenizer = tokenizer
        self.size = size
        self._words: "OrderedDict[Tuple[str, ...], List[List[int]]]" = OrderedDict()
        self._segments: "OrderedDict[str, List[int]]" = OrderedDict()

    def words(self, words: Sequence[str]) -> List[List[int]]:
        """`word_pieces` of a text's words, from the cache where seen before."""
        return self.texts([words])[0]

    def texts(self, texts: Sequence[Sequence[str]]) -> List[List[List[int]]]:
        """`word_pieces` of several texts' words; the texts not seen before are tokenised in one call."""
        keys = [tuple(words) for words in texts]
        missing = [key for key in dict.fromkeys(keys) if key not in self._words]
        found = {}
        if missing:
            pieces = word_pieces(self.tokenizer, [word for key in missing for word in key])
            offset = 0
            for key in missing:
                found[key] = pieces[offset : offset + len(key)]
                offset += len(key)
        result = [found[key] if key in found else self._words[key] for key in keys]
        for key, value in zip(keys, result):
            self._put(self._words, key, value)
        return result

    def knowledge(self, segments: Sequence[str], segment_max_length: int = 0) -> List[int]:
        """`knowledge_ids` of the segments, each segment tokenised once."""
        found: Dict[str, List[int]] = {}
        for segment in dict.fromkeys(segments):
            if segment in self._segments:
                self._segments.move_to_end(segment)
                found[segment] = self._segments[segment]
        missing = [segment for segment in dict.fromkeys(segments) if segment not in found]
        if missing:  # one tokenizer call for all the new segments of a doc
            for segment, ids in zip(missing, encode_texts(self.tokenizer, missing)):
                found[segment] = ids
                self._put(self._segments, segment, ids)
        pieces = [found[segment] for segment in segments]
        return join_segments(special_ids(self.tokenizer)[1], pieces, segment_max_length)

    def _put(self, table: "OrderedDict[Any, Any]", key: Any, value: Any) -> None:
        remember(table, key, value, self.size)


def remember(table: "OrderedDict[Any, Any]", key: Any, value: Any, size: int) -> None:
    """Put `value` in a least-recently-used map of at most `size` entries, dropping the least recently used."""
    table[key] = value
    table.move_to_end(key)
    while len(table) > size:
        table.popitem(last=False)


def build_view(
    tokenizer: Any,
    texts: Sequence[Tuple[Sequence[Sequence[int]], Sequence[Tuple[int, int]], Optional[Sequence[int]]]],
    max_length: int,
    budget: int,
    prompted: bool,
    pooling: str,
) -> ViewBatch:
    """Pad the windows of several texts into one batch.

    Each text is (sub-tokens per word, windows of at most `budget` sub-tokens,
    knowledge ids or None). A window reads `start x sep`, plus `knowledge sep`
    cut to whatever room `max_length` leaves: knowledge is truncated, the text
    never is (only a lone word longer than `budget` keeps its first sub-tokens). `pooling` "first" points each
    word at its first sub-token, "mean" at all of them.
    """
    start, sep = special_ids(tokenizer)
    rows: List[List[int]] = []
    positions: List[Tuple[int, int]] = []  # (row, position) of each pooled sub-token
    piece_word: List[int] = []
    word_offset = 0
    for pieces, spans, knowledge in texts:
        for w_start, w_end in spans:
            row = [start]
            for w in range(w_start, w_end):
                word = pieces[w][: max(1, budget)]
                for j in range(len(word) if pooling == "mean" else 1):
                    positions.append((len(rows), len(row) + j))
                    piece_word.append(word_offset + w)
                row.extend(word)
            row.append(sep)
            room = max_length - len(row) - 1
            if knowledge and room > 0:
                row.extend(knowledge[:room])
                row.append(sep)
            rows.append(row)
        word_offset += len(pieces)
    length = max((len(row) for row in rows), default=0)
    input_ids = torch.full((len(rows), length), tokenizer.pad_token_id or 0, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention_mask[i, : len(row)] = 1
    return ViewBatch(
        input_ids=input_ids,
        attention_mask=attention_mask,
        piece_index=torch.tensor([r * length + p for r, p in positions], dtype=torch.long),
        piece_word=torch.tensor(piece_word, dtype=torch.long),
        n_words=word_offset,
        prompted=prompted,
    )

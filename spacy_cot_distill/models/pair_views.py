"""Encoder inputs for relation extraction: a text with its head and tail marked, one row per pair.

Built on `views.build_view`: a marked pair is a "text" whose words are the
doc's words with four marker words inserted, read as a single window, so the
start markers' vectors are the pooled vectors of two words.
"""
from typing import List, Optional, Sequence, Tuple

from .views import ViewBatch, build_view

Span = Tuple[int, int]
# ids of the markers: head start, head end, tail start, tail end
Markers = Tuple[int, int, int, int]


def mark_pair(
    pieces: Sequence[Sequence[int]], head: Span, tail: Span, markers: Markers
) -> Tuple[List[List[int]], int, int, List[int]]:
    """The words' sub-tokens with markers around head and tail, the index of each start marker, and of all markers.

    Overlapping or identical spans are marked too: at a shared boundary the
    span that closes later opens first and closes last, the head first on ties.
    """
    roles = [(head, markers[0], markers[1], 0), (tail, markers[2], markers[3], 1)]
    words: List[List[int]] = []
    starts = [0, 0]
    marker_words: List[int] = []
    for i in range(len(pieces) + 1):
        for r in sorted((r for r in roles if r[0][1] == i), key=lambda r: (-r[0][0], -r[3])):
            marker_words.append(len(words))
            words.append([r[2]])
        for span, start_id, _, role in sorted((r for r in roles if r[0][0] == i), key=lambda r: (-r[0][1], r[3])):
            starts[role] = len(words)
            marker_words.append(len(words))
            words.append([start_id])
        if i < len(pieces):
            words.append(list(pieces[i]))
    return words, starts[0], starts[1], marker_words


def fit_words(words: Sequence[Sequence[int]], keep: Sequence[int], anchors: Sequence[int], budget: int) -> List[int]:
    """Indices of the words that fit in `budget` sub-tokens: words farthest from the anchors go first.

    Words in `keep` (the markers) are never dropped; a word longer than the
    budget counts with its first `budget` sub-tokens, as `build_view` cuts it.
    """
    sizes = [min(len(word), budget) for word in words]
    total = sum(sizes)
    dropped = set()
    if total > budget:
        kept = set(keep)
        by_distance = sorted(
            (i for i in range(len(words)) if i not in kept),
            key=lambda i: (min(abs(i - a) for a in anchors), i),
            reverse=True,
        )
        for i in by_distance:
            if total <= budget:
                break
            dropped.add(i)
            total -= sizes[i]
    return [i for i in range(len(words)) if i not in dropped]


def build_pair_view(
    tokenizer,
    pairs: Sequence[Tuple[Sequence[Sequence[int]], Span, Span, Optional[Sequence[int]]]],
    markers: Markers,
    max_length: int,
    budget: int,
    prompted: bool,
) -> Tuple[ViewBatch, List[int], List[int]]:
    """One padded row per pair (marked words, knowledge ids or None) and the word index of each pair's two start markers.

    The marked text is cut to `budget` sub-tokens around the start markers
    (see `fit_words`); knowledge fills what `max_length` leaves, as in `build_view`.
    """
    texts = []
    heads: List[int] = []
    tails: List[int] = []
    offset = 0
    for pieces, head, tail, knowledge in pairs:
        words, h, t, marker_words = mark_pair(pieces, head, tail, markers)
        kept = fit_words(words, marker_words, (h, t), budget)
        position = {w: i for i, w in enumerate(kept)}
        words = [words[i] for i in kept]
        texts.append((words, [(0, len(words))], knowledge))
        heads.append(offset + position[h])
        tails.append(offset + position[t])
        offset += len(words)
    return build_view(tokenizer, texts, max_length, budget, prompted, "first"), heads, tails

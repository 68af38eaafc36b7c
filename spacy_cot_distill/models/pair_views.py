"""Encoder inputs for relation extraction: a text with its head and tail marked, one row per pair.

Built on `views.build_view`: a marked pair is a "text" whose words are the
doc's words with four marker words inserted, read as a single window, so the
start markers' vectors are the pooled vectors of two words. Only the words
near the pair are read: the cost of a pair does not grow with the doc.
"""
from typing import Dict, List, Optional, Sequence, Tuple

from .views import ViewBatch, build_view

Span = Tuple[int, int]
# ids of the markers: head start, head end, tail start, tail end
Markers = Tuple[int, int, int, int]


def marker_positions(n_words: int, head: Span, tail: Span, markers: Markers) -> Dict[int, Tuple[int, int, bool]]:
    """Where the four markers sit among the doc's words once inserted: position -> (marker id, role, is start).

    Role 0 is the head, 1 the tail. At a boundary closing markers come before
    opening ones; overlapping or identical spans are marked too: the span that
    closes later opens first and closes last, the head first on ties.
    """
    roles = [(head, markers[0], markers[1], 0), (tail, markers[2], markers[3], 1)]
    events = []  # (boundary, order at the boundary, marker id, role, is start)
    for span, start_id, end_id, role in roles:
        if not 0 <= span[0] < span[1] <= n_words:
            raise ValueError(f"span {list(span)} is outside the {n_words} words")
        events.append((span[1], (0, -span[0], -role), end_id, role, False))
        events.append((span[0], (1, -span[1], role), start_id, role, True))
    events.sort(key=lambda event: (event[0], event[1]))
    # k markers precede the k-th one, and `boundary` words
    return {boundary + k: (marker, role, start) for k, (boundary, _, marker, role, start) in enumerate(events)}


def pair_words(
    pieces: Sequence[Sequence[int]], head: Span, tail: Span, markers: Markers, budget: int
) -> Tuple[List[List[int]], int, int]:
    """The marked words of a pair cut to `budget` sub-tokens, and the index of the head's and the tail's start marker.

    The doc's words with markers around head and tail (see `marker_positions`);
    if they exceed `budget`, the words farthest from the two start markers go
    first (the later word on ties), the markers never. A word longer than the
    budget counts with its first `budget` sub-tokens, as `build_view` cuts it.
    Only the kept words and those next to them are read, so the work per pair
    is bounded by the budget, not the doc's length.
    """
    placed = marker_positions(len(pieces), head, tail, markers)
    starts = {role: position for position, (_, role, start) in placed.items() if start}
    anchors = sorted(starts.values())
    n_marked = len(pieces) + len(placed)
    used = sum(min(1, budget) for _ in placed)
    kept: Dict[int, List[int]] = {position: [marker] for position, (marker, _, _) in placed.items()}
    remaining = len(pieces)
    # words by (distance to the nearest start marker, position) ascending, while they fit
    distance = 0
    while remaining and distance < n_marked:
        ring = sorted({a + s * distance for a in anchors for s in (-1, 1)})
        for position in ring:
            if not 0 <= position < n_marked or position in placed:
                continue
            if min(abs(position - a) for a in anchors) != distance:
                continue
            word = pieces[position - sum(1 for p in placed if p < position)]
            size = min(len(word), budget)
            if used + size > budget:
                remaining = 0
                break
            used += size
            kept[position] = list(word)
            remaining -= 1
        distance += 1
    order = sorted(kept)
    return [kept[position] for position in order], order.index(starts[0]), order.index(starts[1])


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
    (see `pair_words`); knowledge fills what `max_length` leaves, as in `build_view`.
    """
    texts = []
    heads: List[int] = []
    tails: List[int] = []
    offset = 0
    for pieces, head, tail, knowledge in pairs:
        words, h, t = pair_words(pieces, head, tail, markers, budget)
        texts.append((words, [(0, len(words))], knowledge))
        heads.append(offset + h)
        tails.append(offset + t)
        offset += len(words)
    return build_view(tokenizer, texts, max_length, budget, prompted, "first"), heads, tails

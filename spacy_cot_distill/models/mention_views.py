"""Encoder inputs for relation extraction with one sequence per window of a doc, read by all the pairs in it.

Every mention that takes part in one of a doc's pairs is marked once: a start
and an end marker word around it, as plain text (`<PER>` ... `</PER>` for an
entity of that type, `<E>` ... `</E>` where the type is unknown), so the
tokenizer needs no new vocabulary. The marked text is cut into windows of at
most `budget` sub-tokens, each holding every pair whose two mentions (markers
included) fit in it together, and filled up with the words around them; a pair
reads its head's and its tail's start markers in its window. A pair too far
apart for any window gets one of its own, the words nearest its two start
markers. Windows are laid out from all of a doc's pairs at once, so a pair
reads the same input whichever batch it is in.
"""
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import Callable, Dict, Iterable, List, Sequence, Tuple

Span = Tuple[int, int]
Pair = Tuple[Span, Span]
# a mention's (start marker, end marker) sub-tokens
MarkerPieces = Callable[[Span], Tuple[List[int], List[int]]]

UNTYPED = "E"


def marker_texts(label: str) -> Tuple[str, str]:
    """The start and end marker words of a mention whose entity type is `label` ("" where it is unknown)."""
    name = label or UNTYPED
    return f"<{name}>", f"</{name}>"


@dataclass
class Window:
    """The words one encoder sequence reads (each word's sub-tokens, markers included)."""

    words: List[List[int]]


@dataclass
class DocLayout:
    """A doc's windows, and for each pair (window, word of its head's start marker, word of its tail's)."""

    windows: List[Window]
    rows: Dict[Pair, Tuple[int, int, int]]


def mark_mentions(
    pieces: Sequence[Sequence[int]], mentions: Iterable[Span], markers: MarkerPieces
) -> Tuple[List[List[int]], Dict[Span, Tuple[int, int]]]:
    """The doc's words with each mention between its two marker words, and where each mention's markers sit.

    At a boundary closing markers come before opening ones; the mention opened
    last closes first and the one that closes last opens first, so nested
    mentions stay nested.
    """
    opening: Dict[int, List[Span]] = {}
    closing: Dict[int, List[Span]] = {}
    for span in dict.fromkeys(mentions):
        if not 0 <= span[0] < span[1] <= len(pieces):
            raise ValueError(f"span {list(span)} is outside the {len(pieces)} words")
        opening.setdefault(span[0], []).append(span)
        closing.setdefault(span[1], []).append(span)
    words: List[List[int]] = []
    starts: Dict[Span, int] = {}
    where: Dict[Span, Tuple[int, int]] = {}
    for i in range(len(pieces) + 1):
        for span in sorted(closing.get(i, ()), key=lambda s: -s[0]):
            where[span] = (starts[span], len(words))
            words.append(markers(span)[1])
        for span in sorted(opening.get(i, ()), key=lambda s: -s[1]):
            starts[span] = len(words)
            words.append(markers(span)[0])
        if i < len(pieces):
            words.append(list(pieces[i]))
    return words, where


def nearest_words(sizes: Sequence[int], anchors: Sequence[int], keep: Iterable[int], budget: int) -> List[int]:
    """The positions of the words to read, in order: `keep`, then the others nearest an anchor while they fit.

    Words go by distance to the nearest anchor, the earlier on ties, and stop at
    the first that would take the sub-tokens (`sizes`) past `budget`, so the
    work is bounded by what is kept, not by the doc's length.
    """
    kept = set(keep)
    used = sum(sizes[p] for p in kept)
    reach = max(max(a, len(sizes) - 1 - a) for a in anchors)
    for distance in range(1, reach + 1):
        for position in sorted({a + s * distance for a in anchors for s in (-1, 1)}):
            if not 0 <= position < len(sizes) or position in kept:
                continue
            if min(abs(position - a) for a in anchors) != distance:
                continue
            if used + sizes[position] > budget:
                return sorted(kept)
            kept.add(position)
            used += sizes[position]
    return sorted(kept)


def layout_doc(pieces: Sequence[Sequence[int]], pairs: Iterable[Pair], markers: MarkerPieces, budget: int) -> DocLayout:
    """The windows of a doc's marked text for its pairs (see the module's docstring).

    pieces: The sub-tokens of each word of the doc.
    pairs: Every (head, tail) pair of the doc to be read, as token spans; their mentions are the ones marked.
    markers: A mention's start and end marker sub-tokens.
    budget: Sub-tokens per window; a word counts with its first `budget` sub-tokens, as `build_view` reads it.

    Pairs are taken in the order of their first marker; a window is the longest
    run of the marked text from the first pair it holds that fits `budget`, and
    holds every following pair that lies inside that run. Later pairs start no
    earlier, so a pair that fits the run of a closed window fits the next one:
    windows advance through the doc, and the positions built grow with its
    length, not with its pairs, as long as pairs span less than a window.
    """
    pairs = list(dict.fromkeys(pairs))
    words, where = mark_mentions(pieces, (span for pair in pairs for span in pair), markers)
    sizes = [min(len(word), budget) for word in words]
    prefix = [0, *accumulate(sizes)]

    def run_end(lo: int) -> int:
        """The end of the longest run of words from `lo` that fits the budget."""
        return bisect_right(prefix, prefix[lo] + budget) - 1

    def region(pair: Pair) -> Tuple[int, int]:
        (head_start, head_end), (tail_start, tail_end) = where[pair[0]], where[pair[1]]
        return min(head_start, tail_start), max(head_end, tail_end) + 1

    runs: List[Tuple[List[int], List[Pair]]] = []  # the windows: the [lo, hi) of the pairs they hold, and those pairs
    apart: Dict[Tuple[Span, ...], List[Pair]] = {}  # pairs too far apart for a window, by their two mentions
    end = -1  # the end of the last window's run
    for pair in sorted(pairs, key=region):
        lo, hi = region(pair)
        if hi > run_end(lo):
            apart.setdefault(tuple(sorted(pair)), []).append(pair)
            continue
        if hi > end:  # past the run of the last window: a new window from here
            runs.append(([lo, hi], []))
            end = run_end(lo)
        bounds, held = runs[-1]
        bounds[1] = max(bounds[1], hi)
        held.append(pair)
    windows: List[Window] = []
    rows: Dict[Pair, Tuple[int, int, int]] = {}

    def add(kept: List[int], held: List[Pair]) -> None:
        index = {position: i for i, position in enumerate(kept)}
        for head, tail in held:
            rows[(head, tail)] = (len(windows), index[where[head][0]], index[where[tail][0]])
        windows.append(Window([words[p] for p in kept]))

    for (lo, hi), held in runs:  # the run of its pairs, then the words on either side
        add(nearest_words(sizes, (lo, hi - 1), range(lo, hi), budget), held)
    for mentions, held in apart.items():  # a window of their own (both directions): the words nearest the start markers
        marks = [where[mention] for mention in mentions]
        add(nearest_words(sizes, [start for start, _ in marks], [p for mark in marks for p in mark], budget), held)
    return DocLayout(windows, rows)

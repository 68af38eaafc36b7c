"""Marked-pair inputs of cot_rel: the same words as marking the whole doc, at a cost per pair that does not grow with the doc."""
import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_cot_distill.models.pair_views import pair_words

MARKERS = (1, 2, 3, 4)


def reference_pair_words(pieces, head, tail, markers, budget):
    """The whole-doc definition (the code before windowing): mark every word, then drop the farthest until it fits."""
    roles = [(head, markers[0], markers[1], 0), (tail, markers[2], markers[3], 1)]
    words, starts, marker_words = [], [0, 0], []
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
    sizes = [min(len(word), budget) for word in words]
    total, dropped = sum(sizes), set()
    if total > budget:
        by_distance = sorted(
            (i for i in range(len(words)) if i not in marker_words),
            key=lambda i: (min(abs(i - a) for a in starts), i),
            reverse=True,
        )
        for i in by_distance:
            if total <= budget:
                break
            dropped.add(i)
            total -= sizes[i]
    kept = [i for i in range(len(words)) if i not in dropped]
    return [words[i] for i in kept], kept.index(starts[0]), kept.index(starts[1])


class CountedPieces(Sequence):
    """A doc's sub-tokens per word that count the words read, and refuse a walk over all of them."""

    def __init__(self, pieces):
        self.pieces = pieces
        self.reads = 0

    def __len__(self):
        return len(self.pieces)

    def __getitem__(self, i):
        if not isinstance(i, int):
            raise AssertionError("sliced the whole doc")
        self.reads += 1
        return self.pieces[i]

    def __iter__(self):
        raise AssertionError("walked the whole doc")


def random_pieces(rng, n_words):
    return [[100 + rng.randrange(50) for _ in range(rng.choice((1, 1, 1, 2, 3)))] for _ in range(n_words)]


def random_span(rng, n_words, near=None):
    start = rng.randrange(n_words) if near is None else min(n_words - 1, max(0, near + rng.randint(-6, 6)))
    return start, min(n_words, start + rng.choice((1, 1, 2, 3)))


def test_marks_overlapping_and_identical_spans():
    pieces = [[10], [11], [12]]
    assert pair_words(pieces, (0, 2), (1, 2), MARKERS, 100) == ([[1], [10], [3], [11], [4], [2], [12]], 0, 2)
    assert pair_words(pieces, (1, 2), (1, 2), MARKERS, 100) == ([[10], [1], [3], [11], [4], [2], [12]], 1, 2)


def test_keeps_markers_and_drops_the_farthest_words():
    pieces = [[5], [6, 6], [7], [8], [9, 9, 9]]
    # marked: 5 [E1] 6 6 [/E1] 7 [E2] 8 [/E2] 9 9 9; the 9s are farthest, then 8 (the later of the words next to a start marker)
    assert pair_words(pieces, (1, 2), (3, 4), MARKERS, 9) == ([[5], [1], [6, 6], [2], [7], [3], [8], [4]], 1, 5)
    assert pair_words(pieces, (1, 2), (3, 4), MARKERS, 8) == ([[5], [1], [6, 6], [2], [7], [3], [4]], 1, 5)
    # the nearest words are kept while they fit: 6 6 does not, so neither does the 7 behind it
    assert pair_words(pieces, (1, 2), (3, 4), MARKERS, 6) == ([[5], [1], [2], [3], [4]], 1, 3)
    assert pair_words(pieces, (1, 2), (3, 4), MARKERS, 100)[0][-1] == [9, 9, 9]


@pytest.mark.parametrize("n_words", [1, 2, 5, 30, 200, 3000])
def test_same_words_as_marking_the_whole_doc(n_words):
    """Near and far pairs, at the doc's start and end, overlapping, in both orders, budgets small and large."""
    rng = random.Random(n_words)
    pieces = random_pieces(rng, n_words)
    cases = [((0, 1), (n_words - 1, n_words)), ((n_words - 1, n_words), (0, 1)), ((0, 1), (0, 1))]
    for _ in range(60 if n_words < 1000 else 12):  # the whole-doc reference is slow on long docs
        head = random_span(rng, n_words)
        cases.append((head, random_span(rng, n_words, near=rng.choice((None, head[0])))))
    for head, tail in cases:
        for budget in (4, 5, 12, 30, 118, 10_000):
            expected = reference_pair_words(pieces, head, tail, MARKERS, budget)
            assert pair_words(pieces, head, tail, MARKERS, budget) == expected, (head, tail, budget)


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 4), min_size=1, max_size=40),
    spans=st.lists(st.integers(0, 40), min_size=4, max_size=4),
    budget=st.integers(1, 50),
)
def test_same_words_as_marking_the_whole_doc_any_case(sizes, spans, budget):
    pieces = [[10 + i] * size for i, size in enumerate(sizes)]
    n = len(pieces)
    h0, h1, t0, t1 = (s % n for s in spans)
    head, tail = (min(h0, h1), max(h0, h1) + 1), (min(t0, t1), max(t0, t1) + 1)
    assert pair_words(pieces, head, tail, MARKERS, budget) == reference_pair_words(pieces, head, tail, MARKERS, budget)


def test_words_read_per_pair_do_not_grow_with_the_doc():
    reads = []
    for n_words in (60, 600, 6000, 60_000):
        # words of 1, 2 and 3 sub-tokens in turn: the same neighbourhoods in each doc (lengths are multiples of 6)
        pieces = CountedPieces([[100 + i % 50] * (1 + i % 3) for i in range(n_words)])
        middle = n_words // 2
        for head, tail in (((middle, middle + 1), (middle + 5, middle + 7)), ((0, 1), (3, 4)), ((n_words - 2, n_words), (n_words - 9, n_words - 8))):
            pieces.reads = 0
            words, _, _ = pair_words(pieces, head, tail, MARKERS, 40)
            assert sum(len(w) for w in words) <= 40
            reads.append(pieces.reads)
            assert pieces.reads <= 40 + 4  # the kept words (at least one sub-token each), and the one that no longer fit
    assert reads[3:] == reads[:3] * 3  # a 60,000-word doc costs a pair what a 60-word doc does


def test_far_apart_pair_keeps_both_neighbourhoods():
    pieces = [[100 + i % 50] for i in range(10_000)]
    counted = CountedPieces(pieces)
    words, h, t = pair_words(counted, (10, 11), (9000, 9001), MARKERS, 20)
    assert words == reference_pair_words(pieces, (10, 11), (9000, 9001), MARKERS, 20)[0]
    assert words[h] == [1] and words[t] == [3] and counted.reads <= 24


def test_span_outside_the_doc_is_an_error():
    with pytest.raises(ValueError, match=r"span \[2, 5\] is outside the 3 words"):
        pair_words([[10], [11], [12]], (0, 1), (2, 5), MARKERS, 10)


@pytest.mark.parametrize("encoding", ["per_sentence", "per_pair"])
def test_a_long_doc_is_tokenized_once_for_all_its_pairs(tmp_path, monkeypatch, encoding):
    """nlp() on a doc with many batches of pairs: its words go through the tokenizer once, not once per batch."""
    from spacy.tokens import Span
    from spacy.training import Example

    from spacy_cot_distill.models import views
    from spacy_cot_distill.pipeline.distill_pipe import PREDICT_BATCH
    from tiny_models import make_tiny_bert
    from tiny_relations import TRAIN, given_pairs, make_doc, rel_nlp

    encoder = make_tiny_bert(tmp_path / "bert")
    model = {"encoder": str(encoder), "m": 2, "n_heads": 2, "dropout": 0.0, "encoding": encoding}
    nlp = rel_nlp(encoder, model=model, candidates={"@misc": "spacy_cot_distill.EntityPairs.v1", "max_distance": 20})
    gold = [make_doc(nlp, text, rels) for text, rels in TRAIN]
    nlp.initialize(lambda: [Example(given_pairs(doc), doc) for doc in gold])
    doc = nlp.make_doc(" ".join(["john went to london and paris with mary"] * 12))
    doc.ents = [Span(doc, i, i + 1, label="ENT") for i in range(0, len(doc), 3)]
    tokenized: list = []
    word_pieces = views.word_pieces
    monkeypatch.setattr(views, "word_pieces", lambda tok, words: tokenized.extend(words) or word_pieces(tok, words))
    relations = nlp.get_pipe("cot_rel")(doc)._.relations
    n_pairs = len(nlp.get_pipe("cot_rel").candidates(doc))
    assert n_pairs > 3 * PREDICT_BATCH and tokenized == [token.text for token in doc]
    assert all(r["label"] in nlp.get_pipe("cot_rel").labels for r in relations)


@settings(max_examples=100, deadline=None)
@given(lengths=st.lists(st.tuples(st.integers(0, 6), st.integers(1, 3)), max_size=30), max_distance=st.integers(0, 12))
def test_entity_pairs_are_every_pair_within_reach_in_order(lengths, max_distance):
    """EntityPairs finds the tails in reach by bisection: the same pairs, in the same order, as checking every pair."""
    from spacy.tokens import Doc, Span
    from spacy.vocab import Vocab

    from spacy_cot_distill.pipeline.pairs import entity_pairs

    spans, position = [], 0
    for gap, length in lengths:  # entities separated by `gap` words
        spans.append((position + gap, position + gap + length))
        position += gap + length
    doc = Doc(Vocab(), words=["w"] * (position + 1))
    doc.ents = [Span(doc, start, end, label="ENT") for start, end in spans]
    expected = [
        (head, tail)
        for head in spans
        for tail in spans
        if head != tail and max(head[0], tail[0]) - min(head[1], tail[1]) <= max_distance
    ]
    assert entity_pairs(max_distance)(doc) == expected

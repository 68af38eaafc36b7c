"""Span alignment and entity swaps, property-based: found spans are the entities' own text, never overlapping."""
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from spacy_cot_distill.augment.align import align_spans
from spacy_cot_distill.augment.samples import Sample
from spacy_cot_distill.augment.swap import SwapError, entity_pool, swap_entities

# a small alphabet makes repeated, nested and case-variant entities common
WORD = st.sampled_from(["new", "york", "New", "York", "NBA", "nba", "Kawhi", "wins", "a", "A"])
SEPARATOR = "|"
LABELS = ["PER", "ORG", "LOC"]


@st.composite
def rewrites(draw):
    """Entities, a rewrite holding some of them (maybe case-changed) between separators, and which were kept."""
    targets = draw(st.lists(st.lists(WORD, min_size=1, max_size=3), max_size=5))
    kept = [draw(st.booleans()) for _ in targets]
    chunks = []
    for target, keep in zip(targets, kept):
        if keep:
            change = draw(st.sampled_from([str, str.lower, str.upper]))
            chunks.append([change(word) for word in target])
    chunks += draw(st.lists(st.lists(WORD, min_size=1, max_size=3), max_size=3))  # filler
    chunks = draw(st.permutations(chunks))
    words = [word for chunk in chunks for word in [SEPARATOR, *chunk]]
    return targets, kept, words


@given(rewrites())
@settings(max_examples=150, deadline=None)
def test_found_spans_are_the_entities_and_never_overlap(case):
    targets, kept, words = case
    found = align_spans(targets, words)
    spans = [span for span in found if span is not None]
    for target, span in zip(targets, found):
        if span is not None:
            assert [w.lower() for w in words[span[0]:span[1]]] == [t.lower() for t in target]
    for i, a in enumerate(spans):
        for b in spans[i + 1:]:
            assert a[1] <= b[0] or b[1] <= a[0], (a, b)
    # as many entities of each text are found as the rewrite kept (equal texts are interchangeable)
    texts = {tuple(t.lower() for t in target) for target in targets}
    for text in texts:
        same = [i for i, target in enumerate(targets) if tuple(t.lower() for t in target) == text]
        assert sum(found[i] is not None for i in same) >= sum(kept[i] for i in same)
    if all(kept):
        assert None not in found


def test_exact_match_wins_over_a_case_variant():
    words = ["apple", "and", "Apple", "pie"]
    assert align_spans([["Apple"], ["apple"]], words) == [(2, 3), (0, 1)]


def test_missing_entity_is_none_not_a_guess():
    assert align_spans([["Kawhi", "Leonard"], ["NBA"]], ["Kawhi", "wins", "NBA"]) == [None, (2, 3)]


def test_longer_entity_is_not_cut_by_a_shorter_one():
    assert align_spans([["York"], ["New", "York"]], ["New", "York", "loves", "York"]) == [(3, 4), (0, 2)]


@st.composite
def docs_with_entities(draw):
    words = draw(st.lists(WORD, min_size=1, max_size=12))
    doc = Doc(Vocab(), words=words)
    starts = sorted(draw(st.sets(st.integers(0, len(words) - 1), max_size=4)))
    spans = []
    for i, start in enumerate(starts):
        end = draw(st.integers(start + 1, starts[i + 1] if i + 1 < len(starts) else len(words)))
        spans.append(Span(doc, start, end, label=draw(st.sampled_from(LABELS))))
    doc.ents = spans
    doc._.doc_id = "d"
    return doc


POOL_DOCS = []
for label, names in {"PER": ["Kawhi Leonard", "Diplo"], "ORG": ["NBA", "Celtics"], "LOC": ["Boston", "New York"]}.items():
    for name in names:
        d = Doc(Vocab(), words=name.split())
        d.ents = [Span(d, 0, len(d), label=label)]
        POOL_DOCS.append(d)


@given(docs_with_entities(), st.integers(0, 10**6))
@settings(max_examples=100, deadline=None)
def test_swaps_keep_labels_and_replace_every_entity(doc, seed):
    pool = entity_pool([Sample(d, i) for i, d in enumerate(POOL_DOCS)])
    sample = Sample(doc, 0)
    try:
        words, spaces, mapping = swap_entities(sample, pool, random.Random(seed))
    except SwapError as err:
        assert not doc.ents and str(err) == "no entities to swap"
        return
    new = Doc(Vocab(), words=words, spaces=spaces)
    assert sorted(mapping) == [(e.start, e.end) for e in doc.ents]
    for ent in doc.ents:
        start, end = mapping[(ent.start, ent.end)]
        replacement = new[start:end].text
        assert replacement.lower() != ent.text.lower()
        assert replacement in {" ".join(w.text for w in d) for d in POOL_DOCS if d.ents[0].label_ == ent.label_}
    # the words between entities are untouched
    outside = [t.text for t in doc if not t.ent_type_]
    inside_new = {i for start, end in mapping.values() for i in range(start, end)}
    assert outside == [w for i, w in enumerate(words) if i not in inside_new]
    # the same seed draws the same swap
    assert swap_entities(sample, pool, random.Random(seed))[0] == words

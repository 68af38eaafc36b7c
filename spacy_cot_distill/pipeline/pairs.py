"""Candidate head/tail pairs for `cot_rel`, as registered, configurable functions."""
from bisect import bisect_left, bisect_right
from typing import Callable, List, Tuple

from spacy.tokens import Doc
from spacy.util import registry

Span = Tuple[int, int]
Pair = Tuple[Span, Span]
Candidates = Callable[[Doc], List[Pair]]


@registry.misc("spacy_cot_distill.GoldPairs.v1")
def gold_pairs() -> Candidates:
    """The head/tail pairs listed in doc._.relations, labels ignored (MNRE's protocol: classify given pairs)."""

    def candidates(doc: Doc) -> List[Pair]:
        pairs: List[Pair] = []
        for i, relation in enumerate(doc._.relations):
            try:
                head, tail = tuple(relation["head"]), tuple(relation["tail"])
            except (KeyError, TypeError):
                raise ValueError(
                    f"doc {doc._.doc_id!r}: doc._.relations[{i}] needs 'head' and 'tail' as [start, end]"
                ) from None
            for span in (head, tail):
                if len(span) != 2 or not 0 <= span[0] < span[1] <= len(doc):
                    raise ValueError(
                        f"doc {doc._.doc_id!r}: doc._.relations[{i}] has span {list(span)} outside its {len(doc)} tokens"
                    )
            pair = (head, tail)
            if pair not in pairs:
                pairs.append(pair)
        return pairs

    return candidates


@registry.misc("spacy_cot_distill.EntityPairs.v1")
def entity_pairs(max_distance: int = 20) -> Candidates:
    """Every ordered pair of distinct doc.ents with at most `max_distance` tokens between them (end to end, after NER)."""
    if max_distance < 0:
        raise ValueError(f"max_distance must be 0 or more, not {max_distance}")

    def candidates(doc: Doc) -> List[Pair]:
        ents = [(ent.start, ent.end) for ent in doc.ents]
        # doc.ents do not overlap, so their starts and ends both ascend: the tails in reach are one slice, found by bisection
        starts = [start for start, _ in ents]
        ends = [end for _, end in ents]
        pairs: List[Pair] = []
        for head in ents:
            first = bisect_left(ends, head[0] - max_distance)
            last = bisect_right(starts, head[1] + max_distance)
            pairs.extend((head, tail) for tail in ents[first:last] if tail != head)
        return pairs

    return candidates

"""Seeded same-type entity replacement, drawn from the entities of the training set."""
import random
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .align import Offsets
from .samples import Sample

Pool = Dict[str, List[Tuple[str, ...]]]


def entity_pool(samples: Iterable[Sample]) -> Pool:
    """label -> the distinct entity token sequences of that label, sorted so a seed always draws the same."""
    pool: Dict[str, set] = {}
    for sample in samples:
        for (start, end), label in sample.gold():
            pool.setdefault(label, set()).add(tuple(t.text for t in sample.doc[start:end]))
    return {label: sorted(entities) for label, entities in pool.items()}


class SwapError(ValueError):
    """A sample whose entities cannot be swapped; the message is the reason counted in the summary."""


def swap_entities(
    sample: Sample, pool: Pool, rng: random.Random
) -> Tuple[List[str], List[bool], Dict[Offsets, Offsets]]:
    """Replace every gold span by another entity of its label: the new words, spaces and old -> new offsets."""
    gold = sample.gold()
    if not gold:
        raise SwapError("no entities to swap")
    if any(a[1] > b[0] for (a, _), (b, _) in zip(gold, gold[1:])):
        raise SwapError("overlapping entities")
    doc = sample.doc
    words: List[str] = []
    spaces: List[bool] = []
    mapping: Dict[Offsets, Offsets] = {}
    position = 0
    for (start, end), label in gold:
        words.extend(t.text for t in doc[position:start])
        spaces.extend(bool(t.whitespace_) for t in doc[position:start])
        replacement = _draw(tuple(t.text for t in doc[start:end]), pool.get(label, ()), rng)
        if replacement is None:
            raise SwapError("no other entity of the same type")
        mapping[(start, end)] = (len(words), len(words) + len(replacement))
        words.extend(replacement)
        spaces.extend([True] * (len(replacement) - 1) + [bool(doc[end - 1].whitespace_)])
        position = end
    words.extend(t.text for t in doc[position:])
    spaces.extend(bool(t.whitespace_) for t in doc[position:])
    return words, spaces, mapping


def _draw(entity: Tuple[str, ...], candidates: Sequence[Tuple[str, ...]], rng: random.Random) -> Optional[Tuple[str, ...]]:
    lowered = tuple(w.lower() for w in entity)
    others = [c for c in candidates if tuple(w.lower() for w in c) != lowered]
    return rng.choice(others) if others else None


def sample_rng(seed: int, sample: Sample, n: int) -> random.Random:
    """A generator per sample and draw, so a doc's swaps do not depend on the other docs or their order."""
    return random.Random(f"{seed}|{sample.source_id}|{sample.pair}|{n}")

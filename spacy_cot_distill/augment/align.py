"""Find gold spans again in a rewritten text: exact token match first, then case-insensitive; never a guess."""
from typing import Callable, List, Optional, Sequence, Tuple

Offsets = Tuple[int, int]


def _overlap(a: Offsets, b: Offsets) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _find(target: Sequence[str], words: Sequence[str], free: Callable[[Offsets], bool]) -> Optional[Offsets]:
    n = len(target)
    target = list(target)
    for start in range(len(words) - n + 1):
        if list(words[start : start + n]) == target and free((start, start + n)):
            return start, start + n
    return None


def align_spans(
    targets: Sequence[Sequence[str]], words: Sequence[str], sources: Optional[Sequence[Offsets]] = None
) -> List[Optional[Offsets]]:
    """Where each target token sequence occurs in `words` (None: not found): the first free occurrence.

    Longer targets go first, so a short entity does not take the middle of a longer one; per length,
    exact matches go before case-insensitive ones, so "Apple" keeps "Apple" when "apple" is also there.
    A span found earlier is not overlapped by a later one, unless their `sources` (the spans' offsets in
    the original doc) overlapped too.
    """
    if any(not target for target in targets):
        raise ValueError("Cannot align an empty span.")
    if sources is None:
        sources = [(i, i + 1) for i in range(len(targets))]  # distinct, so nothing may overlap
    found: List[Optional[Offsets]] = [None] * len(targets)
    lowered = [w.lower() for w in words]

    def free(i: int) -> Callable[[Offsets], bool]:
        return lambda span: not any(
            new is not None and _overlap(span, new) and not _overlap(sources[i], sources[j])
            for j, new in enumerate(found)
        )

    for length in sorted({len(t) for t in targets}, reverse=True):
        group = [i for i, target in enumerate(targets) if len(target) == length]
        for i in group:
            found[i] = _find(targets[i], words, free(i))
        for i in group:
            if found[i] is None:
                found[i] = _find([t.lower() for t in targets[i]], lowered, free(i))
    return found

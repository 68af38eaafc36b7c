"""Find gold spans again in a rewritten text: exact token match first, then case-insensitive; never a guess."""
from typing import Callable, List, Optional, Sequence, Tuple

Offsets = Tuple[int, int]


def _overlap(a: Offsets, b: Offsets) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _find(
    target: Sequence[str], words: Sequence[str], same: Callable[[str, str], bool], free: Callable[[Offsets], bool]
) -> Optional[Offsets]:
    n = len(target)
    for start in range(len(words) - n + 1):
        if all(same(w, t) for w, t in zip(words[start : start + n], target)) and free((start, start + n)):
            return start, start + n
    return None


def align_spans(
    targets: Sequence[Sequence[str]], words: Sequence[str], sources: Optional[Sequence[Offsets]] = None
) -> List[Optional[Offsets]]:
    """Where each target token sequence occurs in `words` (None: not found), first free occurrence in order.

    A span found earlier is not overlapped by a later one, unless their `sources` (the spans' offsets in
    the original doc) overlapped too, so non-overlapping entities stay non-overlapping.
    """
    if sources is None:
        sources = [(i, i + 1) for i in range(len(targets))]  # distinct, so nothing may overlap
    found: List[Optional[Offsets]] = []
    lowered = [w.lower() for w in words]
    for i, target in enumerate(targets):
        if not target:
            raise ValueError("Cannot align an empty span.")

        def free(span: Offsets) -> bool:
            return not any(
                new is not None and _overlap(span, new) and not _overlap(sources[i], sources[j])
                for j, new in enumerate(found)
            )

        span = _find(target, words, str.__eq__, free)
        if span is None:
            span = _find([t.lower() for t in target], lowered, str.__eq__, free)
        found.append(span)
    return found

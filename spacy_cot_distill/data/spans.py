"""Token spans carried from one doc to another doc of the same text (gold docs to predicted docs)."""
from typing import Optional, Tuple

from spacy.tokens import Doc

Offsets = Tuple[int, int]


def align_span(source: Doc, span: Offsets, target: Doc) -> Optional[Offsets]:
    """`span` of `source` as token offsets of `target` (same text, maybe other tokens); None if no token boundary fits."""
    if len(source) == len(target) and all(a.idx == b.idx and len(a) == len(b) for a, b in zip(source, target)):
        return (span[0], span[1])
    chars = source[span[0] : span[1]]
    aligned = target.char_span(chars.start_char, chars.end_char)
    return (aligned.start, aligned.end) if aligned is not None else None

"""Silver entities: labels an LLM gave, stored apart from gold, with a count of what could not be placed.

A silver doc keeps its entities in the span group `doc.spans[SILVER_KEY]`, never in `doc.ents`: gold
`doc.ents` stay what a person annotated (none, on an unlabelled doc), evaluation reads only those, and silver
trains as gold only where the training reader is told to. An LLM names entities by their text; every mention of
a listed name in the doc (whole tokens, any case) is labelled, a name that matches no token span is a
miss, and where mentions overlap the longest is kept (`spacy.util.filter_spans`), so the group can become
`doc.ents` as it is.
"""
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Tuple

from spacy.tokens import Doc, Span
from spacy.util import filter_spans
from wasabi import msg

from .spans import SILVER_KEY



@dataclass
class SilverSummary:
    """What silver labelling produced: docs, listed names, labelled mentions, and what it had to leave out."""

    docs: int = 0
    names: int = 0  # (name, label) pairs listed for the docs
    mentions: Counter = field(default_factory=Counter)  # label -> mentions stored
    misses: int = 0  # names that match no token span of their doc
    overlaps: int = 0  # mentions left out for a longer one they overlap
    dropped: Counter = field(default_factory=Counter)  # a listed type or label outside the label set -> names
    unparsed: List[str] = field(default_factory=list)  # docs whose answer held no readable entity list

    def line(self) -> str:
        """The summary in one line."""
        dropped = sum(self.dropped.values())
        top = ", ".join(f"{name!r} {count}" for name, count in self.dropped.most_common(5))
        return (f"{self.docs} docs, {self.names} names listed: {sum(self.mentions.values())} mentions labelled "
                f"({', '.join(f'{label} {n}' for label, n in sorted(self.mentions.items())) or 'none'}), "
                f"{self.misses} names matched no tokens (misses), {self.overlaps} mentions inside longer ones, "
                f"{dropped} names of types outside the labels dropped" + (f" (most: {top})" if top else "")
                + f", {len(self.unparsed)} answers unreadable")

    def print(self) -> None:
        (msg.warn if self.misses or self.unparsed else msg.good)(self.line())
        if self.unparsed:
            shown = ", ".join(self.unparsed[:5]) + (" ..." if len(self.unparsed) > 5 else "")
            msg.text(f"docs without silver labels (no readable answer): {shown}")


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def find_mentions(doc: Doc, name: str) -> List[Tuple[int, int]]:
    """The token offsets (start, end) of every mention of `name` in `doc`: whole tokens, in any case, the name's
    words being the tokens' ("Columbia, SC" is no mention of the tokens "Columbia , SC", "LFC" none of "@LFC").

    Read on train: matching without the spaces (and handles and hashtags by their names) finds more mentions,
    but gains 1.3 F1 on Twitter-2017 and loses 0.9 on Twitter-2015, whose gold splits "Columbia , SC" in two.
    """
    target = _normal(name)
    if not target:
        return []
    words = [_normal(token.text) for token in doc]
    # the doc's words joined by single spaces; the token that starts, and the one that ends, at each offset
    starts, ends, offset = {}, {}, 0
    for i, word in enumerate(words):
        starts[offset] = i
        offset += len(word)
        ends[offset] = i + 1
        offset += 1
    found = []
    for match in re.finditer(re.escape(target), " ".join(words)):
        start, end = starts.get(match.start()), ends.get(match.end())
        if start is not None and end is not None:
            found.append((start, end))
    return found


def label_mentions(doc: Doc, entities: Iterable[Tuple[str, str]], summary: Optional[SilverSummary] = None) -> List[Span]:
    """Label every mention of each (name, label) in `doc`; count names and misses into `summary`."""
    spans: List[Span] = []
    for name, label in entities:
        mentions = find_mentions(doc, name)
        spans.extend(Span(doc, start, end, label=label) for start, end in mentions)
        if summary is not None:
            summary.names += 1
            summary.misses += not mentions
    kept = filter_spans(spans)
    if summary is not None:
        summary.overlaps += len(set((s.start, s.end) for s in spans)) - len(kept)
        summary.mentions.update(span.label_ for span in kept)
    return kept


def set_silver(doc: Doc, spans: Iterable[Span]) -> None:
    """Store `spans` as the doc's silver entities (doc.ents, the gold, are left as they are)."""
    doc.spans[SILVER_KEY] = list(spans)


def silver_spans(doc: Doc) -> Optional[List[Span]]:
    """The doc's silver entities, None if it has none stored (an empty list: silver says it has no entity)."""
    return list(doc.spans[SILVER_KEY]) if SILVER_KEY in doc.spans else None

"""Token spans: the span group keys the converters and readers share, and spans carried from one doc to another doc
of the same text (gold docs to predicted docs)."""
from typing import Optional, Tuple

from spacy.tokens import Doc
from spacy.util import filter_spans

Offsets = Tuple[int, int]

# every annotated entity, overlapping ones included (doc.ents cannot hold those): the MNRE and JSONL converters
SPANS_KEY = "entities"
# entities an LLM annotated (silver): never doc.ents, so never scored or trained as gold unless a reader says so
SILVER_KEY = "silver_ents"


def entities_missing(doc: Doc) -> bool:
    """Whether nobody annotated the doc's entities: every tag missing (`token.ent_iob == 0`), whitespace aside."""
    return all(token.ent_iob == 0 or (token.text.isspace() and token.ent_iob_ == "O") for token in doc)


def hide_annotation(doc: Doc) -> None:
    """Make `doc` unlabelled: every entity tag missing (never O) and its relations not annotated."""
    doc.set_ents([], default="missing")
    doc._.relations_annotated = False


def silver_as_entities(doc: Doc) -> None:
    """Make the `SILVER_KEY` spans of an unannotated doc its entities, every other token O.

    A doc with entity annotation keeps it (gold beats silver); overlapping silver spans keep the longest.
    """
    if SILVER_KEY in doc.spans and entities_missing(doc):
        doc.set_ents(filter_spans(doc.spans[SILVER_KEY]), default="outside")


def align_span(source: Doc, span: Offsets, target: Doc) -> Optional[Offsets]:
    """`span` of `source` as token offsets of `target` (same text, maybe other tokens); None if no token boundary fits."""
    if len(source) == len(target) and all(a.idx == b.idx and len(a) == len(b) for a, b in zip(source, target)):
        return (span[0], span[1])
    chars = source[span[0] : span[1]]
    aligned = target.char_span(chars.start_char, chars.end_char)
    return (aligned.start, aligned.end) if aligned is not None else None

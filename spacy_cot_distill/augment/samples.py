"""What one augmentation starts from (a doc, or one of its relation pairs) and how its new docs are built."""
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from spacy.tokens import Doc, Span

from .align import Offsets

# a relation's own knowledge belongs to its source text, not to a rewrite of it
_RELATION_KNOWLEDGE = ("cot", "cot_flags")


@dataclass
class Sample:
    """A source doc ("ner": with all its annotations) or one relation pair of it ("rel": that pair only)."""

    doc: Doc
    index: int
    pair: Optional[int] = None

    @property
    def source_id(self) -> str:
        return self.doc._.doc_id or f"#{self.index}"

    def relations(self) -> List[Dict[str, Any]]:
        relations = self.doc._.relations
        return list(relations) if self.pair is None else [relations[self.pair]]

    def head_tail(self) -> Tuple[Optional[str], Optional[str]]:
        """The head and tail texts the relation prompts name (None, None for "ner")."""
        if self.pair is None:
            return None, None
        rel = self.doc._.relations[self.pair]
        return self.doc[slice(*rel["head"])].text, self.doc[slice(*rel["tail"])].text

    def span_groups(self) -> Dict[str, List[Span]]:
        """doc.spans groups; for one pair, only the spans that are its head or tail."""
        keep = None if self.pair is None else {tuple(self.relations()[0][role]) for role in ("head", "tail")}
        return {
            key: [s for s in group if keep is None or (s.start, s.end) in keep] for key, group in self.doc.spans.items()
        }

    def gold(self) -> List[Tuple[Offsets, str]]:
        """Every annotated span of the sample once, as (offsets, label), in text order."""
        spans: Dict[Offsets, str] = {}
        for rel in self.relations():
            for role in ("head", "tail"):
                spans.setdefault(tuple(rel[role]), "")
        for group in self.span_groups().values():
            spans.update({(s.start, s.end): s.label_ for s in group})
        spans.update({(s.start, s.end): s.label_ for s in self.doc.ents})
        return sorted(spans.items())

    def new_id(self, kind: str, n: int) -> str:
        pair = "" if self.pair is None else f"{self.pair}."
        return f"{self.source_id}#{kind}{pair}{n}"


def build_doc(
    sample: Sample,
    kind: str,
    n: int,
    words: Sequence[str],
    spaces: Sequence[bool],
    mapping: Mapping[Offsets, Offsets],
    caption: Optional[str] = None,
    image_id: Optional[str] = None,
) -> Doc:
    """A new doc with the sample's entities, span groups and relations moved through `mapping` (old -> new offsets)."""
    source = sample.doc
    doc = Doc(source.vocab, words=list(words), spaces=list(spaces))

    def moved(span: Span) -> Span:
        return Span(doc, *mapping[(span.start, span.end)], label=span.label_)

    doc.ents = [moved(s) for s in source.ents]
    for key, group in sample.span_groups().items():
        doc.spans[key] = [moved(s) for s in group]
    doc._.relations = [
        {**{k: v for k, v in rel.items() if k not in _RELATION_KNOWLEDGE},
         "head": list(mapping[tuple(rel["head"])]), "tail": list(mapping[tuple(rel["tail"])])}
        for rel in sample.relations()
    ]
    doc._.doc_id = sample.new_id(kind, n)
    doc._.image_id = image_id
    doc._.caption = caption
    doc._.augmented_from = {"doc_id": sample.source_id, "kind": kind}
    doc._.cot = {}
    return doc

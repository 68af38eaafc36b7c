"""What a conversion produced and what it skipped, printed for the user."""
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List

from spacy.tokens import Doc
from wasabi import msg

from .spans import SPANS_KEY, entities_missing


@dataclass
class ConversionSummary:
    """Counts of docs, entities, relations and skipped records of one conversion."""

    docs: int = 0
    entities: Counter = field(default_factory=Counter)
    relations: Counter = field(default_factory=Counter)
    skipped: Dict[str, List[str]] = field(default_factory=dict)
    unlabelled: int = 0  # docs whose entities nobody annotated (every tag missing)
    relations_unannotated: int = 0  # docs whose relations nobody annotated

    def add_docs(self, docs: Iterable[Doc]) -> None:
        for doc in docs:
            self.docs += 1
            spans = list(doc.ents) or list(doc.spans.get(SPANS_KEY, []))
            self.entities.update(span.label_ for span in spans)
            self.relations.update(rel["label"] for rel in doc._.relations)
            # overlapping gold entities also leave every tag missing, but they are in the span group
            self.unlabelled += SPANS_KEY not in doc.spans and entities_missing(doc)
            self.relations_unannotated += not doc._.relations_annotated

    def skip(self, reason: str, record: str) -> None:
        self.skipped.setdefault(reason, []).append(record)

    def print(self) -> None:
        msg.good(f"{self.docs} docs")
        if self.unlabelled:
            msg.info(f"{self.unlabelled} unlabelled docs: their entity tags are missing, not O")
        if self.relations_unannotated:
            msg.info(f"{self.relations_unannotated} docs not annotated for relations (doc._.relations_annotated False)")
        if self.entities:
            msg.table(sorted(self.entities.items()), header=("entity", "count"))
        if self.relations:
            msg.table(sorted(self.relations.items()), header=("relation", "count"))
        for reason, records in self.skipped.items():
            shown = ", ".join(records[:5]) + (" ..." if len(records) > 5 else "")
            msg.warn(f"{len(records)} {reason}: {shown}")

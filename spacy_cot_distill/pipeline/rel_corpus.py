"""A corpus reader for relation data: the gold pairs (not their labels) handed to the predicted docs."""
from pathlib import Path
from typing import Callable, Iterator, Optional

from spacy.errors import Errors
from spacy.language import Language
from spacy.training import Corpus, Example
from spacy.util import filter_spans, registry

from .pairs import align_span


@registry.readers("spacy_cot_distill.PairsCorpus.v1")
def create_pairs_corpus(
    path: Optional[Path],
    gold_preproc: bool = True,
    max_length: int = 0,
    limit: int = 0,
    ents_from_spans: Optional[str] = None,
    copy_knowledge: bool = False,
) -> Callable[[Language], Iterator[Example]]:
    """spaCy's Corpus, with each reference doc's pairs written, unlabelled, into the predicted doc's doc._.relations.

    spaCy makes predicted docs from the words alone, so without this a
    `GoldPairs` component would find no pairs to classify at evaluation (MNRE's
    protocol gives the pairs). `ents_from_spans` sets the reference's doc.ents
    from that span group (overlaps resolved by `filter_spans`), for training an
    NER next to the relations on MNRE; `copy_knowledge` also hands over doc._.cot,
    for evaluating the teacher view with knowledge at inference.
    """
    if path is None:
        raise ValueError(Errors.E913)  # spaCy's "corpus path is None" error, as its own reader raises it
    corpus = Corpus(path, gold_preproc=gold_preproc, max_length=max_length, limit=limit)

    def read(nlp: Language) -> Iterator[Example]:
        for eg in corpus(nlp):
            reference, predicted = eg.reference, eg.predicted
            if ents_from_spans is not None:
                reference.ents = filter_spans(reference.spans.get(ents_from_spans, []))
            pairs = []
            for relation in reference._.relations:
                head = align_span(reference, relation["head"], predicted)
                tail = align_span(reference, relation["tail"], predicted)
                if head is not None and tail is not None:
                    pairs.append({"head": list(head), "tail": list(tail)})
            predicted._.relations = pairs
            if copy_knowledge:
                predicted._.cot = dict(reference._.cot)
                predicted._.caption = reference._.caption
            yield eg

    return read

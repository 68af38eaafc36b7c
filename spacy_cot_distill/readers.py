"""spaCy corpus readers: the training and evaluation examples `spacy train` reads from the DocBins of data/.

`PairsCorpus.v1` hands each gold doc's relation pairs, unlabelled, to the predicted doc (for `cot_rel`);
`AugmentedCorpus.v1` adds the DocBins `cot-distill augment` made to the training examples.
"""
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Union

from spacy.errors import Errors
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Corpus, Example
from spacy.util import filter_spans, registry
from spacy.vocab import Vocab

from .data.spans import align_span


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
    the caption and each pair's own "cot", for evaluating the teacher view with knowledge at inference.
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
                    pair: Dict[str, Any] = {"head": list(head), "tail": list(tail)}
                    if copy_knowledge and relation.get("cot"):
                        pair["cot"] = dict(relation["cot"])
                    pairs.append(pair)
            predicted._.relations = pairs
            if copy_knowledge:
                hand_knowledge(eg)
            yield eg

    return read


def hand_knowledge(example: Example) -> None:
    """Give the predicted doc the reference's knowledge (doc._.cot, caption), for scoring a teacher view with it."""
    example.predicted._.cot = dict(example.reference._.cot)
    example.predicted._.caption = example.reference._.caption


class AugmentedDocs(Corpus):
    """A Corpus of the docs `cot-distill augment` made, keeping those of `kinds` (None: all)."""

    def __init__(self, path: Union[str, Path], kinds: Optional[Sequence[str]] = None, **options):
        super().__init__(path, **options)
        self.kinds = None if kinds is None else set(kinds)

    def read_docbin(self, vocab: Vocab, locs: Iterable[Union[str, Path]]) -> Iterator[Doc]:
        # filter whole docs here: gold_preproc later splits them into sentences without their extensions
        for doc in super().read_docbin(vocab, locs):
            origin = doc._.augmented_from
            if origin is None:
                raise ValueError(f"{self.path} holds a doc that `cot-distill augment` did not make "
                                 f"({doc._.doc_id}): list augmented DocBins only.")
            if self.kinds is None or origin["kind"] in self.kinds:
                yield doc


@registry.readers("spacy_cot_distill.AugmentedCorpus.v1")
def create_augmented_corpus(
    path: Path,
    augmented: Union[Path, List[Path], None] = None,
    kinds: Optional[List[str]] = None,
    gold_preproc: bool = False,
    max_length: int = 0,
    limit: int = 0,
    augmenter: Optional[Callable] = None,
    copy_knowledge: bool = False,
) -> Callable[[Language], Iterable[Example]]:
    """The examples of `path`, then those of the `augmented` DocBins (files or folders) whose kind is in `kinds` (None: all).

    A folder is read like spaCy's Corpus reads one (every .spacy file below it); an
    empty folder adds nothing, so a workflow can point at the folder `cot-distill
    augment` writes to whether or not it ran. `copy_knowledge` hands each
    reference's doc._.cot and caption to its predicted doc: a dev corpus that
    scores a teacher trained alone (`train_views = "teacher"`) with its knowledge.
    """
    options: Dict[str, Any] = dict(gold_preproc=gold_preproc, max_length=max_length, limit=limit, augmenter=augmenter)
    extras = [] if augmented is None else [augmented] if isinstance(augmented, (str, Path)) else list(augmented)
    corpora = [Corpus(path, **options)]
    for extra in map(Path, extras):
        if not extra.exists():
            raise ValueError(f"Augmented docs not found: {extra}. Run `cot-distill augment` first, or leave it out.")
        if extra.is_dir() and not any(extra.rglob("*.spacy")):
            continue
        corpora.append(AugmentedDocs(extra, kinds, **options))

    def read(nlp: Language) -> Iterator[Example]:
        for corpus in corpora:
            for eg in corpus(nlp):
                if copy_knowledge:
                    hand_knowledge(eg)
                yield eg

    return read

"""spaCy corpus readers: the training and evaluation examples `spacy train` reads from the DocBins of data/.

`PairsCorpus.v1` hands each gold doc's relation pairs, unlabelled, to the predicted doc (for `cot_rel`);
`AugmentedCorpus.v1` adds the DocBins `cot-distill augment` made to the training examples; `AugmentedCorpus.v2`
also mixes unlabelled docs into them and can train silver entities as gold.
"""
import random
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Union

from spacy.errors import Errors
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Corpus, Example
from spacy.util import filter_spans, registry
from spacy.vocab import Vocab

from .data.spans import align_span, entities_missing, silver_as_entities


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
    NER next to the relations on MNRE (a doc without the group keeps its doc.ents); `copy_knowledge` also hands over doc._.cot,
    the caption and each pair's own "cot", for evaluating the teacher view with knowledge at inference.
    """
    if path is None:
        raise ValueError(Errors.E913)  # spaCy's "corpus path is None" error, as its own reader raises it
    corpus = Corpus(path, gold_preproc=gold_preproc, max_length=max_length, limit=limit)

    def read(nlp: Language) -> Iterator[Example]:
        for eg in corpus(nlp):
            reference, predicted = eg.reference, eg.predicted
            # a doc without the group (an unlabelled one) keeps its entities as they are, missing ones missing
            if ents_from_spans is not None and ents_from_spans in reference.spans:
                reference.ents = filter_spans(reference.spans[ents_from_spans])
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


class PreparedDocs(Corpus):
    """A Corpus whose docs pass through `prepare` (None: as they are) before spaCy makes examples of them."""

    def __init__(self, path: Union[str, Path], prepare: Optional[Callable[[Doc], Any]] = None, **options):
        super().__init__(path, **options)
        self.prepare = prepare

    def read_docbin(self, vocab: Vocab, locs: Iterable[Union[str, Path]]) -> Iterator[Doc]:
        # whole docs here: gold_preproc later splits them into sentences without their extensions
        for doc in super().read_docbin(vocab, locs):
            if self.keep(doc):
                if self.prepare is not None:
                    self.prepare(doc)
                yield doc

    def keep(self, doc: Doc) -> bool:
        """Whether the doc is read (checks that refuse a doc raise here)."""
        return True


class AugmentedDocs(PreparedDocs):
    """A Corpus of the docs `cot-distill augment` made, keeping those of `kinds` (None: all)."""

    def __init__(self, path: Union[str, Path], kinds: Optional[Sequence[str]] = None, **options):
        super().__init__(path, **options)
        self.kinds = None if kinds is None else set(kinds)

    def keep(self, doc: Doc) -> bool:
        origin = doc._.augmented_from
        if origin is None:
            raise ValueError(f"{self.path} holds a doc that `cot-distill augment` did not make "
                             f"({doc._.doc_id}): list augmented DocBins only.")
        return self.kinds is None or origin["kind"] in self.kinds


class UnlabelledDocs(PreparedDocs):
    """A Corpus of docs nobody annotated: a doc with entity tags or relations is refused, every doc is marked
    `doc._.relations_annotated = False` (the corpus says nobody annotated them)."""

    def keep(self, doc: Doc) -> bool:
        if not entities_missing(doc) or doc._.relations:
            kind = "entity tags" if not entities_missing(doc) else "relations"
            raise ValueError(
                f"{self.path}: doc {doc._.doc_id!r} has gold {kind}, but an unlabelled corpus holds docs nobody "
                "annotated (every entity tag missing: `convert twitter --unlabelled`, JSONL lines without "
                "'entities'); put gold docs in the train corpus."
            )
        doc._.relations_annotated = False
        return True


def _gold_corpora(
    path: Path, augmented: Union[Path, List[Path], None], kinds: Optional[List[str]], options: Dict[str, Any],
    prepare: Optional[Callable[[Doc], Any]] = None,
) -> List[Corpus]:
    """The Corpus of `path` and one per augmented DocBin (files or folders; an empty folder adds nothing)."""
    extras = [] if augmented is None else [augmented] if isinstance(augmented, (str, Path)) else list(augmented)
    corpora: List[Corpus] = [Corpus(path, **options) if prepare is None else PreparedDocs(path, prepare, **options)]
    for extra in map(Path, extras):
        if not extra.exists():
            raise ValueError(f"Augmented docs not found: {extra}. Run `cot-distill augment` first, or leave it out.")
        if extra.is_dir() and not any(extra.rglob("*.spacy")):
            continue
        corpora.append(AugmentedDocs(extra, kinds, prepare=prepare, **options))
    return corpora


def _read(corpora: List[Corpus], copy_knowledge: bool) -> Callable[[Language], Iterator[Example]]:
    def read(nlp: Language) -> Iterator[Example]:
        for corpus in corpora:
            for eg in corpus(nlp):
                if copy_knowledge:
                    hand_knowledge(eg)
                yield eg

    return read


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
    return _read(_gold_corpora(path, augmented, kinds, options), copy_knowledge)


@registry.readers("spacy_cot_distill.AugmentedCorpus.v2")
def create_augmented_corpus_v2(
    path: Path,
    augmented: Union[Path, List[Path], None] = None,
    kinds: Optional[List[str]] = None,
    unlabelled: Optional[Path] = None,
    unlabelled_share: float = 0.5,
    silver_as_gold: bool = False,
    seed: int = 0,
    gold_preproc: bool = False,
    max_length: int = 0,
    limit: int = 0,
    augmenter: Optional[Callable] = None,
    copy_knowledge: bool = False,
) -> Callable[[Language], Iterable[Example]]:
    """`AugmentedCorpus.v1`'s examples, with unlabelled docs mixed in and, where asked, silver entities as gold.

    path (Path): the gold DocBin (or folder of them).
    augmented (Union[Path, List[Path], None]): DocBins `cot-distill augment` made, as in v1.
    kinds (Optional[List[str]]): the augmentation kinds to keep (None: all).
    unlabelled (Optional[Path]): a DocBin (or folder) of docs nobody annotated: every entity tag missing, no
        relations (`convert twitter --unlabelled`, JSONL lines without "entities"); a doc with gold is refused.
        They train the student through the teacher alone. None: no unlabelled docs, and the reader is v1.
    unlabelled_share (float): the share of the words that come from unlabelled docs, in [0, 1) (0: none). Each read (an
        epoch) shuffles the gold examples by `seed` and after each one adds unlabelled docs until they hold this
        share of the words so far, so every batch holds about the share; the unlabelled docs come in an order
        shuffled by `seed`, read on from where the last read stopped and shuffled anew at each pass. spaCy reads
        a train corpus once when `[training] max_epochs` is 0 or more: set it to -1 to read on every epoch.
    silver_as_gold (bool): a doc whose entity tags are all missing and that has silver entities
        (`doc.spans["silver_ents"]`) trains with them as its entities, every other token O. False: silver never
        trains as gold. Gold annotation always beats silver; evaluation never reads silver.
    seed (int): the seed of the shuffles (`${system.seed}`).
    gold_preproc, max_length, limit, augmenter: as spaCy's Corpus, for every DocBin read.
    copy_knowledge (bool): hand each reference's doc._.cot and caption to its predicted doc, as in v1.
    """
    if not 0 <= unlabelled_share < 1:
        raise ValueError(f"unlabelled_share must be at least 0 and below 1, not {unlabelled_share}: it is the share "
                         "of each batch's words that come from the unlabelled docs.")
    options: Dict[str, Any] = dict(gold_preproc=gold_preproc, max_length=max_length, limit=limit, augmenter=augmenter)
    prepare = silver_as_entities if silver_as_gold else None
    read_gold = _read(_gold_corpora(path, augmented, kinds, options, prepare), copy_knowledge)
    if unlabelled is None:
        return read_gold
    if not Path(unlabelled).exists():
        raise ValueError(f"Unlabelled docs not found: {unlabelled}. Convert them (`convert twitter --unlabelled`, "
                         "`convert jsonl`), or leave paths.unlabelled null.")
    if unlabelled_share == 0:
        return read_gold
    mix = UnlabelledMix(UnlabelledDocs(unlabelled, prepare, **options), unlabelled_share, seed, copy_knowledge)
    return lambda nlp: mix(nlp, read_gold(nlp))


class UnlabelledMix:
    """Mixes unlabelled examples into each read of the gold ones, by words (see `AugmentedCorpus.v2`)."""

    def __init__(self, corpus: Corpus, share: float, seed: int, copy_knowledge: bool):
        self.corpus = corpus
        self.ratio = share / (1 - share)  # unlabelled words per gold word
        self.seed = seed
        self.copy_knowledge = copy_knowledge
        self.examples: List[Example] = []  # read once, as spaCy holds a train corpus
        self.order: List[int] = []
        self.reads = self.passes = self.next = 0

    def _next(self) -> Example:
        if self.next == len(self.order):
            self.order = list(range(len(self.examples)))
            random.Random(f"unlabelled:{self.seed}:{self.passes}").shuffle(self.order)
            self.passes += 1
            self.next = 0
        self.next += 1
        # a copy: a small corpus can come twice in one read, and a step may write to its predicted doc
        return self.examples[self.order[self.next - 1]].copy()

    def __call__(self, nlp: Language, gold: Iterable[Example]) -> Iterator[Example]:
        if not self.examples:
            self.examples = list(self.corpus(nlp))
            if not self.examples:
                raise ValueError(f"{self.corpus.path} holds no docs: give unlabelled docs, or leave paths.unlabelled null.")
            for eg in self.examples if self.copy_knowledge else ():
                hand_knowledge(eg)
        gold = list(gold)
        random.Random(f"gold:{self.seed}:{self.reads}").shuffle(gold)
        self.reads += 1
        gold_words = unlabelled_words = used = 0
        for eg in gold:
            yield eg
            gold_words += len(eg)
            while unlabelled_words < self.ratio * gold_words:
                unlabelled = self._next()
                unlabelled_words += len(unlabelled)
                used += 1
                yield unlabelled
        if used < len(self.examples) and nlp.config.get("training", {}).get("max_epochs", -1) >= 0:
            warnings.warn(f"An epoch reads {used} of the {len(self.examples)} unlabelled docs, and with "
                          "[training] max_epochs 0 or more spaCy reads the train corpus once: set it to -1 to "
                          "read on through the unlabelled docs every epoch.")

"""A training corpus reader that adds augmented DocBins to the main one (never use it for dev or test)."""
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Union

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Corpus, Example
from spacy.util import registry
from spacy.vocab import Vocab


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
) -> Callable[[Language], Iterable[Example]]:
    """The examples of `path`, then those of the `augmented` DocBins (files or folders) whose kind is in `kinds` (None: all).

    A folder is read like spaCy's Corpus reads one (every .spacy file below it); an
    empty folder adds nothing, so a workflow can point at the folder `cot-distill
    augment` writes to whether or not it ran.
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
            yield from corpus(nlp)

    return read

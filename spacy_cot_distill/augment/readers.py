"""A training corpus reader that adds augmented DocBins to the main one (never use it for dev or test)."""
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional

from spacy.language import Language
from spacy.training import Corpus, Example
from spacy.util import registry


@registry.readers("spacy_cot_distill.AugmentedCorpus.v1")
def create_augmented_corpus(
    path: Path,
    augmented: Optional[List[Path]] = None,
    kinds: Optional[List[str]] = None,
    gold_preproc: bool = False,
    max_length: int = 0,
    limit: int = 0,
    augmenter: Optional[Callable] = None,
) -> Callable[[Language], Iterable[Example]]:
    """The examples of `path`, then those of every `augmented` DocBin whose kind is in `kinds` (None: all)."""
    options = dict(gold_preproc=gold_preproc, max_length=max_length, limit=limit, augmenter=augmenter)
    main = Corpus(path, **options)
    extra = [Corpus(extra_path, **options) for extra_path in augmented or ()]

    def read(nlp: Language) -> Iterator[Example]:
        yield from main(nlp)
        for corpus in extra:
            for example in corpus(nlp):
                origin = example.reference._.augmented_from
                if origin is None:
                    raise ValueError(f"{corpus.path} holds a doc that `cot-distill augment` did not make "
                                     f"({example.reference._.doc_id}): list augmented DocBins only.")
                if kinds is None or origin["kind"] in kinds:
                    yield example

    return read

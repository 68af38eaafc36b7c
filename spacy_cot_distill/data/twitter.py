"""Twitter-2015/2017 (UMT) CoNLL files: an IMGID line, token<TAB>tag lines, blank line between tweets."""
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

from spacy.tokens import Doc
from spacy.training.iob_utils import biluo_tags_to_spans, iob_to_biluo
from spacy.vocab import Vocab

from ..errors import InputError
from .spans import hide_annotation
from .summary import ConversionSummary
from .text import read_lines

IMGID = "IMGID:"


def _check_tag(tag: str, path: Path, line: int) -> None:
    if tag == "O" or (tag[:2] in ("B-", "I-") and len(tag) > 2):
        return
    raise InputError(path, line, f"tag {tag!r} is not in the BIO scheme (O, B-X, I-X)")


def _no_tokens(path: Path, line: int, imgid: str) -> InputError:
    return InputError(path, line, f"{IMGID}{imgid} has no tokens: expected 'token<TAB>tag' lines after it")


def _records(
    path: Path, summary: Optional[ConversionSummary]
) -> Iterator[Tuple[Optional[str], int, List[str], List[str]]]:
    imgid: Optional[str] = None
    start = 0  # the IMGID line, else the first token line
    words: List[str] = []
    tags: List[str] = []
    for lineno, line in read_lines(path):
        if not line.strip() or (line.startswith(IMGID) and not words):
            if words:
                yield imgid, start, words, tags
            elif imgid is not None:
                raise _no_tokens(path, start, imgid)
            imgid, start, words, tags = None, 0, [], []
            if line.strip():
                imgid, start = line[len(IMGID):].strip(), lineno
        else:
            if "\t" not in line:
                raise InputError(path, lineno, f"expected 'token<TAB>tag', got {line!r}")
            word, tag = line.rsplit("\t", 1)
            _check_tag(tag.strip(), path, lineno)
            if not word:
                raise InputError(path, lineno, "empty token")
            if summary is not None and any(c.isspace() for c in word):
                summary.skip("tokens containing whitespace (kept as one token)", f"{path.name}:{lineno}")
            words.append(word)
            tags.append(tag.strip())
            start = start or lineno
    if words:
        yield imgid, start, words, tags
    elif imgid is not None:
        raise _no_tokens(path, start, imgid)


def read_twitter(
    path: Path, vocab: Vocab, summary: Optional[ConversionSummary] = None, unlabelled: bool = False
) -> Iterator[Doc]:
    """Read a Twitter-2015/2017 file into docs with doc.ents, doc._.doc_id and doc._.image_id.

    A stray I-X after O or another type starts a new entity (seqeval's convention). A tweet without an
    IMGID line gets `<file name>:<line>` as its id; tokens containing whitespace are counted in `summary`.
    `unlabelled` hides the gold (its tags are still checked): every entity tag missing, relations not annotated.
    """
    path = Path(path)
    for imgid, lineno, words, tags in _records(path, summary):
        doc = Doc(vocab, words=words)
        if unlabelled:
            hide_annotation(doc)
        else:
            # iob_to_biluo opens a new entity at an I- that does not continue one
            doc.ents = biluo_tags_to_spans(doc, iob_to_biluo(tags))
        doc._.doc_id = imgid if imgid is not None else f"{path.name}:{lineno}"
        doc._.image_id = f"{imgid}.jpg" if imgid is not None else None
        yield doc

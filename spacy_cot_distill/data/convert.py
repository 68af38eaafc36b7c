"""Corpus files to DocBins: the functions behind `cot-distill convert`."""
from pathlib import Path
from typing import Iterable, Optional

from spacy.tokens import Doc
from spacy.vocab import Vocab

from ..files import refuse_overwrite
from .docbin import write_docs
from .jsonl import read_jsonl
from .knowledge import attach_captions, attach_knowledge, read_captions, read_knowledge
from .mnre import read_mnre
from .spans import SPANS_KEY
from .summary import ConversionSummary
from .twitter import read_twitter


def _write(docs: Iterable[Doc], output: Path, summary: ConversionSummary) -> ConversionSummary:
    docs = list(docs)
    summary.add_docs(docs)
    write_docs(output, docs)
    return summary


def _with_knowledge(docs: Iterable[Doc], knowledge: Optional[Path], dim: str, summary: ConversionSummary):
    return attach_knowledge(docs, read_knowledge(knowledge, dim), summary) if knowledge else docs


def convert_twitter(
    input_path: Path,
    output_path: Path,
    captions: Optional[Path] = None,
    knowledge: Optional[Path] = None,
    knowledge_dim: str = "external",
    unlabelled: bool = False,
) -> ConversionSummary:
    """Convert a Twitter-2015/2017 CoNLL file, with optional captions and knowledge, to a DocBin.

    `unlabelled` hides the gold: every entity tag missing, relations not annotated (captions and knowledge kept).
    """
    refuse_overwrite(output_path, input_path, captions, knowledge)
    summary = ConversionSummary()
    docs = read_twitter(input_path, Vocab(), summary, unlabelled)
    if captions:
        docs = attach_captions(docs, read_captions(captions), summary)
    docs = _with_knowledge(docs, knowledge, knowledge_dim, summary)
    return _write(docs, output_path, summary)


def convert_mnre(
    input_path: Path, output_path: Path, knowledge: Optional[Path] = None, knowledge_dim: str = "external"
) -> ConversionSummary:
    """Convert an MNRE file to a DocBin of one doc per sentence, its pairs in doc._.relations."""
    refuse_overwrite(output_path, input_path, knowledge)
    summary = ConversionSummary()
    docs = _with_knowledge(read_mnre(input_path, Vocab(), summary), knowledge, knowledge_dim, summary)
    return _write(docs, output_path, summary)


def convert_jsonl(
    input_path: Path, output_path: Path, lang: str = "en", missing_as_empty: bool = False, unlabelled: bool = False
) -> ConversionSummary:
    """Convert the generic JSONL format (see spacy_cot_distill.data.jsonl) to a DocBin.

    A line without "entities" is unlabelled, one without "relations" not annotated for relations;
    `missing_as_empty` reads both as annotated with none; `unlabelled` refuses a line that has either.
    """
    refuse_overwrite(output_path, input_path)
    summary = ConversionSummary()

    def count_overlaps(docs: Iterable[Doc]):
        for doc in docs:
            if doc.spans.get(SPANS_KEY) and not doc.ents:
                summary.skip("docs with overlapping entities (kept in doc.spans['entities'], not doc.ents)", str(doc._.doc_id))
            yield doc

    return _write(count_overlaps(read_jsonl(input_path, Vocab(), lang, missing_as_empty, unlabelled)), output_path, summary)

"""The generic JSONL format for users' own data.

One JSON object per line:

    {"id": "t1",                       # optional, becomes doc._.doc_id
     "text": "Messi joins Inter Miami",  # or "tokens": ["Messi", "joins", "Inter", "Miami"]
     "entities": [{"start": 0, "end": 5, "label": "PER"}, ...],
                                       # character offsets with "text", token offsets with "tokens"; end exclusive
     "relations": [{"head": 0, "tail": 1, "label": "member_of"}],
                                       # head/tail index into "entities"
     "image_id": "t1.jpg", "caption": "a man in a pink shirt",   # optional
     "cot": {"sentence": "..."}}       # optional, dimension -> knowledge text

A key left out (or null) means "not annotated", an empty list "annotated, none there": without "entities" the
doc is unlabelled (every entity tag missing, never O), without "relations" doc._.relations_annotated is False.
`missing_as_empty` reads a left-out key as an empty list, as version 0.1.0 did.
"""
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import spacy
from spacy.tokens import Doc, Span
from spacy.util import filter_spans
from spacy.vocab import Vocab

from ..errors import InputError
from .spans import SPANS_KEY
from .text import is_int, read_json_lines


def _entities(doc: Doc, record: Dict[str, Any], by_chars: bool, path: Path, lineno: int) -> List[Span]:
    spans = []
    for i, ent in enumerate(record.get("entities") or []):
        try:
            start, end, label = ent["start"], ent["end"], ent["label"]
        except (KeyError, TypeError):
            start = end = label = None
        if not (is_int(start) and is_int(end) and isinstance(label, str) and label):
            raise InputError(
                path, lineno, f"entity {i} must be {{'start': int, 'end': int, 'label': str}}, not {ent!r:.80}"
            )
        limit = len(doc.text) if by_chars else len(doc)
        if not 0 <= start < end <= limit:
            unit = "characters" if by_chars else "tokens"
            raise InputError(path, lineno, f"entity {i} [{start}, {end}) is outside the text of {limit} {unit}")
        span = doc.char_span(start, end, label=label) if by_chars else Span(doc, start, end, label=label)
        if span is None:
            raise InputError(
                path, lineno,
                f"entity {i} {doc.text[start:end]!r} [{start}, {end}) does not fall on token boundaries; "
                "fix its offsets or give 'tokens' instead of 'text'",
            )
        spans.append(span)
    return spans


def _relations(spans: List[Span], record: Dict[str, Any], path: Path, lineno: int) -> List[Dict[str, Any]]:
    relations = []
    for i, rel in enumerate(record.get("relations") or []):
        try:
            head, tail, label = rel["head"], rel["tail"], rel["label"]
        except (KeyError, TypeError):
            head = tail = label = None
        # a negative index would silently name an entity counted from the end
        if not (is_int(head) and is_int(tail) and 0 <= head < len(spans) and 0 <= tail < len(spans)
                and isinstance(label, str) and label):
            raise InputError(
                path, lineno, f"relation {i} must be {{'head': entity index, 'tail': entity index, 'label': str}} "
                f"with indices from 0 to {len(spans) - 1}, not {rel!r:.80}",
            )
        relations.append({"head": [spans[head].start, spans[head].end], "tail": [spans[tail].start, spans[tail].end],
                          "label": label, "score": 1.0})
    return relations


def _optional_str(record: Dict[str, Any], key: str, path: Path, lineno: int) -> Optional[str]:
    value = record.get(key)
    if value is not None and not isinstance(value, str):
        raise InputError(path, lineno, f"'{key}' must be a string, not {value!r:.80}")
    return value


def read_jsonl(
    path: Path, vocab: Vocab, lang: str = "en", missing_as_empty: bool = False, unlabelled: bool = False
) -> Iterator[Doc]:
    """Read the generic JSONL format (see the module docstring) into docs.

    path (Path): the JSONL file.
    vocab (Vocab): the vocab of the docs.
    lang (str): the language whose tokenizer splits "text" records.
    missing_as_empty (bool): read a record without "entities" or "relations" as annotated with none (all O, no
        relation) rather than as not annotated.
    unlabelled (bool): the file holds raw docs only: a record with "entities" or "relations" (even empty ones) is
        an error, so that a gold doc never reaches an unlabelled corpus, or an LLM bill, unnoticed.
    """
    path = Path(path)
    if unlabelled and missing_as_empty:
        raise ValueError("unlabelled and missing_as_empty contradict each other: an unlabelled file has no "
                         "annotation to read as empty")
    tokenizer = spacy.blank(lang, vocab=vocab).tokenizer
    for lineno, record in read_json_lines(path):
        if isinstance(record.get("tokens"), list) and record["tokens"]:
            if not all(isinstance(t, str) and t for t in record["tokens"]):
                raise InputError(path, lineno, "'tokens' must be a list of non-empty strings")
            doc, by_chars = Doc(vocab, words=record["tokens"]), False
        elif isinstance(record.get("text"), str) and record["text"].strip():
            doc, by_chars = tokenizer(record["text"]), True
        else:
            raise InputError(path, lineno, "expected a non-empty 'text' string or 'tokens' list")
        if unlabelled and (record.get("entities") is not None or record.get("relations") is not None):
            raise InputError(path, lineno, "has 'entities' or 'relations', but the file is read as unlabelled: "
                             "remove the keys from raw posts, or convert labelled ones without --unlabelled")
        spans = _entities(doc, record, by_chars, path, lineno)
        if record.get("entities") is not None or missing_as_empty:
            doc.spans[SPANS_KEY] = spans
            if len(filter_spans(spans)) == len(spans):
                doc.ents = spans
        else:
            doc.set_ents([], default="missing")
        doc._.relations = _relations(spans, record, path, lineno)
        doc._.relations_annotated = record.get("relations") is not None or missing_as_empty
        doc_id = record.get("id", f"{path.name}:{lineno}")
        if not (isinstance(doc_id, str) or is_int(doc_id)):
            raise InputError(path, lineno, f"'id' must be a string or an integer, not {doc_id!r:.80}")
        doc._.doc_id = str(doc_id)
        doc._.image_id = _optional_str(record, "image_id", path, lineno)
        doc._.caption = _optional_str(record, "caption", path, lineno)
        cot = record.get("cot") or {}
        if not isinstance(cot, dict) or not all(isinstance(v, str) for v in cot.values()):
            raise InputError(path, lineno, "'cot' must be an object of dimension -> text")
        doc._.cot = dict(cot)
        yield doc

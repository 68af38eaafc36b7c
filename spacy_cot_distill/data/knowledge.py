"""Existing LLM knowledge and image captions, joined onto docs without any LLM call."""
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

from spacy.tokens import Doc

from ..errors import InputError
from .summary import ConversionSummary
from .text import read_json_lines, read_lines

CAPTION_SEP = " :"


@dataclass
class KnowledgeRecord:
    """One line of a knowledge file: the tokens it was asked about and its answers per dimension."""

    path: Path
    line: int
    key: Optional[str]
    tokens: Tuple[str, ...]
    cot: Dict[str, str]


def read_knowledge(path: Path, default_dim: str = "external") -> List[KnowledgeRecord]:
    """Read a knowledge file: `{"imgid", "tokens", "cot": {dim: text}}` or `{"imgid", "tokens", "knowledge": text}`."""
    path = Path(path)
    records = []
    for lineno, obj in read_json_lines(path):
        tokens = obj.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise InputError(path, lineno, "'tokens' must be a list of strings")
        if isinstance(obj.get("cot"), dict):
            cot = obj["cot"]
        elif isinstance(obj.get("knowledge"), str):
            cot = {default_dim: obj["knowledge"]}
        elif "knowledge" in obj and obj["knowledge"] is None:  # an entry the source never answered
            cot = {}
        else:
            raise InputError(path, lineno, "expected 'cot' (an object of dimension -> text) or 'knowledge' (a string)")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in cot.items()):
            raise InputError(path, lineno, "knowledge values must be strings")
        key = obj.get("imgid")
        records.append(KnowledgeRecord(path, lineno, None if key is None else str(key), tuple(tokens), dict(cot)))
    _check_join_keys(records)
    return records


def _check_join_keys(records: List[KnowledgeRecord]) -> None:
    """Each record needs a join key of its own: an id on every record or on none, no id or token list twice."""
    with_id = next((r for r in records if r.key is not None), None)
    seen: Dict[object, int] = {}
    for record in records:
        if with_id is not None and record.key is None:
            raise InputError(
                record.path, record.line,
                f"this record has no 'imgid' but line {with_id.line} has one: give every record an id, or none "
                "(then records are joined on their tokens)",
            )
        join = record.key if with_id is not None else record.tokens
        what = f"id {record.key!r}" if with_id is not None else "token list"
        if join in seen:
            raise InputError(record.path, record.line, f"the {what} of this record is also on line {seen[join]}: "
                             "each doc can have one knowledge record; remove or merge the other")
        seen[join] = record.line


def attach_knowledge(
    docs: Iterable[Doc], records: List[KnowledgeRecord], summary: Optional[ConversionSummary] = None
) -> Iterator[Doc]:
    """Merge each record's answers into the doc._.cot of the doc with its id (or, without ids, its tokens).

    A record whose id matches a doc with other tokens is an error; a doc with no record is counted.
    """
    by_key = {r.key: r for r in records if r.key is not None}
    by_tokens = {r.tokens: r for r in records if r.key is None}
    matched = 0
    for doc in docs:
        words = tuple(t.text for t in doc)
        record = by_key.get(doc._.doc_id) if by_key else by_tokens.get(words)
        if record is None:
            if summary is not None:
                summary.skip("docs without a knowledge record (kept, no knowledge)", str(doc._.doc_id))
        elif record.tokens != words:
            raise InputError(
                record.path,
                record.line,
                f"the record for {record.key!r} has other tokens than the doc: {' '.join(record.tokens)!r} "
                f"vs {' '.join(words)!r}. Is this the knowledge file of this split?",
            )
        else:
            matched += 1
            if not record.cot and summary is not None:
                summary.skip("docs whose knowledge record is empty (kept, no knowledge)", str(doc._.doc_id))
            doc._.cot = {**doc._.cot, **record.cot}
        yield doc
    if records and not matched:
        raise InputError(records[0].path, None, "no record matches any doc: is this the knowledge file of this corpus and split?")


def read_captions(path: Path) -> Dict[str, str]:
    """Read BLIP-2 caption lines `<image file> :<caption>` into {image file: caption}."""
    path = Path(path)
    captions = {}
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        if CAPTION_SEP not in line:
            raise InputError(path, lineno, f"expected '<image file> :<caption>', got {line!r}")
        image, caption = line.split(CAPTION_SEP, 1)
        captions[image.strip()] = caption.strip()
    return captions


def attach_captions(
    docs: Iterable[Doc], captions: Dict[str, str], summary: Optional[ConversionSummary] = None
) -> Iterator[Doc]:
    """Set doc._.caption from the caption of doc._.image_id; count docs without one."""
    for doc in docs:
        caption = captions.get(doc._.image_id or "")
        if caption is None and summary is not None:
            summary.skip("docs without a caption (kept, no caption)", str(doc._.doc_id))
        doc._.caption = caption
        yield doc

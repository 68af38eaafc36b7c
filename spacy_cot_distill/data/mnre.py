"""MNRE text files: one Python dict literal per line, one head/tail pair each."""
import ast
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from ..errors import InputError
from .spans import SPANS_KEY
from .summary import ConversionSummary
from .text import is_int, read_lines

ENTITY_LABEL = "ENTITY"


def _position(record: Dict[str, Any], role: str, n_tokens: int, path: Path, lineno: int) -> List[int]:
    try:
        start, end = record[role]["pos"]
    except (KeyError, TypeError, ValueError):
        start = end = None
    if not (is_int(start) and is_int(end)):
        raise InputError(path, lineno, f"'{role}' must be {{'name': ..., 'pos': [start, end]}} with integer positions")
    if not 0 <= start < end <= n_tokens:
        raise InputError(path, lineno, f"'{role}' position {[start, end]} is outside the sentence of {n_tokens} tokens")
    return [start, end]


def _check_names(
    record: Dict[str, Any], words: Tuple[str, ...], path: Path, lineno: int, summary: Optional[ConversionSummary]
) -> None:
    for role in ("h", "t"):
        name, (start, end) = record[role].get("name"), record[role]["pos"]
        if name is not None and name != " ".join(words[start:end]) and summary is not None:
            summary.skip("head/tail names that differ from their tokens (kept: 'pos' counts)", f"{path.name}:{lineno}")


def _parse(path: Path) -> Iterator[Tuple[int, Dict[str, Any]]]:
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        try:
            record = ast.literal_eval(line)
        except (ValueError, SyntaxError) as err:
            raise InputError(path, lineno, f"not a Python dict literal ({err.__class__.__name__})") from None
        if not isinstance(record, dict) or not isinstance(record.get("token"), list) or not record["token"]:
            raise InputError(path, lineno, "expected a dict with a non-empty 'token' list")
        if not isinstance(record.get("relation"), str):
            raise InputError(path, lineno, "expected a 'relation' string")
        if not isinstance(record.get("img_id"), (str, type(None))):
            raise InputError(path, lineno, f"'img_id' must be a string, not {record['img_id']!r:.80}")
        yield lineno, record


def read_mnre(path: Path, vocab: Vocab, summary: Optional[ConversionSummary] = None) -> Iterator[Doc]:
    """Read MNRE lines into one doc per distinct sentence, each pair in doc._.relations.

    Every line becomes a relation (labels kept, 'None' included): a pair that appears twice
    with two labels stays twice, so the data's own disagreement is visible to training.
    A head or tail whose 'name' differs from its tokens is counted in `summary`.
    """
    path = Path(path)
    sentences: Dict[Tuple[str, ...], Dict[str, Any]] = {}
    for lineno, record in _parse(path):
        words = tuple(str(t) for t in record["token"])
        head = _position(record, "h", len(words), path, lineno)
        tail = _position(record, "t", len(words), path, lineno)
        if head == tail:
            raise InputError(
                path, lineno, f"the head and the tail are the same tokens {head}: a relation needs two entities"
            )
        _check_names(record, words, path, lineno, summary)
        entry = sentences.setdefault(words, {"line": lineno, "image": record.get("img_id"), "relations": []})
        entry["relations"].append({"head": head, "tail": tail, "label": record["relation"], "score": 1.0})
    seen_ids: Dict[str, int] = {}
    for words, entry in sentences.items():
        doc = Doc(vocab, words=list(words))
        image = entry["image"]
        doc_id = Path(image).stem if image else f"{path.name}:{entry['line']}"
        seen_ids[doc_id] = seen_ids.get(doc_id, 0) + 1
        if seen_ids[doc_id] > 1:  # a few images illustrate several sentences
            doc_id = f"{doc_id}#{seen_ids[doc_id]}"
        doc._.doc_id = doc_id
        doc._.image_id = image
        doc._.relations = entry["relations"]
        spans = {tuple(r[role]) for r in entry["relations"] for role in ("head", "tail")}
        doc.spans[SPANS_KEY] = [Span(doc, s, e, label=ENTITY_LABEL) for s, e in sorted(spans)]
        yield doc

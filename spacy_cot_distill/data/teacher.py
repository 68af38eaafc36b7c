"""The teacher's per-token distributions stored on docs, for two-stage distillation.

`cot-distill teach` writes them (`store_distribution`), a `cot_ner` trained with
`distill_from = "stored"` reads them (`read_distribution`). A doc keeps one, in
`doc._.teacher_log_probs`, as msgpack-safe values so that DocBin stores it:

    {"tags": ["O", "B-LOC", ...], "temperature": 1.0, "head": "softmax",
     "dtype": "<f4", "log_probs": <bytes of a [n_tokens, n_tags] array>}

`log_probs` is log P_teacher(tag | token) at the temperature given, one row per
token of the doc: the log-softmax of the teacher view's logits / T ("softmax"
head) or the log of the CRF's forward-backward marginals at T ("crf" head), the
distribution the KL term of joint training compares.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy
from spacy.tokens import Doc

EXTENSION = "teacher_log_probs"


@dataclass
class StoredDistribution:
    """A doc's stored teacher distribution: tags, temperature, the head that made it, [n_tokens, n_tags] log-probs."""

    tags: List[str]
    temperature: float
    head: str
    log_probs: numpy.ndarray


def doc_name(doc: Doc) -> str:
    """A doc as an error message names it: its id, else the start of its text."""
    if doc._.doc_id is not None:
        return f"doc {doc._.doc_id!r}"
    text = doc.text if len(doc.text) <= 40 else doc.text[:40] + "..."
    return f"the doc {text!r}"


def store_distribution(doc: Doc, log_probs: numpy.ndarray, tags: Sequence[str], temperature: float, head: str) -> None:
    """Store the teacher's [len(doc), len(tags)] log-probabilities on `doc` (float32)."""
    if log_probs.shape != (len(doc), len(tags)):
        raise ValueError(f"{doc_name(doc)}: {log_probs.shape} log-probabilities for {len(doc)} tokens, {len(tags)} tags")
    data = numpy.ascontiguousarray(log_probs, dtype="<f4")
    setattr(doc._, EXTENSION, {
        "tags": list(tags), "temperature": float(temperature), "head": head, "dtype": data.dtype.str,
        "log_probs": data.tobytes(),
    })


def read_distribution(doc: Doc) -> Optional[StoredDistribution]:
    """The teacher distribution stored on `doc`, None if it has none."""
    record = getattr(doc._, EXTENSION)
    if record is None:
        return None
    tags = list(record["tags"])
    log_probs = numpy.frombuffer(record["log_probs"], dtype=record["dtype"]).reshape(-1, len(tags))
    return StoredDistribution(tags, float(record["temperature"]), str(record["head"]), log_probs)

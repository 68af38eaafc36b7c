"""Two-stage distillation's middle step: a trained teacher's per-token distributions stored on a corpus's docs.

Stage one trains `cot_ner`'s teacher view alone (`configs/cot_ner_teacher.cfg`);
`teach` runs it once over the training docs and stores, on each doc, its
distribution over the tags per token (`data/teacher.py`); stage two trains a
student against those (`distill_from = "stored"`), with no teacher view in its
steps. A doc without knowledge gets the distribution of the teacher reading its
text alone, as joint training's teacher reads it; such docs are counted.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Union

from spacy.language import Language
from spacy.tokens import Doc
from wasabi import msg

from .data.docbin import read_docs, write_docs
from .data.teacher import store_distribution
from .files import check_writable
from .pipeline.distill_pipe import PREDICT_BATCH
from .pipeline.ner import CotNer


@dataclass
class TeachSummary:
    """What `teach` stored: docs, how many of them carry no knowledge, the tags, temperature and head."""

    docs: int
    without_knowledge: int
    tags: List[str]
    temperature: float
    head: str

    def print(self) -> None:
        msg.good(f"Stored the teacher's distributions on {self.docs} docs ({self.head} head, T = {self.temperature}, "
                 f"{len(self.tags)} tags)")
        if self.without_knowledge:
            msg.warn(f"{self.without_knowledge} docs carry no knowledge (no caption, no doc._.cot dimension the "
                     "teacher reads): the teacher read their text alone, as in joint training")


def find_teacher(nlp: Language, component: Optional[str] = None) -> CotNer:
    """The `cot_ner` component of `nlp` (the one named `component`), checked by `check_teacher`."""
    names = [name for name, pipe in nlp.pipeline if isinstance(pipe, CotNer)]
    if component is not None and component not in names:
        raise ValueError(f"the pipeline has no cot_ner component named {component!r} (it has {names or 'none'})")
    if component is None and len(names) != 1:
        if names:
            raise ValueError(f"the pipeline has several cot_ner components ({', '.join(names)}): give --component")
        raise ValueError("the pipeline has no cot_ner component: give one trained with configs/cot_ner_teacher.cfg")
    pipe = nlp.get_pipe(component or names[0])
    assert isinstance(pipe, CotNer)
    check_teacher(pipe)
    return pipe


def check_teacher(pipe: CotNer) -> None:
    """Raise unless the component's teacher view was trained: alone (`train_views = "teacher"`) or jointly."""
    if not pipe.cfg["distill"] or pipe.cfg["distill_from"] == "stored":
        raise ValueError(f"{pipe.name}'s teacher view was never trained (distill = false or distill_from = "
                         "\"stored\"): teach with a pipeline trained with configs/cot_ner_teacher.cfg, or a jointly "
                         "distilled one")


def teach(
    pipe: CotNer,
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    *,
    temperature: Optional[float] = None,
    batch_size: int = PREDICT_BATCH,
) -> TeachSummary:
    """Store the teacher view's per-token distributions on every doc of `input_path`, written to `output_path`.

    pipe (CotNer): A trained `cot_ner` whose teacher view was trained (see `find_teacher`).
    input_path (Union[str, Path]): The training DocBin, with the knowledge the teacher reads.
    output_path (Union[str, Path]): The DocBin to write, the same docs with `doc._.teacher_log_probs`; written
        whole or not at all, so it may be `input_path`.
    temperature (Optional[float]): T of the distributions; None: the component's. A student at another T
        re-tempers a softmax head's distribution exactly; a CRF head's marginals must be made at the student's T.
    batch_size (int): Docs per forward pass, in order of length.
    RETURNS (TeachSummary): What was stored.
    """
    check_teacher(pipe)
    temperature = pipe.cfg["temperature"] if temperature is None else temperature
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, not {temperature}")
    check_writable(output_path)
    docs = read_docs(input_path, pipe.vocab)
    summary = teach_docs(pipe, docs, temperature, batch_size)
    write_docs(output_path, docs)
    return summary


def teach_docs(
    pipe: CotNer, docs: Sequence[Doc], temperature: Optional[float] = None, batch_size: int = PREDICT_BATCH
) -> TeachSummary:
    """Store the teacher view's per-token distributions at T (None: the component's) on each doc, in place.

    The docs may be any the teacher did not train on (cross-fitting teaches each fold with another teacher).
    """
    temperature = pipe.cfg["temperature"] if temperature is None else temperature
    head = "crf" if pipe.crf is not None else "softmax"
    for doc, log_probs in zip(docs, pipe.teacher_log_probs(docs, temperature, batch_size)):
        store_distribution(doc, log_probs, pipe.tags, temperature, head)
    without = sum(1 for doc in docs if not pipe.knowledge(doc))
    return TeachSummary(len(docs), without, pipe.tags, temperature, head)

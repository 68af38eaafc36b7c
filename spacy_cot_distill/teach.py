"""Two-stage distillation's middle step: a trained teacher's per-token distributions stored on a corpus's docs.

Stage one trains `cot_ner`'s teacher view alone (`configs/cot_ner_teacher.cfg`);
`teach` runs it once over the training docs and stores, on each doc, its
distribution over the tags per token (`data/teacher.py`); stage two trains a
student against those (`distill_from = "stored"`), with no teacher view in its
steps. A doc without knowledge gets the distribution of the teacher reading its
text alone, as joint training's teacher reads it; such docs are counted.

`teacher_silver` stores the teacher's hard labels instead, as silver entities on
raw docs (`cot-distill silver --from-teacher`): the two-step recipe of the
label-efficiency study's row (p), where a stock student trains on them as gold.
"""
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Union

from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch
from wasabi import msg

from .data.docbin import BLOCK_DOCS, DocBinWriter, read_docs, stream_docs, write_docs
from .data.silver import set_silver
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


@dataclass
class TeacherSilverSummary:
    """What `teacher_silver` stored: docs, mentions per label, and what it read or left out otherwise."""

    docs: int = 0
    mentions: Counter = field(default_factory=Counter)  # label -> silver mentions stored
    dropped: Counter = field(default_factory=Counter)  # label outside the labels asked for -> mentions left out
    without_knowledge: int = 0  # docs labelled from their text alone: no knowledge for the teacher to read

    def print(self) -> None:
        labelled = ", ".join(f"{label} {n}" for label, n in sorted(self.mentions.items())) or "none"
        msg.good(f"{self.docs} docs labelled by the teacher view: {sum(self.mentions.values())} silver mentions "
                 f"({labelled})")
        if self.dropped:
            msg.info(f"Left out {sum(self.dropped.values())} mentions of labels not asked for "
                     f"({', '.join(f'{label} {n}' for label, n in sorted(self.dropped.items()))})")
        if self.without_knowledge:
            msg.warn(f"{self.without_knowledge} docs carry no knowledge the teacher reads (no caption, no doc._.cot "
                     "dimension it reads): they were labelled from their text alone")


def teacher_silver(
    pipe: CotNer,
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    labels: Optional[Sequence[str]] = None,
) -> TeacherSilverSummary:
    """Label each doc of `input_path` with the teacher view's entities, reading the doc's knowledge, stored as silver.

    The entities go to `doc.spans["silver_ents"]`, gold `doc.ents` untouched: they train as gold only where the
    reader is told to (`silver_as_gold`), on docs without gold, and are never scored. A doc without knowledge is
    labelled from its text alone, as `use_knowledge_at_inference` predicts (by the student view after joint
    training, by the teacher after stage one of two-stage); such docs are counted.

    pipe (CotNer): A trained `cot_ner` whose teacher view was trained (see `find_teacher`).
    input_path (Union[str, Path]): A DocBin of raw (or any) docs with their knowledge, read a block at a time.
    output_path (Union[str, Path]): The DocBin to write, written whole at the end or not at all; may be the input.
    labels (Optional[Sequence[str]]): The labels to keep, among the component's; None: all of them.
    RETURNS (TeacherSilverSummary): What was stored.
    """
    check_teacher(pipe)
    unknown = sorted(set(labels or ()) - set(pipe.labels))
    if unknown:
        raise ValueError(f"{pipe.name} predicts {', '.join(pipe.labels)}, not {', '.join(unknown)}: give --labels "
                         "among those, or leave it out to keep every label")
    keep = set(labels or pipe.labels)
    docs = stream_docs(input_path, pipe.vocab)  # a missing or broken input fails here
    check_writable(output_path)
    summary = TeacherSilverSummary()
    with DocBinWriter(output_path) as output:
        for block in minibatch(docs, BLOCK_DOCS):
            for doc, spans in zip(block, pipe.entities(block, pipe.predict(block, use_knowledge=True))):
                summary.dropped.update(span.label_ for span in spans if span.label_ not in keep)
                spans = [span for span in spans if span.label_ in keep]
                summary.mentions.update(span.label_ for span in spans)
                set_silver(doc, spans)
                summary.docs += 1
                summary.without_knowledge += not pipe.knowledge(doc)
            output.add(block)
    return summary

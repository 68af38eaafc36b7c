"""The `cot_rel` component: relation extraction trained by conditional prompt distillation, text-only at inference."""
import random
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
import torch
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.vocab import Vocab
from thinc.api import Config, Model

from ..data.spans import align_span
from ..models.rel_model import RelViews  # the model's input; importing it registers the default architectures
from .distill_pipe import DistillationPipe, Row
from .label_types import LabelTypes, allowed_labels
from .pairs import Candidates, Pair
from .settings import DISTILL_DEFAULTS, DistillSettings
from .teacher_text import pair_knowledge

DEFAULT_MODEL = Config().from_str(
    """
[model]
@architectures = "spacy_cot_distill.CotRelModel.v2"
encoder = "sentence-transformers/all-MiniLM-L6-v2"
m = 8
encoding = "per_sentence"
"""
)["model"]


@Language.factory(
    "cot_rel",
    assigns=["doc._.relations"],
    default_config={
        "model": DEFAULT_MODEL,
        "candidates": {"@misc": "spacy_cot_distill.GoldPairs.v1"},
        "none_label": "None",
        "threshold": 0.0,
        "output_none": False,
        "max_none_pairs": 2,
        **DISTILL_DEFAULTS,
        "label_types": None,
        "scorer": {"@scorers": "spacy_cot_distill.rel_scorer.v1"},
    },
    default_score_weights={
        "rel_micro_f": 1.0,
        "rel_micro_p": 0.0,
        "rel_micro_r": 0.0,
        "rel_acc": 0.0,
        "rel_per_label": None,
    },
)
def make_cot_rel(
    nlp: Language,
    name: str,
    model: Model,
    candidates: Candidates,
    none_label: str,
    threshold: float,
    output_none: bool,
    max_none_pairs: int,
    alpha: float,
    temperature: float,
    cot_dims: Optional[List[str]],
    use_caption: bool,
    max_length: int,
    teacher_max_length: int,
    answer_sections: Optional[List[str]],
    segment_max_length: int,
    distill: bool,
    use_knowledge_at_inference: bool,
    train_views: str,
    distill_from: str,
    scorer: Optional[Callable],
    label_types: Optional[LabelTypes] = None,
    dims: Optional[List[str]] = None,
) -> "CotRel":
    """Create a `cot_rel` component: relations between candidate pairs from an encoder distilled from CoT knowledge.

    model (Model[DocViews, List[torch.Tensor]]): The network, e.g. `spacy_cot_distill.CotRelModel.v2`.
    candidates (Callable[[Doc], List[Pair]]): The (head, tail) pairs to classify in a doc, e.g. GoldPairs or EntityPairs.
    none_label (str): The label of a pair with no relation; learnt like the others, never written unless output_none.
    threshold (float): The lowest probability of a relation written to doc._.relations (below it: none_label).
    output_none (bool): Write every candidate, those with no relation as none_label.
    max_none_pairs (int): Training only: how many candidates no gold record names are learnt as none_label per doc (a
        random sample; 0: all).
    alpha ... distill_from: The distillation settings, the fields of `DistillSettings`, each described there.
    scorer (Optional[Callable]): The scoring method, `spacy_cot_distill.rel_scorer.v1` by default.
    label_types (Optional[Callable[[str], Optional[Tuple[str, str]]]]): A label's (head type, tail type), e.g.
        `spacy_cot_distill.LabelTypesFromNames.v1`: labels that the pair's entity types rule out get no probability.
    dims (Optional[List[str]]): The old name of cot_dims, read from pipelines saved before the rename.
    """
    return CotRel(
        nlp.vocab,
        model,
        name,
        candidates=candidates,
        none_label=none_label,
        threshold=threshold,
        output_none=output_none,
        max_none_pairs=max_none_pairs,
        settings=DistillSettings.from_args(locals()),
        scorer=scorer,
        label_types=label_types,
    )

class CotRel(DistillationPipe):
    """Relations between candidate pairs, from the student view (soft prompts + marked text) of a distilled encoder.

    The mentions of a doc's candidate pairs are marked in its text; with the
    model's `encoding = "per_sentence"` each window of a doc is one encoder
    input for all the pairs in it, with "per_pair" each pair is one input. A
    pair's head and tail start markers' vectors feed a linear layer over all
    labels, `none_label` included. Training adds the teacher view (marked text +
    caption + the `cot_dims` dimensions, all if None, of the pair's own
    knowledge, relation["cot"] as `generate --task rel` writes it, or else of
    doc._.cot) and the loss
    `alpha*(CE_teacher + CE_student) + (1-alpha)*T^2*KL(teacher || student)` per pair.

    Training rows are every gold record of the reference (a pair the data labels
    twice trains on both records: the two labels share the target, the data's
    own disagreement) plus the candidates proposed on the predicted doc that no
    gold record names, as `none_label`: a random sample of `max_none_pairs` per doc
    (0: all; spaCy's training seed makes it repeatable). So with `EntityPairs`
    and an upstream NER in `annotating_components`, the pairs of predicted
    entities are learnt too, and an untrained NER's flood of entities does not
    swamp the batch.

    Output: doc._.relations = the candidates whose best label is not
    `none_label` and whose probability reaches `threshold`, as
    {"head", "tail", "label", "score"}; with `output_none`, every candidate
    (those below the threshold as `none_label`). Inference reads nothing from
    doc._.cot unless `use_knowledge_at_inference`. A row is a candidate pair.

    With `label_types`, a label whose argument types contradict the pair's
    entity labels (a PER-LOC pair and `/per/org/member_of`) gets no probability,
    in training (the gold label excepted) and at inference.
    """

    # pairs per forward pass in training: bounds the memory when an upstream NER proposes many pairs
    train_chunk = 64
    no_labels = "found no relation labels: give labels or examples with labelled doc._.relations"

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "cot_rel",
        *,
        candidates: Candidates,
        none_label: str = "None",
        threshold: float = 0.0,
        output_none: bool = False,
        max_none_pairs: int = 2,
        label_types: Optional[LabelTypes] = None,
        settings: Optional[DistillSettings] = None,
        scorer: Optional[Callable] = None,
    ):
        """Create a `cot_rel` component; `settings`: the distillation settings (None: the defaults)."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be within [0, 1], not {threshold}")
        if max_none_pairs < 0:
            raise ValueError(f"max_none_pairs must be 0 (no cap) or more, not {max_none_pairs}")
        if settings is not None and settings.distill_from == "stored":
            raise ValueError('cot_rel has no stored teacher distributions to distil from (`cot-distill teach` writes '
                             'cot_ner\'s): use distill_from = "joint"')
        super().__init__(
            vocab,
            model,
            name,
            none_label=none_label,
            threshold=threshold,
            output_none=output_none,
            max_none_pairs=max_none_pairs,
            settings=settings,
            scorer=scorer,
        )
        self.candidates = candidates
        self.label_types = label_types

    @property
    def outputs(self) -> List[str]:
        return list(self.labels)

    def _label_order(self, labels: Iterable[str]) -> List[str]:
        none = self.cfg["none_label"]
        return [none] + sorted(set(labels) - {none})

    def _example_labels(self, example: Example) -> Iterable[str]:
        return [relation["label"] for relation in example.reference._.relations]

    def _rows(self, doc: Doc) -> List[Row]:
        return list(self.candidates(doc))

    def _views(self, docs: Sequence[Doc], knowledge_docs: Sequence[Doc], rows: Sequence[Row], *, teacher: bool,
               student: bool, doc_rows: Optional[Dict[int, Sequence[Row]]] = None) -> RelViews:
        """The pairs' views, each doc laid out from all its pairs in the call (`doc_rows`) and its other candidates."""
        views = super()._views(docs, knowledge_docs, rows, teacher=teacher, student=student)
        doc_rows = doc_rows or {}
        in_call = {id(doc): doc for doc in docs if id(doc) in doc_rows}
        doc_pairs: Dict[int, Sequence[Pair]] = {key: self._doc_pairs(doc, doc_rows[key]) for key, doc in in_call.items()}
        return RelViews(**vars(views), pairs=list(rows), doc_pairs=doc_pairs)

    def _doc_pairs(self, doc: Doc, rows: Sequence[Row]) -> List[Pair]:
        """The rows and the doc's other candidates: training marks the mentions that inference marks."""
        return list(dict.fromkeys([*rows, *self.candidates(doc)]))

    def _row_knowledge(self, docs: Sequence[Doc], knowledge_docs: Sequence[Doc], rows: Sequence[Row]) -> List[List[str]]:
        """Each pair's teacher text: the "cot" of its relation in the knowledge doc where it has one, else doc._.cot."""
        found: Dict[int, Dict[Pair, Dict[str, str]]] = {}
        segments = []
        for doc, known, pair in zip(docs, knowledge_docs, rows):
            if id(known) not in found:
                found[id(known)] = pair_knowledge(known, doc)
            segments.append(self.knowledge(known, found[id(known)].get(pair)))
        return segments

    def _constrain(
        self, logits: torch.Tensor, docs: Sequence[Doc], rows: Sequence[Row], gold: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Logits of labels that the pair's entity types rule out pushed to -1e4 (finite: the KL stays defined)."""
        if self.label_types is None:
            return logits
        ents: Dict[int, Dict[Tuple[int, int], str]] = {}
        types = []
        for doc, (head, tail) in zip(docs, rows):
            spans = ents.setdefault(id(doc), {(ent.start, ent.end): ent.label_ for ent in doc.ents})
            types.append((spans.get(tuple(head)), spans.get(tuple(tail))))
        allowed = allowed_labels(self.label_types, self.labels, types)
        if gold is not None:  # the data's own label is learnt even where the types disagree
            allowed[torch.arange(len(types)), gold] = True
        return logits.masked_fill(~allowed.to(logits.device), -1e4)

    def _decode(self, logits: torch.Tensor, docs: Sequence[Doc], rows: Sequence[Row]) -> List[numpy.ndarray]:
        """Label probabilities per pair."""
        return list(torch.softmax(logits.float(), dim=-1).cpu().numpy())

    def _doc_guess(self, guesses: List[Tuple[Row, Any]]) -> List[Tuple[Pair, numpy.ndarray]]:
        return sorted(guesses, key=lambda guess: guess[0])

    def set_annotations(self, docs: Iterable[Doc], guesses: List[List[Tuple[Pair, numpy.ndarray]]]) -> None:
        """Write the predicted relations to doc._.relations (replacing the candidates given there)."""
        labels, none = self.labels, self.cfg["none_label"]
        for doc, guess in zip(docs, guesses):
            relations = []
            for (head, tail), probs in guess:
                best = int(probs.argmax())
                label, score = labels[best], float(probs[best])
                if label != none and score < self.cfg["threshold"]:
                    label, score = none, float(probs[labels.index(none)])
                if label != none or self.cfg["output_none"]:
                    relations.append({"head": list(head), "tail": list(tail), "label": label, "score": score})
            doc._.relations = relations

    def _targets(self, example: Example) -> List[Tuple[Row, List[Optional[str]]]]:
        return [(pair, [label]) for pair, label in self._training_rows(example)]

    def _unannotated(self, example: Example) -> bool:
        """A reference whose relations nobody annotated (`doc._.relations_annotated` false): no pair is `none_label`."""
        return not example.reference._.relations_annotated

    def _training_rows(self, eg: Example) -> List[Tuple[Pair, Optional[str]]]:
        """(pair on the predicted doc, gold label): every gold record, then the other candidates as `none_label`, or
        without a label (None: the teacher's KL alone) where the doc's relations were not annotated.

        A gold record whose spans fit no predicted token boundary cannot be
        read and carries no loss; a label unseen at initialize is masked out later.
        """
        rows: List[Tuple[Pair, Optional[str]]] = []
        for relation in eg.reference._.relations:
            head = align_span(eg.reference, relation["head"], eg.predicted)
            tail = align_span(eg.reference, relation["tail"], eg.predicted)
            if head is not None and tail is not None:
                rows.append(((head, tail), relation["label"]))
        gold = {pair for pair, _ in rows}
        others = [pair for pair in self.candidates(eg.predicted) if pair not in gold]
        if 0 < self.cfg["max_none_pairs"] < len(others):
            # a sample, not the nearest: inference asks about every candidate, far ones included
            others = random.sample(others, self.cfg["max_none_pairs"])
        other = None if self._unannotated(eg) else self.cfg["none_label"]
        rows.extend((pair, other) for pair in others)
        return rows


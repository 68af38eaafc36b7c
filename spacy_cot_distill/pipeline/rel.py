"""The `cot_rel` component: relation extraction trained by conditional prompt distillation, text-only at inference."""
import random
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
import torch
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model

from ..models.distill import distillation_loss
from ..models.encoder import torch_module
from ..models.pair_views import build_pair_view
from ..models.rel_model import RelInputs
from ..models.views import knowledge_ids, word_pieces
from .distill_pipe import DistillationPipe
from .label_types import LabelTypes, allowed_labels
from .pairs import Candidates, Pair, align_span

DEFAULT_MODEL = Config().from_str(
    """
[model]
@architectures = "spacy_cot_distill.CotRelModel.v1"
encoder = "sentence-transformers/all-MiniLM-L6-v2"
m = 8
"""
)["model"]

# candidate pairs per forward pass at inference, and in training
PREDICT_BATCH = 64
TRAIN_CHUNK = 64


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
        "alpha": 0.5,
        "temperature": 1.0,
        "dims": None,
        "use_caption": True,
        "max_length": 128,
        "distill": True,
        "use_knowledge_at_inference": False,
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
    dims: Optional[List[str]],
    use_caption: bool,
    max_length: int,
    distill: bool,
    use_knowledge_at_inference: bool,
    label_types: Optional[LabelTypes],
    scorer: Optional[Callable],
) -> "CotRel":
    """Create a `cot_rel` component (see `CotRel`)."""
    return CotRel(
        nlp.vocab,
        model,
        name,
        candidates=candidates,
        none_label=none_label,
        threshold=threshold,
        output_none=output_none,
        max_none_pairs=max_none_pairs,
        alpha=alpha,
        temperature=temperature,
        dims=dims,
        use_caption=use_caption,
        max_length=max_length,
        distill=distill,
        use_knowledge_at_inference=use_knowledge_at_inference,
        label_types=label_types,
        scorer=scorer,
    )


class CotRel(DistillationPipe):
    """Relations between candidate pairs, from the student view (soft prompts + marked text) of a distilled encoder.

    Each candidate pair is one encoder input, its head and tail marked; the two
    start markers' vectors feed a linear layer over all labels, `none_label`
    included. Training adds the teacher view (marked text + caption + the
    `doc._.cot` dimensions `dims`, all if None) and the loss
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
    doc._.cot unless `use_knowledge_at_inference`.

    With `label_types` (e.g. `LabelTypesFromNames.v1`), a label whose argument
    types contradict the pair's entity labels (a PER-LOC pair and
    `/per/org/member_of`) gets no probability, in training (the gold label
    excepted) and at inference.
    """

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
        alpha: float = 0.5,
        temperature: float = 1.0,
        dims: Optional[List[str]] = None,
        use_caption: bool = True,
        max_length: int = 128,
        distill: bool = True,
        use_knowledge_at_inference: bool = False,
        label_types: Optional[LabelTypes] = None,
        scorer: Optional[Callable] = None,
    ):
        self.check_settings(alpha, temperature)
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be within [0, 1], not {threshold}")
        if max_none_pairs < 0:
            raise ValueError(f"max_none_pairs must be 0 (no cap) or more, not {max_none_pairs}")
        if max_length < model.attrs["m"] + 2 + 4:
            raise ValueError(f"max_length ({max_length}) leaves no room for the 4 markers after {model.attrs['m']} prompts")
        self.vocab = vocab
        self.model = model
        self.name = name
        self.candidates = candidates
        self.label_types = label_types
        self.scorer = scorer
        self.cfg = {
            "labels": [],
            "none_label": none_label,
            "threshold": threshold,
            "output_none": output_none,
            "max_none_pairs": max_none_pairs,
            "alpha": alpha,
            "temperature": temperature,
            "dims": dims,
            "use_caption": use_caption,
            "max_length": max_length,
            "distill": distill,
            "use_knowledge_at_inference": use_knowledge_at_inference,
        }

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self.cfg["labels"])

    def add_label(self, label: str) -> int:
        """Add a relation label before `initialize`."""
        if label in self.cfg["labels"]:
            return 0
        self._allow_extra_label()
        self.cfg["labels"] = self._label_order([*self.cfg["labels"], label])
        return 1

    def _label_order(self, labels: Iterable[str]) -> List[str]:
        none = self.cfg["none_label"]
        return [none] + sorted(set(labels) - {none})

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[List[str]] = None,
    ) -> None:
        """Load the pretrained encoder and size the head for the labels given or seen in the examples (plus `none_label`)."""
        validate_get_examples(get_examples, "CotRel.initialize")
        if labels is None:
            labels = {r["label"] for eg in get_examples() for r in eg.reference._.relations}
        self.cfg["labels"] = self._label_order(labels)
        if len(self.labels) < 2:
            raise ValueError("cot_rel found no relation labels: give labels or examples with labelled doc._.relations")
        self.model.set_dim("nO", len(self.labels), force=True)
        self.model.initialize()

    def predict(self, docs: Iterable[Doc]) -> List[List[Tuple[Pair, numpy.ndarray]]]:
        """Each doc's candidate pairs with their label probabilities."""
        docs = list(docs)
        rows: Dict[bool, List[Tuple[int, Pair]]] = {False: [], True: []}
        for i, doc in enumerate(docs):
            teacher = self.cfg["use_knowledge_at_inference"] and bool(self.knowledge(doc))
            rows[teacher].extend((i, pair) for pair in self.candidates(doc))
        guesses: List[List[Tuple[Pair, numpy.ndarray]]] = [[] for _ in docs]
        pieces: Dict[int, List[List[int]]] = {}
        for teacher, group in rows.items():
            group.sort(key=lambda row: len(docs[row[0]]))
            for start in range(0, len(group), PREDICT_BATCH):
                batch = group[start : start + PREDICT_BATCH]
                pair_docs = [docs[i] for i, _ in batch]
                inputs = self._inputs(
                    pair_docs, pair_docs, [pair for _, pair in batch], teacher=teacher, student=not teacher, pieces=pieces
                )
                logits = self._mask_types(self.model.predict(inputs.to(self._device()))[0], pair_docs, [p for _, p in batch])
                probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
                for (i, pair), p in zip(batch, probs):
                    guesses[i].append((pair, p))
        for guess in guesses:
            guess.sort(key=lambda row: row[0])
        return guesses

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

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Callable] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a batch: both views' cross-entropy and the teacher-to-student KL, per pair."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "CotRel.update")
        pair_docs, knowledge_docs, pairs, gold = [], [], [], []
        for eg in examples:
            for pair, label in self._training_rows(eg):
                pair_docs.append(eg.predicted)
                knowledge_docs.append(eg.reference)
                pairs.append(pair)
                gold.append(label)
        index = {label: i for i, label in enumerate(self.labels)}
        mask = torch.tensor([label in index for label in gold], dtype=torch.bool)
        if not bool(mask.any()):
            return losses
        gold_ids = torch.tensor([index.get(label, 0) for label in gold], dtype=torch.long)
        distill = self.cfg["distill"]
        device = self._device()
        n_rows = int(mask.sum())
        total = 0.0
        pieces: Dict[int, List[List[int]]] = {}
        # chunks bound the memory when an upstream NER proposes many pairs; gradients add up until finish_update
        for start in range(0, len(pairs), TRAIN_CHUNK):
            chunk = slice(start, start + TRAIN_CHUNK)
            if not bool(mask[chunk].any()):
                continue
            inputs = self._inputs(
                pair_docs[chunk], knowledge_docs[chunk], pairs[chunk], teacher=distill, student=True, pieces=pieces
            )
            outputs, backprop = self.model.begin_update(inputs.to(device))
            outputs = [self._mask_types(o, pair_docs[chunk], pairs[chunk], gold_ids[chunk]) for o in outputs]
            loss = distillation_loss(
                outputs[1] if distill else None,
                outputs[0],
                gold_ids[chunk].to(device),
                mask[chunk].to(device),
                self.cfg["alpha"],
                self.cfg["temperature"],
            ) * (int(mask[chunk].sum()) / n_rows)
            backprop(loss)
            total += float(loss.detach())
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += total
        return losses

    def _training_rows(self, eg: Example) -> List[Tuple[Pair, str]]:
        """(pair on the predicted doc, gold label): every gold record, then the other candidates as `none_label`.

        A gold record whose spans fit no predicted token boundary cannot be
        read and carries no loss; a label unseen at initialize is masked out later.
        """
        rows: List[Tuple[Pair, str]] = []
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
        rows.extend((pair, self.cfg["none_label"]) for pair in others)
        return rows

    def _mask_types(
        self, logits: torch.Tensor, docs: Sequence[Doc], pairs: Sequence[Pair], gold_ids: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """The logits, those of labels that the pair's entity types rule out pushed to -1e4 (finite: the KL stays defined)."""
        if self.label_types is None:
            return logits
        ents: Dict[int, Dict[Tuple[int, int], str]] = {}
        types = []
        for doc, (head, tail) in zip(docs, pairs):
            spans = ents.setdefault(id(doc), {(ent.start, ent.end): ent.label_ for ent in doc.ents})
            types.append((spans.get(head), spans.get(tail)))
        allowed = allowed_labels(self.label_types, self.labels, types)
        if gold_ids is not None:  # the data's own label is learnt even where the types disagree
            allowed[torch.arange(len(types)), gold_ids] = True
        return logits.masked_fill(~allowed.to(logits.device), -1e4)

    def _inputs(
        self,
        docs: Sequence[Doc],
        knowledge_docs: Sequence[Doc],
        pairs: Sequence[Pair],
        *,
        teacher: bool,
        student: bool,
        pieces: Dict[int, List[List[int]]],
    ) -> RelInputs:
        """The student view (prompts + marked text) and/or the teacher view (marked text + knowledge), one row per pair.

        `pieces` caches each doc's sub-tokens by id(doc) across the batches of
        one call: a long doc is tokenized once, not once per batch of its pairs.
        """
        tokenizer = torch_module(self.model).tokenizer
        markers = tuple(tokenizer.convert_tokens_to_ids(self.model.attrs["markers"]))
        max_length, m = self.cfg["max_length"], self.model.attrs["m"]
        budget = max_length - m - 2  # the student's room for text; the teacher reads the same marked text
        for doc in docs:
            if id(doc) not in pieces:
                pieces[id(doc)] = word_pieces(tokenizer, [token.text for token in doc])
        views, heads, tails = [], [], []
        if student:
            rows = [(pieces[id(doc)], head, tail, None) for doc, (head, tail) in zip(docs, pairs)]
            view, heads, tails = build_pair_view(tokenizer, rows, markers, max_length - m, budget, True)
            views.append(view)
        if teacher:
            known: Dict[int, List[int]] = {}
            for doc in knowledge_docs:
                if id(doc) not in known:
                    known[id(doc)] = knowledge_ids(tokenizer, self.knowledge(doc))
            rows = [
                (pieces[id(doc)], head, tail, known[id(kdoc)])
                for doc, kdoc, (head, tail) in zip(docs, knowledge_docs, pairs)
            ]
            view, heads, tails = build_pair_view(tokenizer, rows, markers, max_length, budget, False)
            views.append(view)
        return RelInputs(views, heads, tails)

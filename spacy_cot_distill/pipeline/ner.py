"""The `cot_ner` component: NER trained by conditional prompt distillation, text-only at inference."""
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
import torch
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example, biluo_tags_to_spans, iob_to_biluo, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model

from ..models.bio import bio_tags, start_scores, transition_scores, viterbi
from ..models.distill import distillation_loss
from ..models.encoder import torch_module
from ..models.ner_model import NerInputs
from ..models.views import build_view, knowledge_ids, windows, word_pieces
from .distill_pipe import DistillationPipe

DEFAULT_MODEL = Config().from_str(
    """
[model]
@architectures = "spacy_cot_distill.CotNerModel.v1"
encoder = "sentence-transformers/all-MiniLM-L6-v2"
m = 8
pooling = "first"
"""
)["model"]

# docs per forward pass at inference, sorted by length so that little is padding
PREDICT_BATCH = 64


@Language.factory(
    "cot_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type"],
    default_config={
        "model": DEFAULT_MODEL,
        "alpha": 0.5,
        "temperature": 1.0,
        "dims": None,
        "use_caption": True,
        "max_length": 128,
        "distill": True,
        "use_knowledge_at_inference": False,
        "scorer": {"@scorers": "spacy.ner_scorer.v1"},
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_cot_ner(
    nlp: Language,
    name: str,
    model: Model,
    alpha: float,
    temperature: float,
    dims: Optional[List[str]],
    use_caption: bool,
    max_length: int,
    distill: bool,
    use_knowledge_at_inference: bool,
    scorer: Optional[Callable],
) -> "CotNER":
    """Create a `cot_ner` component (see `CotNER`)."""
    return CotNER(
        nlp.vocab,
        model,
        name,
        alpha=alpha,
        temperature=temperature,
        dims=dims,
        use_caption=use_caption,
        max_length=max_length,
        distill=distill,
        use_knowledge_at_inference=use_knowledge_at_inference,
        scorer=scorer,
    )


class CotNER(DistillationPipe):
    """Named entities from the student view (soft prompts + text) of an encoder distilled from CoT knowledge.

    Training reads each example's text twice: the teacher view adds the image
    caption and the `doc._.cot` dimensions `dims` (all, if None) after the text,
    the student view puts the prompt generator's `m` soft prompts before it.
    The loss is `alpha*(CE_teacher + CE_student) + (1-alpha)*T^2*KL(teacher || student)`;
    with `distill` off only the student is trained. Inference uses the student
    view, so it needs no knowledge; `use_knowledge_at_inference` switches docs
    that carry knowledge to the teacher view (the upper bound).
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "cot_ner",
        *,
        alpha: float = 0.5,
        temperature: float = 1.0,
        dims: Optional[List[str]] = None,
        use_caption: bool = True,
        max_length: int = 128,
        distill: bool = True,
        use_knowledge_at_inference: bool = False,
        scorer: Optional[Callable] = None,
    ):
        self.check_settings(alpha, temperature)
        if max_length <= model.attrs["m"] + 3:
            raise ValueError(f"max_length ({max_length}) leaves no room for text after {model.attrs['m']} prompts")
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg = {
            "labels": [],
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

    @property
    def tags(self) -> List[str]:
        return bio_tags(self.labels)

    def add_label(self, label: str) -> int:
        """Add an entity label before `initialize`."""
        if label in self.cfg["labels"]:
            return 0
        self._allow_extra_label()
        self.cfg["labels"] = sorted([*self.cfg["labels"], label])
        return 1

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[List[str]] = None,
    ) -> None:
        """Load the pretrained encoder and size the head for the labels given or seen in the examples."""
        validate_get_examples(get_examples, "CotNER.initialize")
        if labels is None:
            labels = {ent.label_ for eg in get_examples() for ent in eg.reference.ents}
        if not labels:
            raise ValueError("cot_ner found no entity labels: give labels or examples with doc.ents")
        self.cfg["labels"] = sorted(labels)
        self.model.set_dim("nO", len(self.tags), force=True)
        self.model.initialize()

    def predict(self, docs: Iterable[Doc]) -> List[List[int]]:
        """Best valid BIO tag ids per token of each doc."""
        docs = list(docs)
        guesses: List[List[int]] = [[] for _ in docs]
        groups: Dict[bool, List[int]] = {False: [], True: []}
        for i, doc in enumerate(docs):
            if len(doc):
                teacher = self.cfg["use_knowledge_at_inference"] and bool(self.knowledge(doc))
                groups[teacher].append(i)
        for teacher, indices in groups.items():
            indices.sort(key=lambda i: len(docs[i]))
            for start in range(0, len(indices), PREDICT_BATCH):
                batch = indices[start : start + PREDICT_BATCH]
                batch_docs = [docs[i] for i in batch]
                inputs = self._inputs(batch_docs, batch_docs, teacher=teacher, student=not teacher)
                logits = self.model.predict(inputs.to(self._device()))[0]
                for i, tag_ids in zip(batch, self._decode(logits, batch_docs)):
                    guesses[i] = tag_ids
        return guesses

    def set_annotations(self, docs: Iterable[Doc], tag_ids: List[List[int]]) -> None:
        """Write the entities of the predicted tags to doc.ents."""
        tags = self.tags
        for doc, ids in zip(docs, tag_ids):
            doc.ents = biluo_tags_to_spans(doc, iob_to_biluo([tags[i] for i in ids]))

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Callable] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a batch: both views' cross-entropy and the teacher-to-student KL."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = [eg for eg in examples if len(eg.predicted)]
        validate_examples(examples, "CotNER.update")
        if not examples:
            return losses
        gold, mask = self._gold(examples)
        distill = self.cfg["distill"]
        inputs = self._inputs(
            [eg.predicted for eg in examples],
            [eg.reference for eg in examples],
            teacher=distill,
            student=True,
        )
        device = self._device()
        outputs, backprop = self.model.begin_update(inputs.to(device))
        loss = distillation_loss(
            outputs[1] if distill else None,
            outputs[0],
            gold.to(device),
            mask.to(device),
            self.cfg["alpha"],
            self.cfg["temperature"],
        )
        backprop(loss)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += float(loss.detach())
        return losses

    def _inputs(self, docs: Sequence[Doc], knowledge_docs: Sequence[Doc], *, teacher: bool, student: bool) -> NerInputs:
        """The student view (prompts + text) and/or the teacher view (text + knowledge) of docs."""
        module = torch_module(self.model)
        tokenizer = module.tokenizer
        max_length = self.cfg["max_length"]
        m, pooling = self.model.attrs["m"], self.model.attrs["pooling"]
        budget = max_length - m - 2  # the student's room for text; the teacher reads the same windows
        texts = []
        for doc in docs:
            pieces = word_pieces(tokenizer, [token.text for token in doc])
            texts.append((pieces, windows(pieces, budget)))
        views = []
        if student:
            views.append(build_view(tokenizer, [(p, w, None) for p, w in texts], max_length - m, budget, True, pooling))
        if teacher:
            known = [knowledge_ids(tokenizer, self.knowledge(doc)) for doc in knowledge_docs]
            views.append(
                build_view(tokenizer, [(p, w, k) for (p, w), k in zip(texts, known)], max_length, budget, False, pooling)
            )
        buckets = self.model.attrs["shape_buckets"]
        shape_ids = torch.tensor([token.shape % buckets for doc in docs for token in doc], dtype=torch.long)
        return NerInputs(views, shape_ids)

    def _gold(self, examples: Sequence[Example]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Gold tag ids per predicted token, and a mask that is 0 where the gold tag is unknown."""
        index = {tag: i for i, tag in enumerate(self.tags)}
        gold: List[int] = []
        mask: List[bool] = []
        for eg in examples:
            for tag in eg.get_aligned_ner():
                # BILUO -> BIO; None (misaligned), "-" (missing) and unseen labels carry no loss
                bio = None if tag in (None, "-") else tag if tag == "O" else {"U": "B", "L": "I"}.get(tag[0], tag[0]) + tag[1:]
                gold.append(index.get(bio, 0))
                mask.append(bio in index)
        return torch.tensor(gold, dtype=torch.long), torch.tensor(mask, dtype=torch.bool)

    def _decode(self, logits: torch.Tensor, docs: Sequence[Doc]) -> List[List[int]]:
        tags = self.tags
        transitions, start = transition_scores(tags), start_scores(tags)
        log_probs = torch.log_softmax(logits.float(), dim=-1).cpu().numpy()
        offsets = numpy.cumsum([0] + [len(doc) for doc in docs])
        return [viterbi(log_probs[a:b], transitions, start) for a, b in zip(offsets[:-1], offsets[1:])]

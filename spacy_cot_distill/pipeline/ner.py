"""The `cot_ner` component: NER trained by conditional prompt distillation, text-only at inference."""
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple

import numpy
import torch
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example, biluo_tags_to_spans, iob_to_biluo
from spacy.vocab import Vocab
from thinc.api import Config, Model

from ..data.teacher import doc_name, read_distribution
from ..models.bio import NEG, bio_tags, start_scores, transition_scores, viterbi_batch
from ..models.crf import LinearChainCRF, crf_distillation_loss, length_mask, pad_rows
from ..models.distill import teacher_log_probs
from ..models.ner_model import crf_of
from .distill_pipe import PREDICT_BATCH, DistillationPipe, Row
from .settings import DISTILL_DEFAULTS, DistillSettings

DEFAULT_MODEL = Config().from_str(
    """
[model]
@architectures = "spacy_cot_distill.CotNerModel.v1"
encoder = "sentence-transformers/all-MiniLM-L6-v2"
m = 8
pooling = "first"
"""
)["model"]


@Language.factory(
    "cot_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type"],
    default_config={"model": DEFAULT_MODEL, **DISTILL_DEFAULTS, "scorer": {"@scorers": "spacy.ner_scorer.v1"}},
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_cot_ner(
    nlp: Language,
    name: str,
    model: Model,
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
    dims: Optional[List[str]] = None,
) -> "CotNer":
    """Create a `cot_ner` component: named entities from an encoder distilled from chain-of-thought knowledge.

    model (Model[DocViews, List[torch.Tensor]]): The network, e.g. `spacy_cot_distill.CotNerModel.v1`.
    alpha ... distill_from: The distillation settings, the fields of `DistillSettings`, each described there.
    scorer (Optional[Callable]): The scoring method, spaCy's NER scorer by default.
    dims (Optional[List[str]]): The old name of cot_dims, read from pipelines saved before the rename.
    """
    return CotNer(nlp.vocab, model, name, settings=DistillSettings.from_args(locals()), scorer=scorer)

class CotNer(DistillationPipe):
    """Named entities from the student view (soft prompts + text) of an encoder distilled from CoT knowledge.

    Training reads each example's text twice: the teacher view adds the image
    caption and the `doc._.cot` dimensions `cot_dims` (all, if None) after the
    text, the student view puts the prompt generator's `m` soft prompts before it.
    The loss is `alpha*(CE_teacher + CE_student) + (1-alpha)*T^2*KL(teacher || student)`;
    with `distill` off only the student is trained. Inference uses the student
    view, so it needs no knowledge; `use_knowledge_at_inference` switches docs
    that carry knowledge to the teacher view (the upper bound). A row is a doc;
    whitespace tokens are never part of an entity, as in spaCy's `ner`. With the
    model's "crf" head the cross-entropies are CRF negative log-likelihoods and
    the KL compares the CRF's per-token marginals (see `crf_distillation_loss`).

    Two-stage distillation: `train_views = "teacher"` trains the teacher view
    alone; `teacher_log_probs` (the `cot-distill teach` command) stores its
    per-token distributions on the training docs; `distill_from = "stored"`
    trains a student against them with no teacher view:
    `alpha*CE_student + (1-alpha)*T^2*KL(stored || student)`.
    """

    no_labels = "found no entity labels: give labels or examples with doc.ents"

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "cot_ner",
        *,
        settings: Optional[DistillSettings] = None,
        scorer: Optional[Callable] = None,
    ):
        """Create a `cot_ner` component; `settings`: the distillation settings (None: the defaults)."""
        super().__init__(vocab, model, name, settings=settings, scorer=scorer)

    @property
    def tags(self) -> List[str]:
        return bio_tags(self.labels)

    @property
    def outputs(self) -> List[str]:
        return self.tags

    def _example_labels(self, example: Example) -> Iterable[str]:
        return [ent.label_ for ent in example.reference.ents]

    def _rows(self, doc: Doc) -> List[Row]:
        return [None] if len(doc) else []

    def _row_knowledge(self, docs: Sequence[Doc], knowledge_docs: Sequence[Doc], rows: Sequence[Row]) -> List[List[str]]:
        return [self.knowledge(doc) for doc in knowledge_docs]

    def _doc_guess(self, guesses: List[Tuple[Row, Any]]) -> List[int]:
        return guesses[0][1] if guesses else []

    def set_annotations(self, docs: Iterable[Doc], tag_ids: List[List[int]]) -> None:
        """Write the entities of the predicted tags to doc.ents."""
        docs = list(docs)
        for doc, spans in zip(docs, self.entities(docs, tag_ids)):
            doc.ents = spans

    def entities(self, docs: Iterable[Doc], tag_ids: List[List[int]]) -> List[List[Span]]:
        """The entity spans of each doc's predicted tag ids (`predict`'s guesses)."""
        tags = self.tags
        return [biluo_tags_to_spans(doc, iob_to_biluo([tags[i] for i in ids])) for doc, ids in zip(docs, tag_ids)]

    def _unannotated(self, example: Example) -> bool:
        """A reference without entity annotation: every tag missing (spaCy's `ent_iob == 0`), none of them O."""
        return not example.reference.has_annotation("ENT_IOB")

    def _targets(self, example: Example) -> List[Tuple[Row, List[Optional[str]]]]:
        """The gold BIO tag per predicted token; None (no loss) where it is unknown, O on whitespace."""
        if not len(example.predicted):
            return []
        gold: List[Optional[str]] = []
        for token, tag in zip(example.predicted, example.get_aligned_ner()):
            # BILUO -> BIO; None (misaligned), "-" (missing) and unseen labels carry no loss
            bio = None if tag in (None, "-") else tag if tag == "O" else {"U": "B", "L": "I"}.get(tag[0], tag[0]) + tag[1:]
            gold.append("O" if token.is_space else bio)
        return [(None, gold)]

    @property
    def crf(self) -> Optional[LinearChainCRF]:
        """The CRF of the "crf" head (None with the softmax head)."""
        return crf_of(self.model)

    def _loss(
        self, teacher: Optional[torch.Tensor], student: torch.Tensor, gold: torch.Tensor, known: torch.Tensor,
        sizes: List[int], stored: Optional[torch.Tensor], distilled: torch.Tensor, weights: Tuple[float, float],
    ) -> torch.Tensor:
        crf = self.crf
        if crf is None:
            return super()._loss(teacher, student, gold, known, sizes, stored, distilled, weights)
        return crf_distillation_loss(
            crf, teacher, student, gold, known, sizes, self.cfg["alpha"], self.cfg["temperature"], stored,
            distilled, weights,
        )

    def teacher_log_probs(
        self, docs: Sequence[Doc], temperature: Optional[float] = None, batch_size: int = PREDICT_BATCH
    ) -> List[numpy.ndarray]:
        """The teacher view's distribution over the tags per token of each doc, as [len(doc), n_tags] log-probabilities.

        What the KL term of joint training compares, without dropout: log softmax(logits / T) with the softmax
        head, the log of the CRF's forward-backward marginals at T with the "crf" head. The teacher reads each
        doc's own knowledge (`knowledge`); a doc without any is read as text alone, as in joint training.

        docs (Sequence[Doc]): The docs, carrying the knowledge the teacher reads.
        temperature (Optional[float]): T; None: the component's `temperature`.
        batch_size (int): Docs per forward pass, in order of length.
        RETURNS (List[numpy.ndarray]): float32 log-probabilities per doc, in the order of `docs`.
        """
        temperature = self.cfg["temperature"] if temperature is None else temperature
        result = [numpy.zeros((0, len(self.tags)), dtype="float32") for _ in docs]
        order = sorted((i for i, doc in enumerate(docs) if len(doc)), key=lambda i: len(docs[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                indices = order[start : start + batch_size]
                batch = [docs[i] for i in indices]
                views = self._views(batch, batch, [None] * len(batch), teacher=True, student=False)
                sizes = [len(doc) for doc in batch]
                log_probs = self._distribution(self.model.predict(views)[0].float(), sizes, temperature).cpu().numpy()
                offsets = numpy.cumsum([0] + sizes)
                for i, a, b in zip(indices, offsets[:-1], offsets[1:]):
                    result[i] = log_probs[a:b]
        return result

    def _distribution(self, logits: torch.Tensor, sizes: List[int], temperature: float) -> torch.Tensor:
        """Log P(tag) per token [n_tokens, n_tags] of docs of `sizes` tokens at T, as each head's KL term reads it."""
        crf = self.crf
        if crf is None:
            return teacher_log_probs(logits, temperature)
        mask = length_mask(sizes, logits.device)
        return crf.log_marginals(pad_rows(logits, sizes), mask, temperature)[mask]

    def _stored_targets(self, example: Example, row: Row) -> numpy.ndarray:
        """The teacher distribution stored on the reference doc, checked against the tags and tokens, at the component's T."""
        reference = example.reference
        stored = read_distribution(reference)
        where = f"{self.name} (distill_from = \"stored\"): {doc_name(reference)}"
        if stored is None:
            raise ValueError(f"{where} has no stored teacher distribution: run `cot-distill teach TEACHER IN.spacy "
                             "OUT.spacy` over every training corpus (augmented docs too) and train on its output")
        if stored.tags != self.tags:
            raise ValueError(f"{where}: the teacher's distribution is over the tags {stored.tags}, {self.name} "
                             f"predicts {self.tags}: teach with a teacher trained on the same entity labels")
        if len(stored.log_probs) != len(reference):
            raise ValueError(f"{where} has {len(reference)} tokens, its stored teacher distribution "
                             f"{len(stored.log_probs)}: teach again over the corpus as it is trained on")
        if [t.text for t in example.predicted] != [t.text for t in reference]:
            raise ValueError(f"{where}: the training doc's tokens are not the gold doc's, to which the teacher's "
                             "distribution belongs: read the training corpus with gold_preproc = true")
        temperature = self.cfg["temperature"]
        if stored.temperature == temperature:
            return stored.log_probs
        if stored.head != "softmax":  # a CRF's marginals at one T do not give those at another
            raise ValueError(f"{where}: a {stored.head} head's marginals made at temperature {stored.temperature} "
                             f"cannot be turned into marginals at {temperature}, at which {self.name} trains: set "
                             f"temperature = {stored.temperature} or teach again with --temperature {temperature}")
        # log p * T_stored is the logits up to a constant per token: re-tempered exactly, as the teacher made it
        logits = torch.from_numpy(stored.log_probs.astype("float32") * stored.temperature)
        return teacher_log_probs(logits, temperature).numpy()

    def _decode(self, logits: torch.Tensor, docs: Sequence[Doc], rows: Sequence[Row]) -> List[List[int]]:
        """Best valid BIO tag ids per token of each doc; whitespace tokens get O."""
        spaces = numpy.array([token.is_space for doc in docs for token in doc], dtype=bool)
        crf = self.crf
        if crf is not None:
            emissions = logits.float().clone()
            emissions[torch.from_numpy(spaces).to(emissions.device), 1:] = NEG  # tags[0] is O
            sizes = [len(doc) for doc in docs]
            with torch.no_grad():
                return crf.decode(pad_rows(emissions, sizes), length_mask(sizes, emissions.device))
        tags = self.tags
        transitions, start = transition_scores(tags), start_scores(tags)
        log_probs = torch.log_softmax(logits.float(), dim=-1).cpu().numpy()
        log_probs[spaces, 1:] = NEG  # tags[0] is O
        return viterbi_batch(log_probs, [len(doc) for doc in docs], transitions, start)

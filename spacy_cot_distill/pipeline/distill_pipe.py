"""What the two distilled components share: labels, the teacher's knowledge, the predict and update loops.

A component says what a row is (a doc for `cot_ner`, a candidate pair for
`cot_rel`), the targets of a training row, the teacher's text of a row, how
logits decode, and how a doc's rows become its output; the model builds the
tensors (see `models.views.DocViews`). The settings are `settings.DistillSettings`.
"""
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
import torch
from spacy.errors import Errors
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Model, set_dropout_rate

from ..data.extensions import register_extensions
from ..models.distill import distillation_loss
from ..models.encoder import check_max_length
from ..models.views import DocViews
from .settings import DistillSettings
from .teacher_text import teacher_segments

# rows per forward pass at inference, sorted by doc length so that little is padding
PREDICT_BATCH = 64

Row = Any  # what one row is: None for a whole doc (cot_ner), a (head, tail) pair (cot_rel)


class DistillationPipe(TrainablePipe):
    """A TrainablePipe trained by conditional prompt distillation (teacher: text + knowledge, student: text)."""

    # rows per forward pass in training (None: the whole batch at once); gradients add up until finish_update
    train_chunk: Optional[int] = None
    # what `initialize` says when it finds too few labels
    no_labels: str = "found no labels"

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str,
        *,
        settings: Optional[DistillSettings] = None,
        scorer: Optional[Callable] = None,
        **component_settings: Any,
    ):
        """Check and store the settings.

        vocab (Vocab): The pipeline's vocabulary.
        model (Model[DocViews, List[torch.Tensor]]): The network; it builds its own inputs from the docs.
        name (str): The component's name in the pipeline, the key of its loss.
        settings (Optional[DistillSettings]): The distillation settings (None: the defaults), checked against the model.
        scorer (Optional[Callable]): The scoring method.
        component_settings: The component's own settings, stored in `cfg` with the others.
        """
        settings = settings if settings is not None else DistillSettings()
        check_max_length(model, settings.max_length)
        register_extensions()  # the doc._ attributes read and written here, without relying on the package import
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {"labels": [], **component_settings, **settings.to_cfg()}

    # -- what each component defines

    @property
    def outputs(self) -> List[str]:
        """The model's output classes, in order (nO of them)."""
        raise NotImplementedError

    def _label_order(self, labels: Iterable[str]) -> List[str]:
        return sorted(set(labels))

    def _example_labels(self, example: Example) -> Iterable[str]:
        """The labels the reference of a training example names."""
        raise NotImplementedError

    def _rows(self, doc: Doc) -> List[Row]:
        """The rows the model reads for a doc at inference."""
        raise NotImplementedError

    def _targets(self, example: Example) -> List[Tuple[Row, List[Optional[str]]]]:
        """The training rows of an example, each with its target outputs (None or an unknown class: no loss)."""
        raise NotImplementedError

    def _unannotated(self, example: Example) -> bool:
        """Whether the reference doc carries no annotation of this component's kind (an unlabelled doc, not one
        annotated with nothing): its rows without a target learn through the teacher's KL term alone."""
        return False

    def _decode(self, logits: torch.Tensor, docs: Sequence[Doc], rows: Sequence[Row]) -> List[Any]:
        """One guess per row from the logits of a batch of rows."""
        raise NotImplementedError

    def _doc_guess(self, guesses: List[Tuple[Row, Any]]) -> Any:
        """A doc's prediction from its rows' guesses."""
        raise NotImplementedError

    def _constrain(
        self, logits: torch.Tensor, docs: Sequence[Doc], rows: Sequence[Row], gold: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """The logits of a batch of rows with the outputs a row rules out suppressed (`gold`: the targets, in training)."""
        return logits

    def _stored_targets(self, example: Example, row: Row) -> numpy.ndarray:
        """The teacher's stored log-probabilities [n_targets, n_outputs] of a training row (`distill_from = "stored"`)."""
        raise NotImplementedError(f"{type(self).__name__} cannot distil from stored teacher distributions")

    # -- labels

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> Tuple[str, ...]:
        """The labels, as `spacy init labels` saves them for `[initialize.components]`."""
        return self.labels

    def add_label(self, label: str) -> int:
        """Add a label before `initialize`; a trained head cannot grow (spaCy's error E922)."""
        if not isinstance(label, str):
            raise ValueError(Errors.E187)
        if label in self.labels:
            return 0
        self._allow_extra_label()
        self.cfg["labels"] = self._label_order([*self.labels, label])
        self.vocab.strings.add(label)
        return 1

    def _allow_extra_label(self) -> None:
        # TrainablePipe's check compares nO with len(labels); cot_ner has 2 outputs per label, plus O
        n_outputs = self.model.maybe_get_dim("nO")
        if n_outputs is not None and n_outputs == len(self.outputs):
            raise ValueError(Errors.E922.format(name=self.name, nO=n_outputs))

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Iterable[str]] = None,
    ) -> None:
        """Load the pretrained encoder and size the head for the labels added, given or seen in the examples.

        get_examples (Callable[[], Iterable[Example]]): The training examples, read for labels unless `labels` is given.
        nlp (Language): The pipeline (unused).
        labels (Optional[Iterable[str]]): The labels, e.g. from `spacy init labels` via `[initialize.components]`.
        """
        validate_get_examples(get_examples, f"{type(self).__name__}.initialize")
        if labels is None:
            labels = [label for eg in get_examples() for label in self._example_labels(eg)]
        for label in labels:
            self.add_label(label)
        if len(self.outputs) < 2:
            raise ValueError(f"{self.name} {self.no_labels}")
        self.model.set_dim("nO", len(self.outputs), force=True)
        self.model.initialize()

    # -- the teacher's knowledge

    def knowledge(self, doc: Doc, cot: Optional[Dict[str, str]] = None) -> List[str]:
        """The teacher's extra text for a doc or one of its rows, as the settings select it (see `teacher_segments`).

        doc (Doc): The doc, whose doc._.caption and doc._.cot are read.
        cot (Optional[Dict[str, str]]): A row's own knowledge by dimension (cot_rel: a pair's relation["cot"]), read
            in place of doc._.cot where it has any of the dimensions read.
        RETURNS (List[str]): The segments, in the order the teacher reads them.
        """
        cfg = self.cfg
        return teacher_segments(doc, cfg["cot_dims"], cfg["use_caption"], cfg["answer_sections"], cot)

    def _row_knowledge(self, docs: Sequence[Doc], knowledge_docs: Sequence[Doc], rows: Sequence[Row]) -> List[List[str]]:
        """The teacher's extra text for each row of `docs`, from `knowledge_docs` (the reference docs, in training)."""
        raise NotImplementedError

    def _views(
        self,
        docs: Sequence[Doc],
        knowledge_docs: Sequence[Doc],
        rows: Sequence[Row],
        *,
        teacher: bool,
        student: bool,
        doc_rows: Optional[Dict[int, Sequence[Row]]] = None,
    ) -> DocViews:
        """The model's input for rows of docs: the student view and/or the teacher view (knowledge from knowledge_docs).

        `doc_rows` gives every row of each doc in the predict or update call (by
        id(doc)), for a component whose model lays out a doc's rows together.
        """
        return DocViews(
            docs=docs,
            max_length=self.cfg["max_length"],
            teacher_max_length=max(self.cfg["teacher_max_length"], self.cfg["max_length"]),
            segment_max_length=self.cfg["segment_max_length"],
            student=student,
            knowledge=self._row_knowledge(docs, knowledge_docs, rows) if teacher else None,
        )

    # -- the loops

    def predict(self, docs: Iterable[Doc], *, use_knowledge: Optional[bool] = None) -> List[Any]:
        """Each doc's guesses; rows with knowledge use the teacher view when `use_knowledge_at_inference`, all rows
        when the teacher was trained alone (`train_views = "teacher"`).

        docs (Iterable[Doc]): The docs, with their knowledge where the teacher view reads it.
        use_knowledge (Optional[bool]): Read the knowledge of the rows that have any, as `use_knowledge_at_inference`
            does; None: the component's setting. `cot-distill silver --from-teacher` labels raw docs this way.
        RETURNS (List[Any]): Each doc's guesses, for `set_annotations`.
        """
        docs = list(docs)
        groups: Dict[bool, List[Tuple[int, Row]]] = {False: [], True: []}
        doc_rows: Dict[int, Sequence[Row]] = {}
        teacher_alone = self.cfg["train_views"] == "teacher"
        if use_knowledge is None:
            use_knowledge = self.cfg["use_knowledge_at_inference"]
        for i, doc in enumerate(docs):
            rows = doc_rows[id(doc)] = self._rows(doc)
            if teacher_alone:
                groups[True].extend((i, row) for row in rows)
            elif use_knowledge:
                known = self._row_knowledge([doc] * len(rows), [doc] * len(rows), rows)
                for row, segments in zip(rows, known):
                    groups[bool(segments)].append((i, row))
            else:
                groups[False].extend((i, row) for row in rows)
        guesses: List[List[Tuple[Row, Any]]] = [[] for _ in docs]
        for teacher, group in groups.items():
            group.sort(key=lambda item: len(docs[item[0]]))
            for start in range(0, len(group), PREDICT_BATCH):
                batch = group[start : start + PREDICT_BATCH]
                batch_docs = [docs[i] for i, _ in batch]
                rows = [row for _, row in batch]
                views = self._views(batch_docs, batch_docs, rows, teacher=teacher, student=not teacher, doc_rows=doc_rows)
                logits = self._constrain(self.model.predict(views)[0], batch_docs, rows)
                for (i, row), guess in zip(batch, self._decode(logits, batch_docs, rows)):
                    guesses[i].append((row, guess))
        return [self._doc_guess(doc_guesses) for doc_guesses in guesses]

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Callable] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a batch: both views' cross-entropy and the teacher-to-student KL (see `train_views`, `distill_from`).

        examples (Iterable[Example]): The batch; the teacher reads the knowledge of each reference doc, a student
            distilled from stored distributions reads them there.
        drop (float): The dropout rate of the whole network for this update.
        sgd (Optional[Callable]): The optimizer; None accumulates gradients only.
        losses (Optional[Dict[str, float]]): The losses so far, updated with this component's.
        RETURNS (Dict[str, float]): The updated losses.
        """
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, f"{type(self).__name__}.update")
        index: Dict[Optional[str], int] = {output: i for i, output in enumerate(self.outputs)}
        teacher_alone = self.cfg["train_views"] == "teacher"
        from_stored = self.cfg["distill_from"] == "stored"
        joint = self.cfg["distill"] and not teacher_alone and not from_stored
        # the KL term reaches the targets with a gold label and every target of an unannotated doc
        distils = self.cfg["distill"] and not teacher_alone
        rows: List[Tuple[Example, Row]] = []
        gold: List[int] = []
        known: List[bool] = []
        taught: List[bool] = []
        stored: List[numpy.ndarray] = []
        bounds = [0]  # row r's targets are gold[bounds[r]:bounds[r + 1]]
        doc_rows: Dict[int, Sequence[Row]] = {}
        for eg in examples:
            unannotated = distils and self._unannotated(eg)
            eg_targets = self._targets(eg)
            doc_rows[id(eg.predicted)] = [row for row, _ in eg_targets]
            for row, targets in eg_targets:
                rows.append((eg, row))
                gold.extend(index.get(target, 0) for target in targets)
                known.extend(target in index for target in targets)
                taught.extend(unannotated or target in index for target in targets)
                bounds.append(len(gold))
                if from_stored:
                    stored.append(self._stored_targets(eg, row))
        mask = torch.tensor(known, dtype=torch.bool)
        distilled = torch.tensor(taught, dtype=torch.bool)
        if not bool(distilled.any()):
            return losses
        gold_ids = torch.tensor(gold, dtype=torch.long)
        stored_log_probs = torch.from_numpy(numpy.concatenate(stored)) if from_stored else None
        n_known, n_distilled = int(mask.sum()), int(distilled.sum())
        chunk = self.train_chunk or len(rows)
        set_dropout_rate(self.model, drop)
        total = 0.0
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            span = slice(bounds[start], bounds[start + len(part)])
            if not bool(distilled[span].any()):
                continue
            views = self._views(
                [eg.predicted for eg, _ in part],
                [eg.reference for eg, _ in part],
                [row for _, row in part],
                teacher=joint or teacher_alone,
                student=not teacher_alone,
                doc_rows=doc_rows,
            )
            # the views come out student first; with `train_views = "teacher"` the teacher's is the only one, and
            # its loss is that of a student without a teacher: the cross-entropy alone
            outputs, backprop = self.model.begin_update(views)
            predicted = [eg.predicted for eg, _ in part]
            outputs = [self._constrain(o, predicted, [row for _, row in part], gold_ids[span].to(o.device)) for o in outputs]
            device = outputs[0].device
            sizes = [bounds[r + 1] - bounds[r] for r in range(start, start + len(part))]
            # each term is a mean over the whole batch's rows of its kind, whatever the chunks
            weights = (int(mask[span].sum()) / n_known if n_known else 0.0, int(distilled[span].sum()) / n_distilled)
            loss = self._loss(
                outputs[1] if joint else None, outputs[0], gold_ids[span].to(device), mask[span].to(device), sizes,
                stored_log_probs[span].to(device) if stored_log_probs is not None else None,
                distilled[span].to(device), weights,
            )
            backprop(loss)
            total += float(loss.detach())
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += total
        return losses

    def _loss(
        self, teacher: Optional[torch.Tensor], student: torch.Tensor, gold: torch.Tensor, known: torch.Tensor,
        sizes: List[int], stored: Optional[torch.Tensor], distilled: torch.Tensor, weights: Tuple[float, float],
    ) -> torch.Tensor:
        """The loss of a chunk of rows from the views' logits; `sizes` gives each row's number of targets, `stored`
        the teacher's stored log-probabilities per target (in place of teacher logits, `distill_from = "stored"`),
        `distilled` the targets of the KL term, `weights` the chunk's shares of the batch's gold and distilled targets."""
        return distillation_loss(
            teacher, student, gold, known, self.cfg["alpha"], self.cfg["temperature"], stored, distilled, weights
        )

    def get_loss(self, examples: Iterable[Example], scores: Any) -> Tuple[float, None]:
        """Not used: `update` computes the loss in torch (see `distillation_loss`)."""
        raise NotImplementedError(f"{self.name} computes its loss inside update()")

    # -- loading

    def from_disk(self, path: Any, *, exclude: Iterable[str] = tuple()) -> "DistillationPipe":
        """Load labels and weights; the settings of the config in force win over the saved copy."""
        return self._load(lambda: super(DistillationPipe, self).from_disk(path, exclude=exclude), Path(path) / "cfg")

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "DistillationPipe":
        """Load labels and weights; the settings of the config in force win over the saved copy."""
        return self._load(lambda: super(DistillationPipe, self).from_bytes(bytes_data, exclude=exclude), None)

    def _load(self, load: Callable[[], Any], cfg_path: Optional[Path]) -> "DistillationPipe":
        settings = {key: value for key, value in self.cfg.items() if key != "labels"}
        load()
        self.cfg.pop("dims", None)  # saved before the rename to cot_dims; the config in force gives cot_dims
        self.cfg.update(settings)  # so that spacy.load(..., config=...) overrides take effect
        n_outputs = self.model.maybe_get_dim("nO")
        if n_outputs != len(self.outputs):
            where = str(cfg_path) if cfg_path is not None else f"The {self.name} bytes' cfg"
            problem = (
                "is missing" if cfg_path is not None and not cfg_path.exists()
                else f"gives {len(self.outputs)} outputs for the labels {list(self.labels)}, the saved model has {n_outputs}"
            )
            raise ValueError(
                f"{where} {problem}: {self.name} cannot predict without its labels; "
                "restore the file or save the trained pipeline again (nlp.to_disk)"
            )
        return self

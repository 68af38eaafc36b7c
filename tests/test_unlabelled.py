"""Unlabelled docs: their entity tags are missing, not O, and they train the student through the teacher alone.

The loss of a mixed batch (README, "Few labels, much raw text"):
alpha * (CE_student + CE_teacher), averaged over gold-tagged tokens, plus
(1 - alpha) * T^2 * KL(teacher || student), averaged over every token with a
teacher distribution, gold doc or not. A batch of gold docs keeps the loss of
the code before unlabelled docs existed, bit for bit.
"""
from typing import Optional

import pytest
import spacy
import torch
import torch.nn.functional as F
from spacy.tokens import Doc, Span
from spacy.training import Example

import spacy_cot_distill  # noqa: F401  (doc extensions)
from spacy_cot_distill.models.crf import LinearChainCRF, crf_distillation_loss, length_mask, pad_rows
from spacy_cot_distill.models.distill import distillation_loss
from spacy_cot_distill.models.encoder import torch_module
from test_two_stage import corpus, make_nlp, taught, train_teacher

MODES = ["joint", "stored"]
HEADS = ["softmax", "crf"]


# -- the loss before unlabelled docs existed, as it was written (the reference of the bit-for-bit checks)

def loss_before(teacher, student, gold, mask, alpha, temperature, stored=None):
    mask = mask.bool()
    if not bool(mask.any()):
        return student.sum() * 0.0
    s, g = student[mask], gold[mask]
    ce = F.cross_entropy(s, g)
    if teacher is not None:
        ce = ce + F.cross_entropy(teacher[mask], g)
        target = F.log_softmax(teacher[mask].detach() / temperature, dim=-1)
    elif stored is not None:
        target = stored[mask]
    else:
        return ce
    kl = F.kl_div(F.log_softmax(s / temperature, dim=-1), target, log_target=True, reduction="batchmean")
    return alpha * ce + (1 - alpha) * temperature**2 * kl


def crf_loss_before(crf, teacher, student, gold, known, lengths, alpha, temperature, stored=None):
    known = known.bool()
    n_known = int(known.sum())
    if n_known == 0:
        return student.sum() * 0.0
    mask = length_mask(lengths, student.device)
    gold_rows, known_rows = pad_rows(gold, lengths), pad_rows(known, lengths, False)
    padded = pad_rows(student, lengths)
    nll = crf.nll(padded, gold_rows, known_rows, mask).sum() / n_known
    if teacher is not None:
        t = pad_rows(teacher, lengths)
        nll = crf.nll(t, gold_rows, known_rows, mask).sum() / n_known + nll
        with torch.no_grad():
            target = crf.log_marginals(t, mask, temperature)[known_rows]
    elif stored is not None:
        target = stored[known]
    else:
        return nll
    guess = crf.log_marginals(padded, mask, temperature)[known_rows]
    kl = F.kl_div(guess, target, log_target=True, reduction="batchmean")
    return alpha * nll + (1 - alpha) * temperature**2 * kl


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("mode", MODES + ["alone"])
def test_gold_rows_keep_the_loss_and_gradients_bit_for_bit(head, mode):
    """Gold rows only (a misaligned one among them): the same loss and gradients, to the bit, chunk weights too."""
    torch.manual_seed(0)
    lengths = [4, 3, 5]
    n, n_tags = sum(lengths), 5
    crf = LinearChainCRF(n_tags)
    for weight in (1.0, 0.375):
        results = []
        for new in (False, True):
            student = torch.randn(n, n_tags, generator=torch.Generator().manual_seed(1)).requires_grad_()
            teacher = torch.randn(n, n_tags, generator=torch.Generator().manual_seed(2)).requires_grad_()
            stored = F.log_softmax(torch.randn(n, n_tags, generator=torch.Generator().manual_seed(3)), dim=-1)
            gold = torch.tensor([0, 1, 2, 0, 3, 4, 0, 0, 1, 2, 2, 0])
            known = torch.ones(n, dtype=torch.bool)
            known[5] = False
            args = (teacher if mode == "joint" else None, student, gold, known)
            kept = stored if mode == "stored" else None
            crf.zero_grad()
            if head == "softmax":
                loss = (distillation_loss(*args, 0.4, 2.0, kept, known.clone(), (weight, weight)) if new
                        else loss_before(*args, 0.4, 2.0, kept) * weight)
            else:
                loss = (crf_distillation_loss(crf, *args, lengths, 0.4, 2.0, kept, known.clone(), (weight, weight))
                        if new else crf_loss_before(crf, *args, lengths, 0.4, 2.0, kept) * weight)
            loss.backward()
            grads = [student.grad.clone(), teacher.grad.clone() if teacher.grad is not None else None]
            grads += [p.grad.clone() for p in crf.parameters() if p.grad is not None]
            results.append((loss.detach(), grads))
        (old, old_grads), (new_loss, new_grads) = results
        assert float(old) > 0 and torch.equal(old, new_loss)
        assert len(old_grads) == len(new_grads)
        assert all((a is None and b is None) or torch.equal(a, b) for a, b in zip(old_grads, new_grads))


@pytest.mark.parametrize("head", HEADS)
def test_rows_without_gold_learn_from_the_kl_alone(head):
    """No gold row at all: the loss is (1 - alpha) * T^2 * KL over the distilled rows, and only the student moves."""
    torch.manual_seed(0)
    lengths = [3, 4]
    n, n_tags = sum(lengths), 5
    student = torch.randn(n, n_tags, requires_grad=True)
    teacher = torch.randn(n, n_tags, requires_grad=True)
    gold, known, everything = torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool)
    if head == "softmax":
        loss = distillation_loss(teacher, student, gold, known, 0.4, 2.0, distilled=everything)
        kl = F.kl_div(F.log_softmax(student / 2.0, dim=-1), F.log_softmax(teacher.detach() / 2.0, dim=-1),
                      log_target=True, reduction="batchmean")
        assert torch.allclose(loss, 0.6 * 4.0 * kl)
        # without a teacher or stored distributions the same rows give nothing to learn
        assert float(distillation_loss(None, student, gold, known, 0.4, 2.0, distilled=everything).detach()) == 0.0
    else:
        crf = LinearChainCRF(n_tags)
        loss = crf_distillation_loss(crf, teacher, student, gold, known, lengths, 0.4, 2.0, distilled=everything)
    assert float(loss) > 0
    loss.backward()
    assert student.grad.abs().sum() > 0 and teacher.grad is None


# -- the component

def unlabelled(eg: Example, outside: bool = False) -> Example:
    """`eg` with its entities hidden: every tag missing, or (`outside`) every tag O; knowledge and id kept."""
    reference = Doc(eg.reference.vocab, words=[t.text for t in eg.reference],
                    spaces=[bool(t.whitespace_) for t in eg.reference], user_data=dict(eg.reference.user_data))
    if outside:
        reference.set_ents([], default="outside")
    predicted = Doc(eg.predicted.vocab, words=[t.text for t in eg.predicted],
                    spaces=[bool(t.whitespace_) for t in eg.predicted])
    return Example(predicted, reference)


def student_grads(nlp) -> torch.Tensor:
    """The summed absolute gradient on the student's own parameters (the soft-prompt generator)."""
    module = torch_module(nlp.get_pipe("cot_ner").model)
    return sum(p.grad.abs().sum() for p in module.text_encoder.generator.parameters() if p.grad is not None)


def loss_and_grads(nlp, batch, alpha: Optional[float] = None):
    ner = nlp.get_pipe("cot_ner")
    if alpha is not None:
        ner.cfg["alpha"] = alpha
    torch_module(ner.model).zero_grad()
    loss = ner.update(batch, drop=0.0)["cot_ner"]  # no sgd: the gradients stay on the parameters
    return loss, float(student_grads(nlp))


def ready(tiny_encoder, head: str, mode: str, teacher_nlp=None):
    """A cot_ner initialized on the gold corpus; its train docs taught by `teacher_nlp` in the stored mode."""
    if mode == "joint":
        nlp = make_nlp(tiny_encoder, head)
        train = corpus(nlp)
    else:
        nlp = make_nlp(tiny_encoder, head, distill_from="stored")
        train = taught(nlp, teacher_nlp)
    spacy.util.fix_random_seed(0)
    nlp.initialize(lambda: train)
    return nlp, train


@pytest.fixture(scope="module")
def teachers(tiny_encoder):
    return {head: train_teacher(tiny_encoder, head, n_iter=10)[0] for head in HEADS}


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("mode", MODES)
def test_an_unlabelled_doc_trains_the_student_through_the_teacher(tiny_encoder, teachers, head, mode):
    """A batch of unlabelled docs alone: a non-zero loss and student gradient from the KL term; with alpha = 1 (no
    KL) nothing; and the same docs marked all-O give another loss."""
    nlp, train = ready(tiny_encoder, head, mode, teachers[head])
    batch = [unlabelled(eg) for eg in train]
    assert not any(eg.reference.has_annotation("ENT_IOB") for eg in batch)
    if mode == "stored":  # the stored distributions travel with the reference docs, as `teach` writes them
        for eg, source in zip(batch, train):
            eg.reference.user_data.update(source.reference.user_data)
    loss, grads = loss_and_grads(nlp, batch)
    assert loss > 0 and grads > 0
    assert loss_and_grads(nlp, batch, alpha=1.0) == (0.0, 0.0)
    all_o = [unlabelled(eg, outside=True) for eg in batch]
    for eg, source in zip(all_o, batch):
        eg.reference.user_data.update(source.reference.user_data)
    assert all(t.ent_iob_ == "O" for eg in all_o for t in eg.reference)
    outside_loss, outside_grads = loss_and_grads(nlp, all_o, alpha=0.5)
    assert outside_grads > 0 and outside_loss != pytest.approx(loss, rel=1e-3)


@pytest.mark.parametrize("mode", MODES)
def test_a_mixed_batch_has_the_documented_loss(tiny_encoder, teachers, mode):
    """Gold and unlabelled docs together: alpha * CE over the gold tokens + (1 - alpha) * T^2 * KL over all tokens."""
    nlp, train = ready(tiny_encoder, "softmax", mode, teachers["softmax"])
    ner = nlp.get_pipe("cot_ner")
    ner.cfg.update({"alpha": 0.3, "temperature": 2.0})
    hidden = unlabelled(train[1])
    if mode == "stored":
        hidden.reference.user_data.update(train[1].reference.user_data)
    batch = [train[0], hidden, train[2]]
    loss = ner.update(batch, drop=0.0)["cot_ner"]
    predicted = [eg.predicted for eg in batch]
    with torch.no_grad():
        student = ner.model.predict(ner._views(predicted, predicted, [None] * 3, teacher=False, student=True))[0]
        if mode == "joint":
            references = [eg.reference for eg in batch]
            teacher = ner.model.predict(ner._views(predicted, references, [None] * 3, teacher=True, student=False))[0]
            target = F.log_softmax(teacher / 2.0, dim=-1)
        else:
            target = torch.cat([torch.from_numpy(ner._stored_targets(eg, None)) for eg in batch])
    sizes = [len(doc) for doc in predicted]
    gold_rows = torch.zeros(sum(sizes), dtype=torch.bool)
    gold_rows[: sizes[0]] = True
    gold_rows[sizes[0] + sizes[1]:] = True
    gold = torch.tensor([ner.tags.index(tag) for eg in (batch[0], batch[2]) for _, tags in ner._targets(eg)
                         for tag in tags])
    ce = F.cross_entropy(student[gold_rows], gold)
    if mode == "joint":
        ce = ce + F.cross_entropy(teacher[gold_rows], gold)
    kl = F.kl_div(F.log_softmax(student / 2.0, dim=-1), target, log_target=True, reduction="batchmean")
    assert loss == pytest.approx(float(0.3 * ce + 0.7 * 4.0 * kl), rel=1e-4)


def test_the_student_alone_and_the_teacher_alone_ignore_unlabelled_docs(tiny_encoder):
    """distill = false (no teacher) and train_views = "teacher" (the teacher learns from gold only): no loss."""
    for cfg in ({"distill": False}, {"train_views": "teacher"}):
        nlp = make_nlp(tiny_encoder, **cfg)
        train = corpus(nlp)
        nlp.initialize(lambda: train)
        loss, grads = loss_and_grads(nlp, [unlabelled(eg) for eg in train])
        assert (loss, grads) == (0.0, 0.0)
        assert loss_and_grads(nlp, train)[0] > 0


def test_cot_rel_tells_relations_not_annotated_from_none(tiny_encoder):
    """`doc._.relations_annotated = False`: the candidate pairs are not `None` by default; they carry no label and
    learn through the teacher's KL alone (a loss with alpha = 0.5, none with alpha = 1). Annotated with no relation,
    the same pairs are `None` and carry a cross-entropy."""
    from tiny_relations import TRAIN as REL_TRAIN, make_doc, rel_nlp

    candidates = {"@misc": "spacy_cot_distill.EntityPairs.v1", "max_distance": 20}
    nlp = rel_nlp(tiny_encoder, candidates=candidates, max_none_pairs=0)
    gold = [Example(Doc(nlp.vocab, words=[t.text for t in doc]), doc)
            for doc in (make_doc(nlp, text, rels) for text, rels in REL_TRAIN)]
    for eg in gold:
        eg.predicted.ents = [Span(eg.predicted, e.start, e.end, label=e.label_) for e in eg.reference.ents]
    spacy.util.fix_random_seed(0)
    nlp.initialize(lambda: gold)
    rel = nlp.get_pipe("cot_rel")

    def raw(annotated: bool) -> Example:
        reference = make_doc(nlp, "Obama met Mary in Paris today")
        reference._.relations_annotated = annotated
        predicted = Doc(nlp.vocab, words=[t.text for t in reference])
        predicted.ents = [Span(predicted, i, i + 1, label="ENT") for i in (0, 2, 4)]
        return Example(predicted, reference)

    unannotated, empty = raw(False), raw(True)
    assert {label for _, label in rel._training_rows(unannotated)} == {None}
    assert {label for _, label in rel._training_rows(empty)} == {"None"} and len(rel._training_rows(empty)) == 6
    losses = {}
    for alpha in (0.5, 1.0):
        rel.cfg["alpha"] = alpha
        for name, eg in (("unannotated", unannotated), ("empty", empty)):
            losses[name, alpha] = rel.update([eg], drop=0.0)["cot_rel"]
    assert losses["unannotated", 0.5] > 0 and losses["unannotated", 1.0] == 0.0
    assert losses["empty", 1.0] > 0

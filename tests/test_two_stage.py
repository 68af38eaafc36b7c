"""Two-stage distillation: the teacher trained alone, `cot-distill teach`, a student distilled from stored distributions."""
from pathlib import Path

import numpy
import pytest
import spacy
import torch
import torch.nn.functional as F
from spacy.cli.train import train as spacy_train
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from typer.testing import CliRunner

import spacy_cot_distill  # noqa: F401  (doc extensions)
from spacy_cot_distill.cli import app
from spacy_cot_distill.data.teacher import EXTENSION, read_distribution, store_distribution
from spacy_cot_distill.models.crf import crf_distillation_loss
from spacy_cot_distill.models.distill import distillation_loss
from spacy_cot_distill.models.encoder import torch_module
from spacy_cot_distill.readers import create_augmented_corpus
from spacy_cot_distill.teach import teach_docs
from test_cot_ner import ents, valid_bio
from tiny_models import KNOWLEDGE, TRAIN, examples

ROOT = Path(__file__).resolve().parent.parent
MODEL = {"m": 2, "n_heads": 2}


def make_nlp(encoder: Path, head: str = "softmax", **cfg):
    nlp = spacy.blank("en")
    nlp.add_pipe("cot_ner", config={"model": {"encoder": str(encoder), "head": head, **MODEL}, "max_length": 32, **cfg})
    return nlp


def corpus(nlp):
    """TRAIN as examples whose reference docs carry ids t0..t3 and knowledge, except t3, which carries none."""
    train = examples(nlp)
    train[-1].reference.user_data.clear()
    for i, eg in enumerate(train):
        eg.reference._.doc_id = f"t{i}"
    return train


def fit(nlp, train, n_iter: int, optimizer=None):
    """`n_iter` steps on `train`, initialized here (seeded) unless an optimizer is given; the losses."""
    if optimizer is None:
        spacy.util.fix_random_seed(0)
        optimizer = nlp.initialize(lambda: train)
    losses = []
    for _ in range(n_iter):
        step: dict = {}
        nlp.update(train, sgd=optimizer, losses=step)
        losses.append(step["cot_ner"])
    return losses


def spy_views(nlp):
    """A list that records, per forward pass of cot_ner's network, its views (True: student, False: teacher)."""
    module = torch_module(nlp.get_pipe("cot_ner").model)
    calls = []
    forward = module.forward

    def spy(inputs):
        calls.append([view.prompted for view in inputs.views])
        return forward(inputs)

    module.forward = spy
    return calls


def train_teacher(encoder: Path, head: str = "softmax", n_iter: int = 30):
    nlp = make_nlp(encoder, head, train_views="teacher")
    return nlp, fit(nlp, corpus(nlp), n_iter)


def taught(nlp, teacher, temperature: float = 1.0):
    """`corpus(nlp)` with the teacher's distributions stored on the reference docs (as `teach` stores them)."""
    train = corpus(nlp)
    teach_docs(teacher.get_pipe("cot_ner"), [eg.reference for eg in train], temperature)
    return train


@pytest.fixture(scope="module")
def teacher(tiny_encoder):
    return train_teacher(tiny_encoder)[0]


def test_stage_one_trains_the_teacher_view_alone(tiny_encoder):
    """train_views = "teacher": one teacher view per step, the prompt generator untouched; it predicts with knowledge."""
    nlp = make_nlp(tiny_encoder, train_views="teacher")
    train = corpus(nlp)
    spacy.util.fix_random_seed(0)
    optimizer = nlp.initialize(lambda: train)
    module = torch_module(nlp.get_pipe("cot_ner").model)
    generator = {name: p.detach().clone() for name, p in module.text_encoder.generator.named_parameters()}
    encoder = {name: p.detach().clone() for name, p in module.encoder.named_parameters()}
    calls = spy_views(nlp)
    losses = fit(nlp, train, 30, optimizer)
    assert calls and all(views == [False] for views in calls)
    assert losses[-1] < losses[0] / 5
    assert all(torch.equal(p, generator[name]) for name, p in module.text_encoder.generator.named_parameters())
    assert any(not torch.equal(p, encoder[name]) for name, p in module.encoder.named_parameters())
    # every doc is read by the teacher view: with its knowledge, or (a plain text) alone
    del calls[:]
    unannotated = [Doc(nlp.vocab, words=[t.text for t in eg.reference], user_data=dict(eg.reference.user_data))
                   for eg in train]  # the words and the knowledge, no entities
    predicted = [ents(doc) for doc in nlp.pipe(unannotated)]
    assert predicted == [sorted(gold) for _, gold in TRAIN]
    nlp("Obama said Apple is in London")
    assert calls and all(views == [False] for views in calls)


def test_dev_reader_hands_the_knowledge_to_the_teacher(tmp_path):
    """configs/cot_ner_teacher.cfg scores the teacher on dev with the dev docs' knowledge (copy_knowledge)."""
    nlp = spacy.blank("en")
    DocBin(docs=[eg.reference for eg in corpus(nlp)], store_user_data=True).to_disk(tmp_path / "dev.spacy")
    for copy in (True, False):
        read = list(create_augmented_corpus(tmp_path / "dev.spacy", gold_preproc=True, copy_knowledge=copy)(nlp))
        assert [eg.predicted._.cot for eg in read] == [KNOWLEDGE if copy else {}] * 3 + [{}]
        assert [eg.predicted._.caption for eg in read] == (["a photo of a city"] * 3 if copy else [None] * 3) + [None]


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_teach_stores_what_the_joint_kl_compares(tiny_encoder, tmp_path, head):
    """`cot-distill teach` stores each doc's teacher distribution at T, through a DocBin; it is the teacher view's own,
    and the KL against it is the KL joint training computes from the teacher's logits."""
    nlp, _ = train_teacher(tiny_encoder, head, n_iter=10)
    nlp.to_disk(tmp_path / "teacher")
    DocBin(docs=[eg.reference for eg in corpus(nlp)], store_user_data=True).to_disk(tmp_path / "train.spacy")
    result = CliRunner().invoke(app, ["teach", str(tmp_path / "teacher"), str(tmp_path / "train.spacy"),
                                      str(tmp_path / "taught.spacy"), "--temperature", "2", "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    assert "on 4 docs" in result.output and "1 docs carry no knowledge" in result.output
    teacher = spacy.load(tmp_path / "teacher")
    ner = teacher.get_pipe("cot_ner")
    docs = list(DocBin().from_disk(tmp_path / "taught.spacy").get_docs(teacher.vocab))
    assert [doc._.doc_id for doc in docs] == ["t0", "t1", "t2", "t3"] and docs[0]._.cot == KNOWLEDGE
    generator = torch.Generator().manual_seed(0)
    for doc in docs:
        stored = read_distribution(doc)
        assert stored is not None and (stored.tags, stored.temperature, stored.head) == (ner.tags, 2.0, head)
        assert stored.log_probs.dtype == numpy.float32 and stored.log_probs.shape == (len(doc), len(ner.tags))
        # the teacher view of this doc alone (t3: its text alone)
        views = ner._views([doc], [doc], [None], teacher=True, student=False)
        with torch.no_grad():
            logits = ner.model.predict(views)[0]
            if head == "softmax":
                expected = torch.log_softmax(logits / 2.0, dim=-1)
            else:
                expected = ner.crf.log_marginals(logits[None], torch.ones(1, len(doc), dtype=torch.bool), 2.0)[0]
        assert torch.allclose(torch.from_numpy(stored.log_probs.copy()), expected, atol=1e-5)
        student = torch.randn(len(doc), len(ner.tags), generator=generator)
        gold, known = torch.zeros(len(doc), dtype=torch.long), torch.ones(len(doc), dtype=torch.bool)
        target = torch.from_numpy(stored.log_probs.copy())
        with torch.no_grad():
            if head == "softmax":
                joint = distillation_loss(logits, student, gold, known, 0.0, 2.0)
                two_stage = distillation_loss(None, student, gold, known, 0.0, 2.0, stored=target)
            else:
                joint = crf_distillation_loss(ner.crf, logits, student, gold, known, [len(doc)], 0.0, 2.0)
                two_stage = crf_distillation_loss(ner.crf, None, student, gold, known, [len(doc)], 0.0, 2.0, stored=target)
        assert float(joint) > 0 and torch.allclose(joint, two_stage, atol=1e-5)


def test_stage_two_runs_no_teacher_and_its_loss_is_the_documented_one(tiny_encoder, teacher):
    """distill_from = "stored": student views only; the loss is alpha*CE_s + (1-alpha)*T^2*KL(stored || student)."""
    nlp = make_nlp(tiny_encoder, distill_from="stored", alpha=0.3, temperature=2.0)
    train = taught(nlp, teacher, temperature=2.0)
    optimizer = nlp.initialize(lambda: train)
    ner = nlp.get_pipe("cot_ner")
    calls = spy_views(nlp)
    loss = ner.update(train, drop=0.0)["cot_ner"]
    assert calls == [[True]]
    predicted = [eg.predicted for eg in train]
    with torch.no_grad():
        student = ner.model.predict(ner._views(predicted, predicted, [None] * 4, teacher=False, student=True))[0]
    gold = torch.tensor([ner.tags.index(tag) for eg in train for _, tags in ner._targets(eg) for tag in tags])
    stored = torch.from_numpy(numpy.concatenate([read_distribution(eg.reference).log_probs for eg in train]))
    kl = F.kl_div(F.log_softmax(student / 2.0, dim=-1), stored, log_target=True, reduction="batchmean")
    expected = 0.3 * F.cross_entropy(student, gold) + 0.7 * 4.0 * kl
    assert loss == pytest.approx(float(expected), rel=1e-4)
    # training runs no teacher view either
    fit(nlp, train, 3, optimizer)
    assert len(calls) == 5 and all(views == [True] for views in calls)  # 4 updates, 1 predict


def test_a_student_learns_the_stored_distribution(tiny_encoder):
    """With alpha = 0 the stored distribution is the only target: a student taught "PER everywhere" tags every word
    PER, where one trained on the gold alone finds the gold entities."""
    nlp = make_nlp(tiny_encoder, distill_from="stored", alpha=0.0)
    train = corpus(nlp)
    tags = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    for eg in train:
        probs = numpy.full((len(eg.reference), len(tags)), 0.01)
        probs[:, tags.index("B-PER")] = 0.94
        store_distribution(eg.reference, numpy.log(probs), tags, 1.0, "softmax")
    fit(nlp, train, 40)
    text = "Obama said Apple is in London"
    assert [(token.ent_iob_, token.ent_type_) for token in nlp(text)] == [("B", "PER")] * 6
    gold_alone = make_nlp(tiny_encoder, distill=False)
    fit(gold_alone, corpus(gold_alone), 40)
    assert ents(gold_alone(text)) == sorted(TRAIN[1][1])


def test_a_softmax_teachers_distribution_is_re_tempered_exactly(tiny_encoder, teacher):
    """A student at another T than `teach` used reads the softmax head's distribution as if taught at its own T."""
    nlp = make_nlp(tiny_encoder, distill_from="stored", temperature=2.0)
    at_one, at_two = taught(nlp, teacher, 1.0), taught(nlp, teacher, 2.0)
    ner = nlp.get_pipe("cot_ner")
    nlp.initialize(lambda: at_one)
    for eg_one, eg_two in zip(at_one, at_two):
        read = ner._stored_targets(eg_one, None)
        assert numpy.allclose(read, read_distribution(eg_two.reference).log_probs, atol=1e-5)
        assert not numpy.allclose(read, read_distribution(eg_one.reference).log_probs, atol=1e-2)
        assert numpy.allclose(numpy.exp(read).sum(axis=1), 1.0, atol=1e-5)


def test_stage_two_errors_name_the_doc(tiny_encoder, teacher):
    """No stored distribution, other tags, a CRF's marginals at another T, other tokens: one line naming the doc and
    the fix."""
    def update(nlp, train):
        nlp.initialize(lambda: train)
        nlp.update(train)

    nlp = make_nlp(tiny_encoder, distill_from="stored")
    train = taught(nlp, teacher)
    del train[1].reference.user_data[("._.", EXTENSION, None, None)]
    with pytest.raises(ValueError, match=r"doc 't1' has no stored teacher distribution: run `cot-distill teach"):
        update(nlp, train)
    nlp = make_nlp(tiny_encoder, distill_from="stored")
    nlp.get_pipe("cot_ner").add_label("MISC")
    with pytest.raises(ValueError, match=r"doc 't0': the teacher's distribution is over the tags \[.*\], cot_ner predicts"):
        update(nlp, taught(nlp, teacher))
    crf_teacher = train_teacher(tiny_encoder, "crf", n_iter=2)[0]
    nlp = make_nlp(tiny_encoder, distill_from="stored", temperature=2.0)
    with pytest.raises(ValueError, match=r"doc 't0': a crf head's marginals made at temperature 1.0 cannot be turned "
                                         r"into marginals at 2.0, at which cot_ner trains: set temperature = 1.0"):
        update(nlp, taught(nlp, crf_teacher))
    nlp = make_nlp(tiny_encoder, distill_from="stored")
    train = taught(nlp, teacher)
    record = train[1].reference.user_data[("._.", EXTENSION, None, None)]
    train[0].reference.user_data[("._.", EXTENSION, None, None)] = record
    with pytest.raises(ValueError, match=r"doc 't0' has 7 tokens, its stored teacher distribution 6: teach again"):
        update(nlp, train)
    # a training doc tokenised otherwise than the gold doc the distribution belongs to
    nlp = make_nlp(tiny_encoder, distill_from="stored")
    train = taught(nlp, teacher)
    split = Doc(nlp.vocab, words=["John", "Smith", "went", "to", "New", "York", "to", "day"])
    train[0] = Example(split, train[0].reference)
    with pytest.raises(ValueError, match=r"doc 't0': the training doc's tokens are not the gold doc's.*gold_preproc"):
        update(nlp, train)


def test_stage_settings_are_checked(tiny_encoder):
    cases = [
        ({"train_views": "student"}, "train_views must be one of"),
        ({"distill_from": "disk"}, "distill_from must be one of"),
        ({"train_views": "teacher", "distill_from": "stored"}, "set one of them, in two trainings"),
        ({"distill": False, "distill_from": "stored"}, 'distill_from = "stored" needs distill = true'),
        ({"distill": False, "train_views": "teacher"}, 'train_views = "teacher" needs distill = true'),
    ]
    for cfg, message in cases:
        with pytest.raises(ValueError, match=message):
            make_nlp(tiny_encoder, **cfg)
    with pytest.raises(ValueError, match="cot_rel has no stored teacher distributions"):
        spacy.blank("en").add_pipe("cot_rel", config={"model": {"encoder": str(tiny_encoder), **MODEL},
                                                      "distill_from": "stored"})


def test_teach_refuses_a_pipeline_without_a_trained_teacher(tiny_encoder, tmp_path):
    nlp = make_nlp(tiny_encoder, distill=False)
    fit(nlp, corpus(nlp), 1)
    nlp.to_disk(tmp_path / "student")
    DocBin(docs=[eg.reference for eg in corpus(nlp)], store_user_data=True).to_disk(tmp_path / "train.spacy")
    runner = CliRunner()
    result = runner.invoke(app, ["teach", str(tmp_path / "student"), str(tmp_path / "train.spacy"), str(tmp_path / "out.spacy")])
    assert result.exit_code == 1 and "cot_ner's teacher view was never trained" in result.output
    assert str(tmp_path / "student") in result.output and not (tmp_path / "out.spacy").exists()
    result = runner.invoke(app, ["teach", str(tmp_path / "student"), str(tmp_path / "train.spacy"), str(tmp_path / "out.spacy"),
                                 "--component", "ner"])
    assert result.exit_code == 1 and "no cot_ner component named 'ner'" in result.output


def test_two_stage_with_spacy_train_gives_a_text_only_student(tiny_encoder, tmp_path):
    """The how-to's three commands: train the teacher, teach, train the student; it saves, loads and predicts text only."""
    nlp = spacy.blank("en")
    DocBin(docs=[eg.reference for eg in corpus(nlp)], store_user_data=True).to_disk(tmp_path / "train.spacy")
    common = {
        "paths.dev": str(tmp_path / "train.spacy"), "paths.encoder": str(tiny_encoder), "training.max_steps": 4,
        "training.eval_frequency": 2, "training.optimizer.learn_rate.warmup_steps": 1,
    }
    spacy_train(ROOT / "configs" / "cot_ner_teacher.cfg", tmp_path / "teacher",
                overrides={**common, "paths.train": str(tmp_path / "train.spacy")})
    result = CliRunner().invoke(app, ["teach", str(tmp_path / "teacher" / "model-best"), str(tmp_path / "train.spacy"),
                                      str(tmp_path / "taught.spacy")])
    assert result.exit_code == 0, result.output
    spacy_train(ROOT / "configs" / "cot_ner.cfg", tmp_path / "student",
                overrides={**common, "paths.train": str(tmp_path / "taught.spacy"),
                           "components.cot_ner.distill_from": "stored"})
    student = spacy.load(tmp_path / "student" / "model-last")
    assert student.get_pipe("cot_ner").cfg["distill_from"] == "stored"
    calls = spy_views(student)
    texts = [text for text, _ in TRAIN]
    docs = list(student.pipe(texts))
    assert calls and all(views == [True] for views in calls)
    assert all(valid_bio([t.ent_iob_ + "-" + t.ent_type_ if t.ent_type_ else "O" for t in doc]) for doc in docs)
    student.to_disk(tmp_path / "saved")
    assert [ents(doc) for doc in spacy.load(tmp_path / "saved").pipe(texts)] == [ents(doc) for doc in docs]

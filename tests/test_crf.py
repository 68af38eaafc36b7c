"""cot_ner's CRF head: valid BIO only, the exact likelihood and marginals, whitespace, spaCy training and loading."""
import itertools
from pathlib import Path

import pytest
import spacy
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.cli.train import train
from spacy.tokens import Doc, DocBin

import spacy_cot_distill  # noqa: F401  (doc extensions)
from spacy_cot_distill.models.bio import bio_tags
from spacy_cot_distill.models.crf import (
    FORBIDDEN, SCORE_SCALE, LinearChainCRF, crf_distillation_loss, length_mask, pad_rows,
)
from spacy_cot_distill.models.encoder import torch_module
from test_cot_ner import ents, valid_bio
from tiny_models import TRAIN, examples, train_nlp

ROOT = Path(__file__).resolve().parent.parent


def random_crf(n_labels: int, scale: float, seed: int) -> LinearChainCRF:
    """A CRF whose learnt scores are random, of size about `scale` (forbidden entries included)."""
    crf = LinearChainCRF(1 + 2 * n_labels)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in (crf.transitions, crf.start, crf.end):
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale / SCORE_SCALE)
    return crf


def path_scores(crf: LinearChainCRF, emissions: torch.Tensor):
    """Every tag path of one doc [L, n_tags] and its score, by enumeration (forbidden paths: -inf)."""
    transitions, start, end = crf.scores(fill=float("-inf"))
    paths = list(itertools.product(range(emissions.shape[1]), repeat=emissions.shape[0]))
    scores = []
    for path in paths:
        score = start[path[0]] + end[path[-1]] + sum(emissions[t, tag] for t, tag in enumerate(path))
        scores.append(score + sum(transitions[a, b] for a, b in zip(path, path[1:])))
    return paths, torch.stack(scores)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 3),
    st.lists(st.integers(1, 12), min_size=1, max_size=4),
    st.sampled_from([1.0, 10.0, 1000.0]),
    st.integers(0, 2**31 - 1),
)
def test_crf_decodes_only_valid_bio(n_labels, lengths, scale, seed):
    """Random emissions and random learnt scores (even where forbidden): never I-X after O, B-Y, I-Y or at the start."""
    crf = random_crf(n_labels, scale, seed)
    tags = bio_tags([f"L{i}" for i in range(n_labels)])
    generator = torch.Generator().manual_seed(seed + 1)
    emissions = torch.randn(sum(lengths), len(tags), generator=generator) * scale
    emissions[:, [tag.startswith("I-") for tag in tags]] += 3.0 * scale  # the network prefers I- tags
    paths = crf.decode(pad_rows(emissions, lengths), length_mask(lengths))
    assert [len(path) for path in paths] == lengths
    assert all(valid_bio([tags[i] for i in path]) for path in paths)


def test_crf_likelihood_marginals_and_viterbi_match_enumeration():
    """log Z, -log P(gold) (unknown gold tags marginalised), the marginals and the best path, padded batch of two."""
    crf = random_crf(2, 1.0, 0)
    torch.manual_seed(0)
    lengths = [4, 3]
    flat = torch.randn(sum(lengths), 5)
    emissions, mask = pad_rows(flat, lengths), length_mask(lengths)
    gold = pad_rows(torch.tensor([1, 2, 0, 3, 3, 4, 0]), lengths)
    known = pad_rows(torch.tensor([True, True, True, True, True, False, True]), lengths, False)
    nll, log_z = crf.nll(emissions, gold, known, mask), crf.log_partition(emissions, mask)
    marginals = crf.log_marginals(emissions, mask).exp()
    best = crf.decode(emissions, mask)
    for b, length in enumerate(lengths):
        paths, scores = path_scores(crf, emissions[b, :length])
        assert torch.allclose(log_z[b], torch.logsumexp(scores, 0), atol=1e-4)
        fits = [i for i, path in enumerate(paths) if all(path[t] == gold[b, t] or not known[b, t] for t in range(length))]
        assert torch.allclose(nll[b], torch.logsumexp(scores, 0) - torch.logsumexp(scores[fits], 0), atol=1e-4)
        probabilities = (scores - torch.logsumexp(scores, 0)).exp()
        expected = torch.zeros(length, 5)
        for path, p in zip(paths, probabilities):
            expected[torch.arange(length), list(path)] += p
        assert torch.allclose(marginals[b, :length], expected, atol=1e-5)
        assert best[b] == list(paths[int(scores.argmax())])


def test_crf_loss_forbidden_scores_stay_forbidden_and_teacher_is_a_target():
    """The loss never moves a forbidden score (no gradient, still FORBIDDEN) nor pulls the teacher by the KL."""
    crf = random_crf(2, 1.0, 0)
    torch.manual_seed(0)
    teacher, student = torch.randn(7, 5, requires_grad=True), torch.randn(7, 5, requires_grad=True)
    gold, known = torch.tensor([1, 2, 0, 3, 3, 4, 0]), torch.tensor([1, 1, 1, 1, 1, 0, 1])
    kl_only = crf_distillation_loss(crf, teacher, student, gold, known, [4, 3], alpha=0.0, temperature=2.0)
    assert float(kl_only.detach()) > 0
    kl_only.backward()
    assert not teacher.grad.any() and student.grad.any()
    assert not crf.transitions.grad[~crf.allowed].any() and crf.transitions.grad[crf.allowed].any()
    assert not crf.start.grad[~crf.allowed_start].any()
    same = crf_distillation_loss(crf, student.detach(), student, gold, known, [4, 3], alpha=0.0, temperature=2.0)
    assert abs(float(same.detach())) < 1e-5
    nll = crf_distillation_loss(crf, None, student, gold, known, [4, 3], alpha=0.5, temperature=1.0)
    emissions, mask = pad_rows(student, [4, 3]), length_mask([4, 3])
    by_doc = crf.nll(emissions, pad_rows(gold, [4, 3]), pad_rows(known.bool(), [4, 3], False), mask)
    assert torch.allclose(nll, by_doc.sum() / 6)
    with torch.no_grad():
        crf.transitions.fill_(1e6)
    assert (crf.scores()[0][~crf.allowed] == FORBIDDEN).all()


def crf_nlp(encoder: Path):
    nlp = spacy.blank("en")
    nlp.add_pipe("cot_ner", config={"model": {"encoder": str(encoder), "head": "crf"}, "max_length": 32})
    return nlp


def test_crf_whitespace_tokens_are_never_entities(tiny_encoder):
    """With emissions and learnt transitions that favour PER everywhere, whitespace still gets O."""
    nlp = crf_nlp(tiny_encoder)
    nlp.initialize(lambda: examples(nlp))
    ner = nlp.get_pipe("cot_ner")
    module = torch_module(ner.model)
    b, i = ner.tags.index("B-PER"), ner.tags.index("I-PER")
    with torch.no_grad():
        module.output.bias[b] += 100.0
        module.output.bias[i] += 200.0
        module.crf.transitions[:, i] += 1000.0 / SCORE_SCALE  # also where forbidden: O -> I-PER stays out
    words = ["John", "\n\n", "Smith", " ", "went", "home"]
    spaces = [True, False, True, False, True, False]
    doc = nlp(Doc(nlp.vocab, words=words, spaces=spaces))
    assert [token.ent_iob_ for token in doc] == ["B", "O", "B", "O", "B", "I"]
    assert all(not token.is_space for ent in doc.ents for token in ent)


def test_crf_head_overfits(tiny_encoder):
    """spaCy's overfitting pattern with the CRF head, distilled; the learnt transitions move off 0."""
    nlp, losses = train_nlp(tiny_encoder, n_iter=40, model={"encoder": str(tiny_encoder), "head": "crf"})
    assert losses[-1] < losses[0] / 10
    assert [ents(nlp(text)) for text, _ in TRAIN] == [sorted(gold) for _, gold in TRAIN]
    crf = nlp.get_pipe("cot_ner").crf
    assert crf.transitions[crf.allowed].abs().max() > 0.1 / SCORE_SCALE


def test_crf_trains_with_spacy_train_and_round_trips(tiny_encoder, tmp_path):
    """configs/cot_ner.cfg with head = "crf" trains with `spacy train`; disk and bytes round trips predict the same."""
    nlp = spacy.blank("en")
    corpus = tmp_path / "train.spacy"
    DocBin(docs=[eg.reference for eg in examples(nlp)], store_user_data=True).to_disk(corpus)
    overrides = {
        "paths.train": str(corpus), "paths.dev": str(corpus), "paths.encoder": str(tiny_encoder),
        "training.max_steps": 6, "training.eval_frequency": 3, "training.optimizer.learn_rate.warmup_steps": 1,
        "components.cot_ner.model.head": "crf",
    }
    train(ROOT / "configs" / "cot_ner.cfg", tmp_path / "out", overrides=overrides)  # what `spacy train` runs
    trained = spacy.load(tmp_path / "out" / "model-last")
    crf = trained.get_pipe("cot_ner").crf
    assert crf is not None and crf.transitions[crf.allowed].abs().max() > 0  # learnt in those steps
    texts = [text for text, _ in TRAIN] + ["rt @ john : mary went to paris"]
    docs = list(trained.pipe(texts))
    predicted = [[(t.ent_iob_, t.ent_type_) for t in doc] for doc in docs]
    assert all(valid_bio([iob + "-" + kind if kind else "O" for iob, kind in doc]) for doc in predicted)
    trained.to_disk(tmp_path / "saved")
    from_disk = spacy.load(tmp_path / "saved")
    from_bytes = spacy.blank("en").from_config(trained.config).from_bytes(trained.to_bytes())
    for loaded in (from_disk, from_bytes):
        again = [[(t.ent_iob_, t.ent_type_) for t in doc] for doc in loaded.pipe(texts)]
        assert again == predicted
        assert torch.equal(loaded.get_pipe("cot_ner").crf.transitions, crf.transitions)


def test_unknown_head_is_refused(tiny_encoder):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="head must be one of"):
        nlp.add_pipe("cot_ner", config={"model": {"encoder": str(tiny_encoder), "head": "hmm"}})

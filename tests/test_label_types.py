"""cot_rel type constraints: labels whose argument types contradict the pair's entities get no probability."""
import pytest
import torch
from spacy.tokens import Doc, Span
from spacy.training import Example

import spacy_cot_distill  # noqa: F401  (doc extensions)
from spacy_cot_distill.models.encoder import torch_module
from spacy_cot_distill.pipeline.label_types import allowed_labels, label_types_from_names
from tiny_models import make_tiny_bert
from tiny_relations import TRAIN, given_pairs, make_doc, rel_nlp

ENTITY_PAIRS = {"@misc": "spacy_cot_distill.EntityPairs.v1", "max_distance": 20}
MNRE_TYPES = {"@misc": "spacy_cot_distill.LabelTypesFromNames.v1"}


def test_types_read_off_mnre_label_names():
    types = label_types_from_names()
    assert types("/per/org/member_of") == ("PER", "ORG")
    assert types("/misc/loc/held_on") == ("MISC", "LOC")
    assert types("None") is None and types("/per/event/x") is None and types("per/org/x") is None
    assert label_types_from_names({"per": "PERSON", "org": "ORG"})("/per/org/member_of") == ("PERSON", "ORG")


def test_allowed_labels_constrain_only_known_types():
    labels = ["None", "/per/org/member_of", "/per/loc/place_of_residence", "/org/loc/locate_at"]
    allowed = allowed_labels(label_types_from_names(), labels, [("PER", "LOC"), ("PER", None), ("ENTITY", "ENTITY")])
    assert allowed.tolist() == [
        [True, False, True, False],
        [True, True, True, False],  # no entity on the tail: only the head's type rules labels out
        [True, True, True, True],  # untyped entities (MNRE's ENTITY) constrain nothing
    ]


@pytest.fixture(scope="module")
def typed(tmp_path_factory):
    """A tiny cot_rel over EntityPairs with type constraints, and a doc with PER, ORG and LOC entities."""
    torch.set_num_threads(1)
    nlp = rel_nlp(make_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert"), candidates=ENTITY_PAIRS, label_types=MNRE_TYPES)
    gold = [make_doc(nlp, text, rels) for text, rels in TRAIN]
    nlp.initialize(lambda: [Example(given_pairs(doc), doc) for doc in gold])
    doc = Doc(nlp.vocab, words="Obama said Apple is in London".split())
    doc.ents = [Span(doc, 0, 1, "PER"), Span(doc, 2, 3, "ORG"), Span(doc, 5, 6, "LOC")]
    return nlp, doc


def test_impossible_labels_get_no_probability_at_inference(typed):
    nlp, doc = typed
    rel = nlp.get_pipe("cot_rel")
    types = {(0, 1): "PER", (2, 3): "ORG", (5, 6): "LOC"}
    for (head, tail), probs in rel.predict([doc])[0]:
        for label, p in zip(rel.labels, probs):
            possible = label == "None" or label.split("/")[1:3] == [types[head].lower(), types[tail].lower()]
            assert (p > 0) == possible, (head, tail, label, p)
    rel.label_types = None
    try:
        assert all((probs > 0).all() for _, probs in rel.predict([doc])[0])  # unconstrained: every label
    finally:
        rel.label_types = label_types_from_names()


def label_gradients(rel, example):
    """The gradient norm that one update sends into each label's output weights."""
    output = torch_module(rel.model).output
    output.weight.grad = None
    rel.update([example])  # no optimizer: the gradients stay in .grad
    return dict(zip(rel.labels, output.weight.grad.abs().sum(dim=1).tolist()))


def test_training_pushes_no_gradient_into_impossible_labels(typed):
    nlp, _ = typed
    rel = nlp.get_pipe("cot_rel")
    predicted = Doc(nlp.vocab, words="Obama said Apple is in London".split())
    predicted.ents = [Span(predicted, 0, 1, "PER"), Span(predicted, 5, 6, "LOC")]
    reference = Doc(nlp.vocab, words=[t.text for t in predicted])
    # the PER-LOC pair, and its reverse, that the data labels /per/per/peer (noise: its own label is still learnt)
    reference._.relations = [
        {"head": [0, 1], "tail": [5, 6], "label": "/per/loc/place_of_residence"},
        {"head": [5, 6], "tail": [0, 1], "label": "/per/per/peer"},
    ]
    example = Example(predicted, reference)
    grads = label_gradients(rel, example)
    assert grads["/per/org/member_of"] == 0.0 and grads["/org/loc/locate_at"] == 0.0
    assert grads["/per/loc/place_of_residence"] > 0 and grads["None"] > 0 and grads["/per/per/peer"] > 0
    rel.label_types = None
    try:
        grads = label_gradients(rel, example)
    finally:
        rel.label_types = label_types_from_names()
    assert grads["/per/org/member_of"] > 0 and grads["/org/loc/locate_at"] > 0  # unconstrained: every label learns

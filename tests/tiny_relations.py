"""The tests' small relation corpus and the helpers that build, hand over and train cot_rel pipelines on it."""
import random

import spacy
from spacy.tokens import Doc, Span

import spacy_cot_distill  # noqa: F401  (doc extensions)

TRAIN = [
    ("John Smith went to New York today", {(0, 2, 4, 6): "/per/loc/place_of_residence", (4, 6, 0, 2): "None"}),
    ("Obama said Apple is in London", {(0, 1, 2, 3): "/per/org/member_of", (2, 3, 5, 6): "/org/loc/locate_at", (0, 1, 5, 6): "None"}),
    ("Mary visit Paris and Google !", {(0, 1, 4, 5): "/per/org/member_of", (2, 3, 4, 5): "None"}),
    ("John said Mary is in Paris", {(0, 1, 2, 3): "/per/per/peer"}),
]
KNOWLEDGE = {"noun": "apple is a city", "sentence": "obama said people in london are about apple"}


def make_doc(nlp, text, relations=None, knowledge=True):
    doc = nlp.make_doc(text)
    if relations:
        doc._.relations = [
            {"head": [h0, h1], "tail": [t0, t1], "label": label, "score": 1.0}
            for (h0, h1, t0, t1), label in relations.items()
        ]
        spans = {(h0, h1) for h0, h1, _, _ in relations} | {(t0, t1) for _, _, t0, t1 in relations}
        doc.ents = [Span(doc, s, e, label="ENT") for s, e in sorted(spans)]
    if knowledge:
        doc._.cot = dict(KNOWLEDGE)
    return doc


def given_pairs(doc):
    """The doc as a user hands it to a GoldPairs pipeline: words and unlabelled pairs."""
    predicted = Doc(doc.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc])
    predicted._.relations = [{"head": r["head"], "tail": r["tail"]} for r in doc._.relations]
    return predicted


def rel_nlp(encoder, **cfg):
    nlp = spacy.blank("en")
    config = {"model": {"encoder": str(encoder), "m": 2, "n_heads": 2, "dropout": 0.0}, "max_length": 32}
    config.update(cfg)
    nlp.add_pipe("cot_rel", config=config)
    return nlp


def train(nlp, examples, steps, annotates=()):
    spacy.util.fix_random_seed(0)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 5e-3
    for _ in range(steps):
        losses = nlp.update(examples, sgd=optimizer, annotates=list(annotates))
    return losses


WORDS = "John Mary Obama Smith said went to visit Paris London New York Apple Google and is in today".split()


def corpus(n):
    """n distinct texts: the training tweets, then seeded recombinations of their words."""
    rng = random.Random(0)
    texts = [text for text, _ in TRAIN]
    while len(texts) < n:
        texts.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))))
    return texts[:n]

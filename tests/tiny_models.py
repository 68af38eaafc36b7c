"""The tests' tiny random BERT and the small NER corpus that cot_ner overfits (shared by several test files)."""
from pathlib import Path

import spacy
import torch
from spacy.tokens import DocBin, Span
from spacy.training import Example

import spacy_cot_distill  # noqa: F401  (doc extensions)

TRAIN = [
    ("John Smith went to New York today", [(0, 10, "PER"), (19, 27, "LOC")]),
    ("Obama said Apple is in London", [(0, 5, "PER"), (11, 16, "ORG"), (23, 29, "LOC")]),
    ("Mary visit Paris and Google !", [(0, 4, "PER"), (11, 16, "LOC"), (21, 27, "ORG")]),
    ("RT @ new york : the apple of paris", [(5, 13, "LOC"), (29, 34, "LOC")]),
]
KNOWLEDGE = {"noun": "John Smith and Mary are people , London is a city", "sentence": "a tweet about a visit"}
WORDS = (
    "the a of in at to is was and visit went said new york london paris apple google john mary smith "
    "obama today rt people city tweet about photo are"
).split()
PIECES = [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + list("abcdefghijklmnopqrstuvwxyz.,!@#:")


def make_tiny_bert(path: Path, positions: int = 256) -> Path:
    """A randomly initialised 2-layer BERT (hidden 32, `positions` positions) with a small vocabulary, saved to `path`.

    256 positions leave room for the stock transformer's 128-piece windows (the baseline configs).
    """
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + PIECES) + "\n")
    BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True).save_pretrained(path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=5 + len(WORDS) + len(PIECES), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=positions,
    )
    BertModel(config).save_pretrained(path)
    return path


def examples(nlp, with_knowledge=True):
    result = []
    for text, ents in TRAIN:
        eg = Example.from_dict(nlp.make_doc(text), {"entities": ents})
        if with_knowledge:
            eg.reference._.cot = dict(KNOWLEDGE)
            eg.reference._.caption = "a photo of a city"
        result.append(eg)
    return result


def train_nlp(encoder: Path, n_iter: int = 50, **config):
    """A cot_ner pipeline trained `n_iter` steps on TRAIN (seeded), and its losses."""
    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("cot_ner", config={"model": {"encoder": str(encoder)}, "max_length": 32, **config})
    train = examples(nlp)
    # one doc without knowledge: its teacher view is the text alone
    train[-1].reference.user_data.clear()
    optimizer = nlp.initialize(lambda: train)
    losses = []
    for _ in range(n_iter):
        step = {}
        nlp.update(train, sgd=optimizer, losses=step)
        losses.append(step["cot_ner"])
    return nlp, losses


def write_train_corpus(path: Path) -> Path:
    """TRAIN's tweets with entities (doc.ents and the "entities" span group), relations and knowledge, as a DocBin
    at `path`: a corpus every config in configs/ trains on with `spacy train`.

    Each entity is the head of a relation to the next one, which points back as "None".
    """
    nlp = spacy.blank("en")
    docs = []
    for text, entities in TRAIN:
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(start, end, label=label) for start, end, label in entities]
        doc.spans["entities"] = [Span(doc, e.start, e.end, label=e.label_) for e in doc.ents]
        doc._.relations = [
            relation
            for head, tail in zip(doc.ents, doc.ents[1:])
            for relation in (
                {"head": [head.start, head.end], "tail": [tail.start, tail.end],
                 "label": f"/{head.label_.lower()}/{tail.label_.lower()}/near", "score": 1.0},
                {"head": [tail.start, tail.end], "tail": [head.start, head.end], "label": "None", "score": 1.0},
            )
        ]
        doc._.cot = dict(KNOWLEDGE)
        doc._.caption = "a photo of a city"
        docs.append(doc)
    path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path

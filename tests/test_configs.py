"""Every config in configs/ trains with plain `spacy train` (the tiny encoder, a few steps)."""
from pathlib import Path

import pytest
import spacy
from spacy.cli.train import train
from spacy.tokens import DocBin, Span

import spacy_cot_distill  # noqa: F401  (doc extensions)
from tiny_models import KNOWLEDGE, TRAIN

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.cfg"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """TRAIN's tweets with entities (doc.ents and the "entities" span group), relations and knowledge.

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
    path = tmp_path_factory.mktemp("corpus") / "train.spacy"
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path


def test_configs_are_found():
    assert {"cot_ner.cfg", "cot_rel.cfg", "cot_ner_rel.cfg", "baseline_ner.cfg"} <= {c.name for c in CONFIGS}


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_config_trains_with_spacy_train(config, corpus, tiny_encoder, tmp_path):
    overrides = {
        "paths.train": str(corpus), "paths.dev": str(corpus), "paths.encoder": str(tiny_encoder),
        "training.max_steps": 3, "training.eval_frequency": 3,
    }
    train(config, tmp_path, overrides=overrides)  # what `spacy train` runs
    nlp = spacy.load(tmp_path / "model-last")
    weighted = {name for name, weight in nlp.config["training"]["score_weights"].items() if weight is not None}
    assert weighted and weighted <= set(nlp.meta["performance"]), nlp.meta["performance"]
    if "cot_rel" in nlp.pipe_names:
        assert nlp.get_pipe("cot_rel").labels[0] == "None"

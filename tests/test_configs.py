"""Every config in configs/ trains with plain `spacy train` (the tiny encoder, a few steps)."""
from pathlib import Path

import pytest
import spacy
from spacy.cli.train import train
from spacy.tokens import DocBin
from spacy.util import load_config
from spacy.vocab import Vocab

import spacy_cot_distill  # noqa: F401  (doc extensions)
from spacy_cot_distill.data.docbin import read_docs
from tiny_models import write_train_corpus

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.cfg"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """TRAIN's tweets with entities, relations and knowledge (tiny_models.write_train_corpus)."""
    return write_train_corpus(tmp_path_factory.mktemp("corpus") / "train.spacy")


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


def test_cot_ner_trains_on_unlabelled_docs_and_records_them(corpus, tiny_encoder, tmp_path):
    """configs/cot_ner.cfg with paths.unlabelled: the corpus's docs with their gold hidden, read every epoch."""
    vocab = Vocab()
    hidden = read_docs(corpus, vocab)
    for doc in hidden:
        doc.set_ents([], default="missing")
        doc._.relations = []
    DocBin(docs=hidden, store_user_data=True).to_disk(tmp_path / "raw.spacy")
    overrides = {
        "paths.train": str(corpus), "paths.dev": str(corpus), "paths.encoder": str(tiny_encoder),
        "paths.unlabelled": str(tmp_path / "raw.spacy"), "corpora.train.unlabelled_share": 0.3,
        "training.max_steps": 3, "training.eval_frequency": 3, "training.max_epochs": -1,
    }
    train(CONFIGS[[c.name for c in CONFIGS].index("cot_ner.cfg")], tmp_path / "out", overrides=overrides)
    config = spacy.load(tmp_path / "out" / "model-last").config
    assert config["paths"]["unlabelled"] == str(tmp_path / "raw.spacy")
    assert config["corpora"]["train"]["unlabelled_share"] == 0.3


def test_the_stock_baseline_never_reads_unlabelled_docs():
    for path in CONFIGS:
        config = load_config(path)
        train = config["corpora"]["train"]
        if path.stem.startswith("baseline"):
            assert "unlabelled" not in config["paths"] and train.get("unlabelled") is None, path.name

"""Every config in configs/ trains with plain `spacy train` (the tiny encoder, a few steps)."""
from pathlib import Path

import pytest
import spacy
from spacy.cli.train import train

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

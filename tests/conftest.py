"""Shared by every test: one torch thread, one tiny random BERT and the synthetic corpora, each made once a run, and
the skip of the GPU-marked tests where there is no GPU."""
from pathlib import Path

import pytest
import spacy
import torch
from spacy.training import Example

from corpora import write_corpora
from llm_helpers import API_KEY
from llm_server import serve
from tiny_models import make_tiny_bert
from tiny_relations import TRAIN as REL_TRAIN, make_doc, train

# tiny models: one thread trains them faster than two on a shared CI machine
torch.set_num_threads(1)
# the suite's one skip: CI has no GPU
NO_GPU = "no CUDA GPU here (torch.cuda.is_available() is False): the GPU tests run on a GPU machine, see docs/gpu.md"


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked `gpu` where torch sees no CUDA GPU, with the reason in the summary (-rs)."""
    if torch.cuda.is_available():
        return
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=NO_GPU))


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    """A tiny random BERT directory (tests that delete or change it take a copy)."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert")


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> Path:
    """The synthetic corpora of tests/corpora.py, laid out as ../shared/data (read-only by convention)."""
    return write_corpora(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory, tiny_encoder):
    """A tiny cot_ner + cot_rel pipeline on disk that finds entities and relations on the training tweets."""
    path = tmp_path_factory.mktemp("annotate")
    model = {"encoder": str(tiny_encoder), "m": 2, "n_heads": 2, "dropout": 0.0}
    nlp = spacy.blank("en")
    nlp.add_pipe("cot_ner", config={"model": model, "max_length": 32})
    nlp.add_pipe("cot_rel", config={"model": model, "max_length": 32, "candidates": {
        "@misc": "spacy_cot_distill.EntityPairs.v1", "max_distance": 10}})
    gold = [make_doc(nlp, text, rels) for text, rels in REL_TRAIN]
    train(nlp, [Example(nlp.make_doc(doc.text), doc) for doc in gold], 80, annotates=["cot_ner"])
    nlp.to_disk(path / "model")
    return path / "model"


@pytest.fixture
def server(monkeypatch):
    """A loopback OpenAI-compatible server, with the test key in the environment."""
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with serve() as server:
        yield server

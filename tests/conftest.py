"""Shared by every test: one torch thread, one tiny random BERT and the synthetic corpora, each made once a run."""
from pathlib import Path

import pytest
import torch

from corpora import write_corpora
from tiny_models import make_tiny_bert

# tiny models: one thread trains them faster than two on a shared CI machine
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    """A tiny random BERT directory (tests that delete or change it take a copy)."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert")


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> Path:
    """The synthetic corpora of tests/corpora.py, laid out as ../shared/data (read-only by convention)."""
    return write_corpora(tmp_path_factory.mktemp("data"))

"""Shared by every test: one torch thread, and one tiny random BERT built once for the whole run."""
from pathlib import Path

import pytest
import torch

from tiny_models import make_tiny_bert

# tiny models: one thread trains them faster than two on a shared CI machine
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    """A tiny random BERT directory (tests that delete or change it take a copy)."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert")

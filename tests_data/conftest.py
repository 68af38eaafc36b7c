"""The real-data suite: checks against the real corpora (../shared/data's layout), given with --data DIR.

Run it as `python -m pytest tests_data --data DIR` (default DIR: ../shared/data beside the checkout). Without
the folder it stops with an error, never a skip. It uses the default suite's helpers in tests/.
"""
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from tiny_models import make_tiny_bert  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data"
LAYOUT = ("twitter2015", "twitter2017", "mnre", "captions", "knowledge/chatgpt-pgim", "knowledge/qwen2.5-coder-1.5b")

# tiny models: one thread trains them faster than two on a shared CI machine
torch.set_num_threads(1)


def pytest_addoption(parser):
    parser.addoption("--data", default=str(DEFAULT_DATA), metavar="DIR",
                     help="the real corpora, laid out as ../shared/data (default: %(default)s)")


def pytest_configure(config):
    data = Path(config.getoption("--data")).resolve()
    missing = [name for name in LAYOUT if not (data / name).is_dir()]
    if missing:
        found = f"{data} lacks {', '.join(missing)}" if data.is_dir() else f"{data} is not a folder"
        raise pytest.UsageError(
            f"the real-data suite needs the benchmark corpora: {found}. "
            "Pass --data DIR, a folder laid out as ../shared/data (see its README)."
        )


@pytest.fixture(scope="session")
def real_data(pytestconfig) -> Path:
    return Path(pytestconfig.getoption("--data")).resolve()


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert")

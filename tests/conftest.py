from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real benchmark data beside the checkout (../shared/data), there on every dev machine and in CI."""
    assert SHARED_DATA.is_dir(), f"expected the shared benchmark data at {SHARED_DATA}"
    return SHARED_DATA

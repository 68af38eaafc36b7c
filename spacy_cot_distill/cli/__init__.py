"""The `cot-distill` command line: one module per command, as in spacy.cli."""
from ._app import app
from . import convert  # noqa: F401  (registers the commands)
from . import generate  # noqa: F401
from . import augment  # noqa: F401

__all__ = ["app"]

"""The `cot-distill` command line: one module per command, as in spacy.cli."""
from ._app import app
from . import annotate, augment, convert, encoder, evaluate, generate, quantize, show  # noqa: F401  (registers the commands)

__all__ = ["app"]

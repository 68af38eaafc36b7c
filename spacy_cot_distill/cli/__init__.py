"""The `cot-distill` command line: one module per command, as in spacy.cli."""
from ._app import app
from . import (  # noqa: F401  (registers the commands)
    annotate, augment, cache, convert, encoder, evaluate, generate, import_knowledge, quantize, show, silver, teach,
)

__all__ = ["app"]

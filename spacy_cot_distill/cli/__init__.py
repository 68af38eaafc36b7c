"""The `cot-distill` command line: one module per command, as in spacy.cli."""
from ._app import app
from . import augment, cache, convert, encoder, evaluate, generate, import_knowledge, show  # noqa: F401  (registers the commands)

__all__ = ["app"]

"""Distil an LLM's chain-of-thought into a small, fast spaCy pipeline."""
from .about import __version__
from .data.extensions import register_extensions

register_extensions()

__all__ = ["__version__", "register_extensions"]

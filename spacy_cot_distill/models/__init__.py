"""Torch parts: encoder loading and serialisation, prompt generator, heads, losses."""

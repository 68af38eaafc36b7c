"""Data augmentation from the LLM: style rewrites, same-type entity swaps checked for plausibility, imagined captions."""
from .align import align_spans
from .augment import KINDS, KindSummary, augment, augment_docbin, parse_rewrite, parse_yes_no
from .swap import entity_pool, swap_entities

__all__ = [
    "KINDS", "KindSummary", "align_spans", "augment", "augment_docbin", "entity_pool", "parse_rewrite",
    "parse_yes_no", "swap_entities",
]

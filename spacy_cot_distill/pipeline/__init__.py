"""spaCy components of spacy-cot-distill."""
from .distill_pipe import DistillationPipe
from .ner import CotNer, make_cot_ner
from .pairs import entity_pairs, gold_pairs
from .rel import CotRel, make_cot_rel
from .rel_scorer import make_rel_scorer, score_relations
from .settings import DISTILL_DEFAULTS, DistillSettings

__all__ = [
    "DISTILL_DEFAULTS",
    "DistillSettings",
    "DistillationPipe",
    "CotNer",
    "make_cot_ner",
    "CotRel",
    "make_cot_rel",
    "gold_pairs",
    "entity_pairs",
    "make_rel_scorer",
    "score_relations",
]

"""spaCy components of spacy-cot-distill."""
from .ner import CotNER, make_cot_ner

__all__ = ["CotNER", "make_cot_ner"]

"""The doc extensions (the README's table under "The Python API"), kept msgpack-safe so DocBin stores them."""
from typing import Any, Callable, Dict, List

from spacy.tokens import Doc

# augmented_from: {"doc_id", "kind"} or None; teacher_log_probs: see data/teacher.py
_PLAIN = ("doc_id", "image_id", "caption", "augmented_from", "teacher_log_probs")


def _relations(value: Any) -> List[Dict[str, Any]]:
    # DocBin's msgpack reads lists back as tuples: give users the documented lists again
    return [{**rel, "head": list(rel["head"]), "tail": list(rel["tail"])} for rel in value or ()]


def _cot(value: Any) -> Dict[str, str]:
    return dict(value or {})


_CONTAINERS: Dict[str, Callable[[Any], Any]] = {"cot": _cot, "relations": _relations, "cot_flags": _cot}


def _stored(name: str, normalise: Callable[[Any], Any]):
    key = ("._.", name, None, None)  # where spaCy keeps plain doc extensions, so DocBin stores it

    def getter(doc: Doc):
        user_data: Dict[Any, Any] = doc.user_data  # keyed by tuples, not only str as typed
        value = user_data.get(key)
        if not isinstance(value, (dict, list)):
            value = user_data[key] = normalise(value)
        return value

    def setter(doc: Doc, value) -> None:
        user_data: Dict[Any, Any] = doc.user_data
        user_data[key] = normalise(value)

    return getter, setter


def register_extensions() -> None:
    """Register doc._.doc_id, image_id, caption, augmented_from, teacher_log_probs, relations_annotated, cot,
    cot_flags and relations (idempotent)."""
    for name in _PLAIN:
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=None)
    # False: nobody annotated the doc's relations (its empty doc._.relations says nothing); docs saved before the
    # marker existed read True, as they were trained
    if not Doc.has_extension("relations_annotated"):
        Doc.set_extension("relations_annotated", default=True)
    for name, normalise in _CONTAINERS.items():
        if not Doc.has_extension(name):
            getter, setter = _stored(name, normalise)
            Doc.set_extension(name, getter=getter, setter=setter)

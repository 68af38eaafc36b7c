"""The doc extensions of DESIGN.md, kept msgpack-safe so DocBin stores them."""
from spacy.tokens import Doc

# name -> default; mutable defaults must be getters, or every doc would share one object
_EXTENSIONS = {
    "doc_id": {"default": None},
    "image_id": {"default": None},
    "caption": {"default": None},
}
_FACTORIES = {"cot": dict, "relations": list, "cot_flags": dict}


def _stored(name, factory):
    def getter(doc: Doc):
        value = doc.user_data.get(("._.", name, None, None))
        if value is None:
            value = factory()
            doc.user_data[("._.", name, None, None)] = value
        return value

    def setter(doc: Doc, value) -> None:
        doc.user_data[("._.", name, None, None)] = value

    return getter, setter


def register_extensions() -> None:
    """Register doc._.doc_id, image_id, caption, cot and relations (idempotent)."""
    for name, kwargs in _EXTENSIONS.items():
        if not Doc.has_extension(name):
            Doc.set_extension(name, **kwargs)
    for name, factory in _FACTORIES.items():
        if not Doc.has_extension(name):
            getter, setter = _stored(name, factory)
            Doc.set_extension(name, getter=getter, setter=setter)

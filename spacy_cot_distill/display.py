"""displaCy views of docs: entities, relations as labelled arcs, and the CoT knowledge beside them.

Every string from the data is escaped here: displaCy escapes the text but not entity labels, tags or arc labels.
"""
import html
from typing import Dict, Iterable, List, Tuple

from spacy import displacy
from spacy.tokens import Doc, Span

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem; color: #222; }}
.doc {{ display: flex; gap: 2rem; border-bottom: 1px solid #ddd; padding: 1rem 0; }}
.view {{ flex: 3; min-width: 0; overflow-x: auto; }}
.cot {{ flex: 2; font-size: 0.9rem; background: #f7f7f9; padding: 0.5rem 1rem; border-radius: 6px; }}
.cot dt {{ font-weight: 600; text-transform: capitalize; margin-top: 0.5rem; }}
.meta {{ color: #777; font-size: 0.8rem; }}
</style></head>
<body><h1>{title}</h1>
{docs}
</body></html>
"""


def _entities(doc: Doc) -> List[Span]:
    return list(doc.ents) or list(doc.spans.get("entities", []))


def _relation_arcs(doc: Doc) -> str:
    """Relations as a displaCy arc view, each entity collapsed into one labelled 'word'."""
    spans = sorted(_entities(doc), key=lambda s: (s.start, s.end))
    words: List[Dict[str, str]] = []
    index: Dict[Tuple[int, int], int] = {}
    i = 0
    while i < len(doc):
        span = next((s for s in spans if s.start == i), None)
        if span is not None:
            index[(span.start, span.end)] = len(words)
            words.append({"text": span.text, "tag": html.escape(span.label_)})
            i = span.end
        else:
            words.append({"text": doc[i].text, "tag": ""})
            i += 1
    arcs = []
    for rel in doc._.relations:
        head, tail = index.get(tuple(rel["head"])), index.get(tuple(rel["tail"]))
        if head is None or tail is None or head == tail or rel["label"] == "None":
            continue
        label = f"{rel['label']} {rel['score']:.2f}" if rel.get("score", 1.0) < 1.0 else str(rel["label"])
        arcs.append({"start": min(head, tail), "end": max(head, tail), "label": html.escape(label),
                     "dir": "right" if head < tail else "left"})
    if not arcs:
        return ""
    parsed = {"words": words, "arcs": arcs}
    return displacy.render(parsed, style="dep", manual=True, page=False, options={"compact": True, "distance": 110, "offset_x": 80})


def _entity_view(doc: Doc) -> str:
    ents = [{"start": s.start_char, "end": s.end_char, "label": html.escape(s.label_)} for s in _entities(doc)]
    return displacy.render({"text": doc.text, "ents": ents, "title": None}, style="ent", manual=True, page=False)


def _knowledge(doc: Doc) -> str:
    rows = [(dim, text) for dim, text in doc._.cot.items() if text]
    if doc._.caption:
        rows.insert(0, ("caption", doc._.caption))
    if not rows:
        return ""
    items = "".join(f"<dt>{html.escape(str(dim))}</dt><dd>{html.escape(str(text))}</dd>" for dim, text in rows)
    return f'<aside class="cot"><dl>{items}</dl></aside>'


def render_page(docs: Iterable[Doc], title: str = "spacy-cot-distill") -> str:
    """One HTML page: per doc, its entities, its relations as arcs and, if it has any, its knowledge."""
    parts = []
    for doc in docs:
        meta = f'<div class="meta">{html.escape(str(doc._.doc_id))}</div>' if doc._.doc_id else ""
        view = f'<div class="view">{meta}{_entity_view(doc)}{_relation_arcs(doc)}</div>'
        parts.append(f'<section class="doc">{view}{_knowledge(doc)}</section>')
    return PAGE.format(title=html.escape(title), docs="\n".join(parts))

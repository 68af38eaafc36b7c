"""Scoring a pipeline on gold docs, text only, with per-type and per-label tables."""
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Union

from spacy.language import Language
from wasabi import msg

from .data.docbin import read_docs

if TYPE_CHECKING:
    from spacy.tokens import Doc

GIVEN_PAIRS = "spacy_cot_distill.GoldPairs.v1"
PAIRS_READER = "spacy_cot_distill.PairsCorpus.v1"


def classifies_given_pairs(nlp: Language) -> bool:
    """Whether a `cot_rel` component of `nlp` classifies the pairs a doc brings (GoldPairs, MNRE's protocol)."""
    return any(
        component.get("factory") == "cot_rel" and component.get("candidates", {}).get("@misc") == GIVEN_PAIRS
        for component in nlp.config["components"].values()
    )


def words_only(doc: "Doc", with_knowledge: bool = False) -> "Doc":
    """A doc of `doc`'s words and spaces alone: what a pipeline is given of a gold doc.

    with_knowledge: also hand over its user data (doc._.cot, the caption, the id), for a teacher view that reads
        the knowledge at inference.
    """
    from spacy.tokens import Doc

    return Doc(doc.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc],
               user_data=dict(doc.user_data) if with_knowledge else None)


def gold_examples(nlp: Language, data_path: Union[str, Path], with_knowledge: bool = False) -> List[Any]:
    """The gold docs of `data_path` as examples whose predicted docs hold the words alone.

    Where the pipeline classifies given pairs, the relation data is read with
    the pairs reader, which also hands each doc's pairs (not their labels) to
    the predicted doc: without them there would be nothing to classify.

    with_knowledge: the predicted docs also carry the gold docs' knowledge and caption, for a teacher view that
        reads them at inference.
    """
    from spacy.training import Example
    from spacy.util import registry

    if classifies_given_pairs(nlp):
        return list(registry.readers.get(PAIRS_READER)(Path(data_path), copy_knowledge=with_knowledge)(nlp))
    return [Example(words_only(doc, with_knowledge), doc) for doc in read_docs(data_path, nlp.vocab)]


def evaluate(model: Union[str, Path, Language], data_path: Union[str, Path], gpu_id: int = -1) -> Dict[str, Any]:
    """Run `model` (a pipeline or its name) on the texts of the gold docs in `data_path`; return the components' scores.

    The predicted docs are made from the words alone (plus the candidate pairs
    where `cot_rel` classifies given pairs): no knowledge, caption or image reaches the pipeline.
    """
    import spacy

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    nlp = model if isinstance(model, Language) else spacy.load(model)
    examples = gold_examples(nlp, data_path)
    for warning in gold_warnings(nlp, [eg.reference for eg in examples]):
        msg.warn(warning)
    scores = nlp.evaluate(examples)
    scores.pop("speed", None)
    return {key: value for key, value in scores.items() if value is not None}


def gold_warnings(nlp: Language, gold: List["Doc"]) -> List[str]:
    """What makes the scores misleading: gold labels no component predicts, or no gold to score a component on."""
    factories = {name: nlp.get_pipe_meta(name).factory for name in nlp.pipe_names}
    kinds = (
        ("entity", "entities", ("ner", "cot_ner"), Counter(ent.label_ for doc in gold for ent in doc.ents)),
        ("relation", "relations", ("cot_rel",), Counter(rel["label"] for doc in gold for rel in doc._.relations)),
    )
    warnings = []
    for kind, kinds_name, kind_factories, counts in kinds:
        names = [name for name, factory in factories.items() if factory in kind_factories]
        if not names:
            continue
        if not counts:
            warnings.append(f"The data has no gold {kinds_name}: the {kind} scores of {', '.join(names)} mean nothing.")
            continue
        known = {label for name in names for label in getattr(nlp.get_pipe(name), "labels", ())}
        unknown = sorted(set(counts) - known)
        if unknown:
            shown = ", ".join(f"{label} ({counts[label]})" for label in unknown)
            warnings.append(f"Gold {kind} labels the model does not know, scored as misses: {shown}.")
    return warnings


def _table(per_key: Dict[str, Dict[str, float]], name: str) -> None:
    rows = [(key, f"{v['p'] * 100:.2f}", f"{v['r'] * 100:.2f}", f"{v['f'] * 100:.2f}") for key, v in sorted(per_key.items())]
    msg.table(rows, header=(name, "P", "R", "F"), aligns=("l", "r", "r", "r"))


def print_scores(scores: Dict[str, Any]) -> None:
    """Print the overall figures, then P/R/F per entity type and per relation label."""
    overall = [(key, f"{value * 100:.2f}") for key, value in scores.items() if isinstance(value, float)]
    msg.table(overall, header=("metric", "score"), aligns=("l", "r"))
    for key, name in (("ents_per_type", "entity type"), ("rel_per_label", "relation")):
        if scores.get(key):
            _table(scores[key], name)

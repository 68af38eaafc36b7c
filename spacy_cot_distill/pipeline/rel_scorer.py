"""Relation scores: micro P/R/F over the non-None labels, per label, and accuracy over the gold pairs."""
from collections import Counter
from typing import Any, Callable, Dict, Iterable, Set, Tuple

from spacy.scorer import PRFScore
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry

# a relation as character offsets, so that gold and predicted docs may be tokenized differently
CharPair = Tuple[Tuple[int, int], Tuple[int, int]]


def _char_pair(doc: Doc, relation: Dict[str, Any]) -> CharPair:
    head = doc[relation["head"][0] : relation["head"][1]]
    tail = doc[relation["tail"][0] : relation["tail"][1]]
    return (head.start_char, head.end_char), (tail.start_char, tail.end_char)


def score_relations(examples: Iterable[Example], none_label: str = "None", **kwargs: Any) -> Dict[str, Any]:
    """rel_micro_p/r/f and rel_per_label over the labels other than `none_label`, and rel_acc.

    A gold relation is a hit only if its pair was proposed and given its label:
    a pair that no candidate function proposed counts as a miss. `rel_acc` is the
    share of gold records (`none_label` ones included) whose pair got the gold
    label, a pair left out of the output counting as `none_label`. A pair that
    the data labels twice is two gold records; one prediction can match only one.
    """
    micro = PRFScore()
    per_label: Dict[str, PRFScore] = {}
    correct = total = 0
    for eg in examples:
        gold: Counter = Counter()
        for relation in eg.reference._.relations:
            gold[(_char_pair(eg.reference, relation), relation["label"])] += 1
        predicted: Dict[CharPair, str] = {}
        for relation in eg.predicted._.relations:
            predicted[_char_pair(eg.predicted, relation)] = relation["label"]
        guessed: Set[Tuple[CharPair, str]] = {(pair, label) for pair, label in predicted.items() if label != none_label}
        for (pair, label), count in gold.items():
            total += count
            correct += int(predicted.get(pair, none_label) == label)
        for key in set(gold) | guessed:
            label = key[1]
            if label == none_label:
                continue
            score = per_label.setdefault(label, PRFScore())
            hit = key in guessed and key in gold
            for prf in (micro, score):
                prf.tp += int(hit)
                prf.fp += int(key in guessed and not hit)
                prf.fn += int(key in gold and not hit)
    return {
        "rel_micro_p": micro.precision,
        "rel_micro_r": micro.recall,
        "rel_micro_f": micro.fscore,
        "rel_per_label": {label: s.to_dict() for label, s in sorted(per_label.items())},
        "rel_acc": correct / total if total else 0.0,
    }


@registry.scorers("spacy_cot_distill.rel_scorer.v1")
def make_rel_scorer(none_label: str = "None") -> Callable:
    """The scorer of `score_relations`, which takes the keyword arguments `Pipe.score` passes.

    none_label (str): The label of "no relation" where the caller gives none; `cot_rel`'s score passes its own
        `none_label` (from its cfg), which wins.
    """

    def scorer(examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        return score_relations(examples, **{"none_label": none_label, **kwargs})

    return scorer

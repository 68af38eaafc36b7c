"""Type constraints for `cot_rel`: which entity types a relation label allows for its head and its tail."""
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
from spacy.util import registry

# a label's (head type, tail type), or None where the label constrains nothing
LabelTypes = Callable[[str], Optional[Tuple[str, str]]]
MNRE_TYPES = {"per": "PER", "org": "ORG", "loc": "LOC", "misc": "MISC"}


@registry.misc("spacy_cot_distill.LabelTypesFromNames.v1")
def label_types_from_names(types: Dict[str, str] = MNRE_TYPES) -> LabelTypes:
    """Read the argument types off MNRE-style label names: `/per/org/member_of` -> (PER, ORG).

    types: the entity label for each type name in a relation label; a label not
        of the form `/head/tail/name`, or naming a type not in `types`, constrains nothing.
    """

    def label_types(label: str) -> Optional[Tuple[str, str]]:
        parts = label.split("/")
        if len(parts) != 4 or parts[0] or parts[1] not in types or parts[2] not in types:
            return None
        return types[parts[1]], types[parts[2]]

    return label_types


def allowed_labels(
    label_types: LabelTypes, labels: Sequence[str], pair_types: Sequence[Tuple[Optional[str], Optional[str]]]
) -> torch.Tensor:
    """[n_pairs, n_labels] True where a pair's (head type, tail type) admits the label.

    A type of None (no entity on that span) or outside the types the labels name
    rules nothing out, so a pipeline whose entities are untyped (MNRE's ENTITY) is unconstrained.
    """
    wanted = [label_types(label) for label in labels]
    known = {t for types in wanted if types is not None for t in types}
    rows = []
    for head, tail in pair_types:
        rows.append([
            types is None
            or ((head not in known or head == types[0]) and (tail not in known or tail == types[1]))
            for types in wanted
        ])
    return torch.tensor(rows, dtype=torch.bool).reshape(len(pair_types), len(labels))

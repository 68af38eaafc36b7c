"""Silver labels from the entity lists that knowledge answers already hold, without any LLM call.

PGIM's ChatGPT answers (`../shared/data/knowledge/chatgpt-pgim`) open with a numbered list of the tweet's
entities, each with a free-form type:

    Named entities: 1. Kawhi Leonard (person/player) 2. NBA (league/organization) 3. 2017 (year) Reasoning: ...

`parse_entity_list` reads that list; `map_type` maps a free-form type onto the dataset's labels through
TYPE_WORDS; `silver_from_lists` labels every mention of each listed name (`data.silver`).

A free-form type is split into parts ("sports team/organization": "sports team", "organization") and each part
read by its head, its last word ("team", "organization"); the first head in TYPE_WORDS decides, so the LLM's own
first choice wins ("person/handle" is a person, "football player" a person, not a team). A type with no head in
the table ("year", "event/festival", "hashtag", "award", "product") maps to no label: its name is dropped, and
counted by its type.

TYPE_WORDS was fixed by reading Twitter-2017 and Twitter-2015 TRAIN only, never valid, and not tuned since
(`python -m benchmarks.silver_quality --type-words` prints the table it was read from): a head word is in it
when the names its types describe are mentioned at least 20 times on train and at least half of those mentions
are gold entities of one label, which it then maps to ("event": 1,300 mentions, 28% MISC, so dropped;
"festival": 82% MISC).
"""
import re
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from spacy.tokens import Doc
from spacy.util import minibatch

from ..files import check_writable
from .docbin import BLOCK_DOCS, DocBinWriter, stream_docs
from .silver import SilverSummary, label_mentions, set_silver

LIST_HEADING = re.compile(r"named\s+entities\s*:", re.IGNORECASE)
NEXT_HEADING = re.compile(r"reasoning\s*:", re.IGNORECASE)
ITEM_NUMBER = re.compile(r"(?<![\w.])(\d+)\.(?!\d)")
NAME_TYPE = re.compile(r"^(?P<name>.*?)\s*\((?P<type>[^()]*)\)[\s,.;]*$", re.DOTALL)
QUOTES = "\"'“”‘’"

# the catch-all label of the map; `map_type` renames it to the dataset's (Twitter-2015: OTHER)
MISC = "MISC"
# the head word of a free-form type's part -> the label its names carry on train (see the module docstring)
TYPE_WORDS: Dict[str, str] = {
    **dict.fromkeys(["person", "player", "politician", "musician", "artist", "singer", "character", "celebrity",
                     "actor", "band", "performer", "actress", "photographer", "president", "author", "figure", "coach",
                     "athlete", "name", "host", "director"], "PER"),
    **dict.fromkeys(["location", "country", "city", "place", "venue", "region", "state", "building", "landmark",
                     "stadium"], "LOC"),
    **dict.fromkeys(["organization", "team", "league", "company", "franchise", "school", "club", "institution",
                     "platform", "university", "network", "party", "magazine", "agency"], "ORG"),
    **dict.fromkeys(["festival", "show", "movie", "ceremony", "film", "song", "book", "album"], MISC),
}
# a free-form type's parts: "person/handle", "city, state", "league or organization", "team (sports)"
TYPE_PARTS = re.compile(r"[/,;()]|\bor\b|\band\b")


def parse_entity_list(answer: str) -> Optional[List[Tuple[str, Optional[str]]]]:
    """The (name, free-form type) items of an answer's `Named entities:` list, in order; None without a list.

    Items are numbered 1., 2., ... (with or without spaces or commas between them); an item without a
    parenthesised type at its end gets None as its type.
    """
    heading = LIST_HEADING.search(answer)
    if heading is None:
        return None
    end = NEXT_HEADING.search(answer, heading.end())
    section = answer[heading.end() : end.start() if end else len(answer)]
    # the item numbers in sequence: a number inside a name ("2. 12-year-old girl") is not the next item's
    starts, expected = [], 1
    for match in ITEM_NUMBER.finditer(section):
        if int(match.group(1)) == expected:
            starts.append(match)
            expected += 1
    items = []
    for i, match in enumerate(starts):
        text = section[match.end() : starts[i + 1].start() if i + 1 < len(starts) else len(section)].strip()
        parsed = NAME_TYPE.match(text)
        name, type_ = (parsed.group("name"), parsed.group("type")) if parsed else (text.rstrip(",.; "), None)
        name = name.strip().strip(QUOTES).strip()
        if name:
            items.append((name, " ".join(type_.split()).lower() if type_ is not None else None))
    return items


def type_heads(free_type: str) -> List[str]:
    """The head (last) word of each part of a free-form type, in order: "sports team/organization" -> team, organization."""
    heads = []
    for part in TYPE_PARTS.split(free_type.lower()):
        words = re.findall(r"[a-z]+", part)
        if words:
            heads.append(words[-1])
    return heads


def map_type(free_type: Optional[str], misc_label: str = MISC) -> Optional[str]:
    """The label of a free-form type (None: no label), its catch-all named `misc_label`: the first part whose
    head word is in TYPE_WORDS decides."""
    label = next((TYPE_WORDS[head] for head in type_heads(free_type or "") if head in TYPE_WORDS), None)
    return misc_label if label == MISC else label


def check_labels(labels: Sequence[str]) -> str:
    """The catch-all label among `labels` (PER, LOC, ORG and one more), or a ValueError saying what the map needs."""
    others = [label for label in labels if label not in ("PER", "LOC", "ORG")]
    if not {"PER", "LOC", "ORG"} <= set(labels) or len(others) != 1:
        raise ValueError(f"The entity-list type map labels PER, LOC, ORG and one catch-all label (Twitter-2017: "
                         f"MISC, Twitter-2015: OTHER), not {', '.join(labels)}: pass --labels PER,LOC,ORG,MISC")
    return others[0]


def silver_from_lists(docs: Iterable[Doc], dim: str, labels: Sequence[str], summary: SilverSummary) -> Iterator[Doc]:
    """Store silver entities from the entity list in each doc's `doc._.cot[dim]`; a doc without one gets none."""
    misc_label = check_labels(labels)
    for doc in docs:
        summary.docs += 1
        items = parse_entity_list(doc._.cot.get(dim) or "")
        if items is None:
            summary.unparsed.append(str(doc._.doc_id))
            yield doc
            continue
        entities = []
        for name, free_type in items:
            label = map_type(free_type, misc_label)
            if label is None:
                summary.dropped[free_type or "(no type)"] += 1
            else:
                entities.append((name, label))
        set_silver(doc, label_mentions(doc, entities, summary))
        yield doc


def silver_docbin_from_lists(input_path: Path, output_path: Path, dim: str, labels: Sequence[str]) -> SilverSummary:
    """Read a DocBin, store silver entities from the entity lists in doc._.cot[dim] and write it (whole at the end,
    or not at all); return the summary."""
    check_labels(labels)
    docs = stream_docs(input_path)  # a missing or broken input fails here
    check_writable(output_path)
    summary = SilverSummary()
    with DocBinWriter(output_path) as output:
        for chunk in minibatch(silver_from_lists(docs, dim, labels, summary), BLOCK_DOCS):
            output.add(chunk)
    return summary

"""What the teacher reads: a doc's caption and CoT answers, cut to the sections asked for, or a pair's own answers.

Both components read the teacher's text through `teacher_segments`; `cot_rel`
finds a pair's own knowledge (relation["cot"], as `generate --task rel` writes
it) with `pair_knowledge`.
"""
import re
from typing import Dict, List, Optional, Sequence

from spacy.tokens import Doc

from ..data.spans import align_span
from .pairs import Pair

# the headings the ChatGPT answers (PGIM's prompt) are written under; answers split at these and at any heading asked for
ANSWER_HEADINGS = ("Named entities", "Reasoning")


def select_sections(answer: str, headings: Sequence[str]) -> str:
    """The sections of an answer that open with the given headings (`Heading:`, any case), in the headings' order.

    The answer is split at each `Heading:` of ANSWER_HEADINGS and of `headings`;
    text before the first heading stays first; sections under headings not
    asked for are left out; an answer with none of the headings is returned whole.
    """
    wanted = [" ".join(h.split()).lower() for h in headings]
    boundaries = dict.fromkeys([*wanted, *(h.lower() for h in ANSWER_HEADINGS)])
    pattern = re.compile("|".join(r"\s+".join(map(re.escape, h.split())) + r"\s*:" for h in boundaries), re.IGNORECASE)
    found = list(pattern.finditer(answer))
    if not any(" ".join(m.group(0).rstrip(":").split()).lower() in wanted for m in found):
        return answer
    parts: Dict[str, List[str]] = {}
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(answer)
        heading = " ".join(match.group(0).rstrip(":").split()).lower()
        parts.setdefault(heading, []).append(answer[match.start() : end].strip())
    kept = [answer[: found[0].start()].strip()] + [part for h in wanted for part in parts.get(h, [])]
    return " ".join(part for part in kept if part)


def teacher_segments(
    doc: Doc,
    cot_dims: Optional[Sequence[str]],
    use_caption: bool,
    answer_sections: Optional[Sequence[str]],
    own: Optional[Dict[str, str]] = None,
) -> List[str]:
    """The teacher's extra text: the doc's caption, then the `cot_dims` answers (all, by name, if None) in their order.

    doc (Doc): The doc, whose doc._.caption and doc._.cot are read.
    cot_dims (Optional[Sequence[str]]): The dimensions read, in this order; None reads all, sorted by name.
    use_caption (bool): Whether doc._.caption comes first.
    answer_sections (Optional[Sequence[str]]): The sections of each answer read (see `select_sections`); None: all.
    own (Optional[Dict[str, str]]): A row's own answers by dimension, read in place of doc._.cot where it has any
        of the dimensions read.
    RETURNS (List[str]): The segments, in the order the teacher reads them.
    """
    segments = [doc._.caption] if use_caption and doc._.caption else []
    answers = _answers(own, cot_dims, answer_sections) if own else []
    return segments + (answers or _answers(doc._.cot, cot_dims, answer_sections))


def _answers(cot: Dict[str, str], cot_dims: Optional[Sequence[str]], answer_sections: Optional[Sequence[str]]) -> List[str]:
    """The `cot_dims` answers of `cot` in their order, cut to `answer_sections`."""
    dims = cot_dims if cot_dims is not None else sorted(cot)
    answers = [cot[dim] for dim in dims if cot.get(dim)]
    if answer_sections:
        answers = [text for text in (select_sections(answer, answer_sections) for answer in answers) if text]
    return answers


def pair_knowledge(source: Doc, target: Doc) -> Dict[Pair, Dict[str, str]]:
    """The relations of `source` that carry their own "cot", by their (head, tail) on `target` (the first one of a pair)."""
    found: Dict[Pair, Dict[str, str]] = {}
    for relation in source._.relations:
        if relation.get("cot"):
            head = align_span(source, relation["head"], target)
            tail = align_span(source, relation["tail"], target)
            if head is not None and tail is not None:
                found.setdefault((head, tail), dict(relation["cot"]))
    return found

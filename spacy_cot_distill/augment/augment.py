"""New labelled training docs from the LLM: style rewrites, plausible entity swaps and imagined image captions."""
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple, cast

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from wasabi import msg

from ..llm.cache import ResponseCache
from ..llm.client import Answer, LLMSettings, complete
from ..data.docbin import read_docs, write_docs
from ..files import check_writable, refuse_overwrite
from ..llm.generate import TRUNCATED
from ..llm.prompts import AUGMENTATION_DIMS, TASKS, Message, PromptTemplates, doc_text
from .align import align_spans
from .samples import Sample, build_doc
from .swap import Pool, SwapError, entity_pool, sample_rng, swap_entities

KINDS = AUGMENTATION_DIMS
_YES_NO = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’"}


@dataclass
class KindSummary:
    """One kind's outcome: samples tried, LLM requests, docs produced, docs dropped by reason, answers parsed."""

    tried: int = 0
    requests: int = 0
    cached: int = 0
    produced: int = 0
    dropped: Counter = field(default_factory=Counter)
    answers: Counter = field(default_factory=Counter)
    failures: List[str] = field(default_factory=list)  # new doc ids whose request failed

    def as_dict(self) -> Dict[str, object]:
        return {"tried": self.tried, "produced": self.produced, "dropped": dict(self.dropped),
                "answers": dict(self.answers), "requests": self.requests, "cached": self.cached,
                "failed": len(self.failures)}


def print_summaries(summaries: Dict[str, KindSummary]) -> None:
    """A table of produced and dropped docs per kind, then the reasons and parsed answers."""
    rows = [(kind, s.tried, s.produced, sum(s.dropped.values()), s.requests, s.cached, len(s.failures))
            for kind, s in summaries.items()]
    msg.table(rows, header=("kind", "tried", "produced", "dropped", "requests", "cached", "failed"), divider=True)
    for kind, s in summaries.items():
        reasons = ", ".join(f"{reason} {count}" for reason, count in s.dropped.most_common()) or "none"
        answers = ", ".join(f"{answer} {count}" for answer, count in s.answers.most_common()) or "none"
        msg.text(f"{kind}: dropped: {reasons}; answers: {answers}")
        if s.failures:
            msg.fail(f"{kind}: {len(s.failures)} requests failed: {', '.join(s.failures[:10])}"
                     + (" ..." if len(s.failures) > 10 else ""))


def parse_yes_no(text: str) -> str:
    """'yes' or 'no' when the answer starts with it (after punctuation or markup), else 'other'."""
    match = _YES_NO.match(text)
    return match.group(1).lower() if match else "other"


def parse_rewrite(text: str) -> str:
    """The rewritten tweet: the answer's first line after an optional 'Here is ...:' line, without wrapping quotes."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]
    rewrite = lines[0] if lines else ""
    if len(rewrite) >= 2 and _QUOTES.get(rewrite[0]) == rewrite[-1]:
        rewrite = rewrite[1:-1].strip()
    return " ".join(rewrite.split())


def make_samples(docs: Sequence[Doc], task: str) -> List[Sample]:
    """One sample per doc ("ner") or per relation pair ("rel")."""
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}: use one of {', '.join(TASKS)}.")
    if task == "ner":
        return [Sample(doc, i) for i, doc in enumerate(docs)]
    return [Sample(doc, i, j) for i, doc in enumerate(docs) for j in range(len(doc._.relations))]


@dataclass
class _Run:
    """What every kind shares during one `augment` call."""

    settings: LLMSettings
    cache: ResponseCache
    templates: PromptTemplates
    tokenizer: Callable[[str], Doc]
    pool: Pool
    seed: int
    progress: bool

    def messages(self, kind: str, sample: Sample, text: str) -> List[Message]:
        head, tail = sample.head_tail()
        return self.templates.messages(kind, text, head=head, tail=tail)

    def ask(self, prompts: List[List[Message]], settings: LLMSettings, summary: KindSummary) -> List[Answer]:
        answers = complete(prompts, settings, self.cache, self.progress) if prompts else []
        summary.requests += len(answers)
        summary.cached += sum(a.cached for a in answers)
        return answers


def _answer_problem(answer: Answer, summary: KindSummary, name: str) -> Optional[str]:
    """The drop reason of an answer that failed or is empty, else None."""
    if answer.response is None:
        summary.failures.append(name)
        return "request failed"
    if not answer.text:  # not cached: a failure, asked again by the next run
        summary.answers["empty"] += 1
        summary.failures.append(name)
        return "empty answer"
    return None


def _style(run: _Run, samples: List[Sample], n: int, settings: LLMSettings, summary: KindSummary):
    answers = run.ask([run.messages("style", s, doc_text(s.doc)) for s in samples], settings, summary)
    for sample, answer in zip(samples, answers):
        problem = _answer_problem(answer, summary, sample.new_id("style", n))
        if problem:
            yield sample, None, problem
            continue
        if answer.finish_reason == "length":  # a cut-off rewrite is not the sentence any more
            summary.answers[TRUNCATED] += 1
            yield sample, None, "truncated answer"
            continue
        summary.answers["text"] += 1
        new = run.tokenizer(parse_rewrite(cast(str, answer.text)))  # _answer_problem refuses no text
        words = [t.text for t in new]
        if not words:
            yield sample, None, "no rewrite in the answer"
            continue
        if words == [t.text for t in sample.doc]:
            yield sample, None, "unchanged"
            continue
        gold = [offsets for offsets, _ in sample.gold()]
        targets = [[t.text for t in run.tokenizer(sample.doc[start:end].text)] for start, end in gold]
        found = align_spans(targets, words, gold)
        if any(span is None for span in found):
            yield sample, None, "head or tail not found" if sample.pair is not None else "entity not found"
            continue
        yield sample, build_doc(sample, "style", n, words, [bool(t.whitespace_) for t in new],
                                dict(zip(gold, cast(List[Tuple[int, int]], found))), caption=sample.doc._.caption,
                                image_id=sample.doc._.image_id), None


def _entity(run: _Run, samples: List[Sample], n: int, settings: LLMSettings, summary: KindSummary):
    swapped = []
    for sample in samples:
        try:
            words, spaces, mapping = swap_entities(sample, run.pool, sample_rng(run.seed, sample, n))
        except SwapError as err:
            yield sample, None, str(err)
            continue
        doc = build_doc(sample, "entity", n, words, spaces, mapping,
                        caption=sample.doc._.caption, image_id=sample.doc._.image_id)
        swapped.append((sample, doc))
    # a yes/no judgement should not be sampled
    # the new doc holds only the sample's pair, so the pair is its relation 0
    prompts = [run.messages("entity", Sample(doc, s.index, None if s.pair is None else 0), doc_text(doc))
               for s, doc in swapped]
    answers = run.ask(prompts, replace(settings, temperature=0.0), summary)
    for (sample, doc), answer in zip(swapped, answers):
        problem = _answer_problem(answer, summary, doc._.doc_id)
        if problem:
            yield sample, None, problem
            continue
        verdict = parse_yes_no(cast(str, answer.text))
        summary.answers[verdict] += 1
        yield (sample, doc, None) if verdict == "yes" else (sample, None, f"answer {verdict}")


def _image(run: _Run, samples: List[Sample], n: int, settings: LLMSettings, summary: KindSummary):
    answers = run.ask([run.messages("image", s, doc_text(s.doc)) for s in samples], settings, summary)
    for sample, answer in zip(samples, answers):
        problem = _answer_problem(answer, summary, sample.new_id("image", n))
        if problem:
            yield sample, None, problem
            continue
        # an imagined caption cut off by max_tokens still describes an image: kept, and counted
        summary.answers[TRUNCATED if answer.finish_reason == "length" else "text"] += 1
        doc = sample.doc
        identity = {offsets: offsets for offsets, _ in sample.gold()}
        yield sample, build_doc(sample, "image", n, [t.text for t in doc], [bool(t.whitespace_) for t in doc],
                                identity, caption=" ".join(cast(str, answer.text).split())), None


_KIND_FUNCTIONS = {"style": _style, "entity": _entity, "image": _image}


def augment(
    docs: Sequence[Doc],
    kinds: Sequence[str],
    per_doc: int = 1,
    seed: int = 0,
    *,
    settings: LLMSettings,
    cache: ResponseCache,
    templates: Optional[PromptTemplates] = None,
    task: str = "ner",
    nlp: Optional[Language] = None,
    pool_docs: Optional[Sequence[Doc]] = None,
    progress: bool = True,
) -> Tuple[List[Doc], Dict[str, KindSummary]]:
    """Make up to `per_doc` new docs per doc (or relation pair) and kind; return them and a summary per kind.

    Rewrites are tokenised with `nlp`'s tokenizer (default: blank English); entity swaps draw from the
    entities of `pool_docs` (default: `docs`). Draw n of every kind sends `seed + n` as the request seed.
    """
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise ValueError(f"Unknown augmentation kind(s) {', '.join(unknown)}: use {', '.join(KINDS)}.")
    if per_doc < 1:
        raise ValueError("per_doc must be at least 1.")
    samples = make_samples(docs, task)
    pool = entity_pool(make_samples(pool_docs, task)) if pool_docs is not None else entity_pool(samples)
    run = _Run(settings, cache, templates or PromptTemplates(), (nlp or spacy.blank("en")).tokenizer, pool, seed,
               progress)
    new_docs: List[Doc] = []
    summaries: Dict[str, KindSummary] = {}
    for kind in kinds:
        summary = summaries[kind] = KindSummary()
        seen: Dict[Tuple[int, Optional[int]], Set[Tuple[Tuple[str, ...], Optional[str]]]] = {}
        for n in range(per_doc):
            draw = replace(settings, extra_params={**settings.extra_params, "seed": seed + n})
            summary.tried += len(samples)
            for sample, doc, problem in _KIND_FUNCTIONS[kind](run, samples, n, draw, summary):
                if doc is not None:  # draws of one sample that came out the same are one sample
                    key = tuple(t.text for t in doc), doc._.caption
                    earlier = seen.setdefault((sample.index, sample.pair), set())
                    problem = "duplicate" if key in earlier else None
                    earlier.add(key)
                if problem is None:
                    summary.produced += 1
                    new_docs.append(doc)
                else:
                    summary.dropped[problem] += 1
    return new_docs, summaries


def augment_docbin(
    input_path: Path,
    output_path: Path,
    kinds: Sequence[str],
    settings: LLMSettings,
    cache_path: Path,
    *,
    per_doc: int = 1,
    seed: int = 0,
    template_dir: Optional[Path] = None,
    task: str = "ner",
    lang: str = "en",
    pool_path: Optional[Path] = None,
    progress: bool = True,
) -> Tuple[List[Doc], Dict[str, KindSummary]]:
    """Read a DocBin, augment it and write only the new docs to `output_path` (swaps draw from `pool_path`'s docs)."""
    refuse_overwrite(output_path, input_path, pool_path)  # the output holds the new docs only
    docs = read_docs(input_path)
    pool_docs = read_docs(pool_path) if pool_path is not None else None
    check_writable(output_path)  # before any request is paid for
    with ResponseCache(cache_path) as cache:
        new_docs, summaries = augment(docs, kinds, per_doc, seed, settings=settings, cache=cache,
                                      templates=PromptTemplates(template_dir), task=task, nlp=spacy.blank(lang),
                                      pool_docs=pool_docs, progress=progress)
    write_docs(output_path, new_docs)
    return new_docs, summaries

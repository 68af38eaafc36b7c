"""Fill doc._.cot with the LLM's chain-of-thought per dimension: the function behind `cot-distill generate`.

`generate_docbin` reads, asks and writes CHUNK_DOCS docs at a time, so a corpus of any size takes the memory of
one chunk (and the 32-byte key of each distinct prompt, to count and pay each once); the output, the report and
the dry run's estimate are those of the whole corpus as one chunk.
"""
import itertools
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from spacy.tokens import Doc
from spacy.util import minibatch
from wasabi import msg

from ..data.docbin import DocBinWriter, stream_docs
from ..files import check_writable
from .batch import LOOKUP, complete_batch
from .cache import ResponseCache
from .client import Answer, LLMSettings, complete
from .prompts import TASKS, Message, PromptTemplates, doc_messages

# a rough tokens-per-character ratio for English; the estimate is a budget guide, not a bill
CHARS_PER_TOKEN = 4
TRUNCATED, EMPTY = "truncated", "empty"
CHUNK_DOCS = 10_000  # docs read, asked and written at a time by generate_docbin


@dataclass
class Request:
    """One prompt: a doc (or one of its relation pairs) and a dimension."""

    doc: int
    pair: Optional[int]
    dim: str
    messages: List[Message]
    key: str


def build_requests(
    docs: Sequence[Doc],
    dims: Sequence[str],
    settings: LLMSettings,
    templates: PromptTemplates,
    task: str = "ner",
    image_dir: Optional[Path] = None,
) -> List[Request]:
    """One request per doc and dimension ("ner"), or per relation pair and dimension ("rel")."""
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}: use one of {', '.join(TASKS)}.")
    requests = []
    for i, doc in enumerate(docs):
        pairs: Iterable[Tuple[Optional[int], Any]] = [(None, None)] if task == "ner" else enumerate(doc._.relations)
        for j, pair in pairs:
            for dim in dims:
                messages = doc_messages(templates, doc, dim, pair, image_dir)
                requests.append(Request(i, j, dim, messages, settings.key(messages)))
    return requests


def shard_docs(docs: Iterable[Doc], shard: Tuple[int, int]) -> Iterator[Doc]:
    """Shard I of N (1-based): every N-th doc from the I-th, the same slice on every machine."""
    index, count = shard
    if not 1 <= index <= count:
        raise ValueError(f"Shard {index}/{count} does not exist: use I/N with 1 <= I <= N.")
    return itertools.islice(docs, index - 1, None, count)


@dataclass
class CostEstimate:
    """What a run would ask: requests, how many are cached, and the tokens the rest would cost."""

    requests: int
    cached: int
    prompt_tokens: int
    max_completion_tokens: int
    expected_completion_tokens: Optional[int]

    def print(self) -> None:
        to_send = self.requests - self.cached
        msg.info(f"{self.requests} requests: {self.cached} cached, {to_send} to send")
        msg.text(f"estimated prompt tokens to send: {self.prompt_tokens} (about {CHARS_PER_TOKEN} characters a token)")
        msg.text(f"completion tokens to send: at most {self.max_completion_tokens}")
        if self.expected_completion_tokens is not None:
            msg.text(f"expected completion tokens (mean of the cached answers): {self.expected_completion_tokens}")


def _characters(messages: List[Message]) -> int:
    total = 0
    for message in messages:
        content = message["content"]
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        total += sum(len(part.get("text", "")) for part in parts)
    return total


def estimate_cost(requests: Iterable[Request], settings: LLMSettings, cache: ResponseCache) -> CostEstimate:
    """The dry run: count distinct requests and cached answers, and estimate the tokens of the uncached ones.

    `requests` are read once, LOOKUP at a time (any number of them: e.g. a generator over a corpus's chunks).
    """
    seen: Set[bytes] = set()  # the distinct keys so far, as 32 bytes each
    distinct = cached = characters = todo = 0
    for group in minibatch(requests, LOOKUP):
        unique = {}
        for request in group:
            digest = bytes.fromhex(request.key)
            if digest not in seen:
                seen.add(digest)
                unique[request.key] = request.messages
        found = cache.cached_keys(unique)
        distinct += len(unique)
        cached += len(found)
        uncached = [messages for key, messages in unique.items() if key not in found]
        characters += sum(_characters(m) for m in uncached)
        todo += len(uncached)
    mean = cache.mean_completion_tokens(settings.model)
    return CostEstimate(
        requests=distinct,
        cached=cached,
        prompt_tokens=characters // CHARS_PER_TOKEN,
        max_completion_tokens=todo * settings.max_tokens,
        expected_completion_tokens=None if mean is None else round(mean * todo),
    )


@dataclass
class GenerationReport:
    """What a run asked, what it cost, and which requests failed or came back truncated or empty."""

    requests: int = 0  # prompts, one per doc (or pair) and dimension
    distinct: int = 0  # distinct prompts (equal texts share one request)
    cached: int = 0  # distinct prompts answered from the cache
    sent: int = 0  # distinct prompts answered by the server in this run
    usage: Counter = field(default_factory=Counter)
    cached_usage: Counter = field(default_factory=Counter)
    flags: Counter = field(default_factory=Counter)
    failures: List[Tuple[str, str, str]] = field(default_factory=list)  # (doc, dim, error)

    @property
    def failed_share(self) -> float:
        return len(self.failures) / self.requests if self.requests else 0.0

    def print(self) -> None:
        msg.good(f"{self.requests} prompts ({self.distinct} distinct): {self.cached} answered from the cache, "
                 f"{self.sent} by the server, {len(self.failures)} failed")
        msg.text(f"token usage of the new answers: prompt {self.usage['prompt_tokens']}, "
                 f"completion {self.usage['completion_tokens']}")
        msg.text(f"token usage of the cached answers: prompt {self.cached_usage['prompt_tokens']}, "
                 f"completion {self.cached_usage['completion_tokens']}")
        for flag, count in sorted(self.flags.items()):
            msg.warn(f"{count} answers {flag} (recorded in doc._.cot_flags)")
        if self.failures:
            shown = ", ".join(f"{doc}/{dim}" for doc, dim, _ in self.failures[:10])
            msg.fail(f"{len(self.failures)} requests failed ({self.failed_share:.1%}): {shown}"
                     + (" ..." if len(self.failures) > 10 else ""))
            msg.text(f"first error: {self.failures[0][2]}")


def _record(doc: Doc, request: Request, answer: Answer) -> Optional[str]:
    """Write an answer into doc._.cot (or its relation's "cot") and its flag into cot_flags; return the flag."""
    if request.pair is None:
        cot, flags = doc._.cot, doc._.cot_flags
    else:
        relation = doc._.relations[request.pair]
        cot, flags = relation.setdefault("cot", {}), relation.setdefault("cot_flags", {})
    text = answer.text
    flag = EMPTY if not text else TRUNCATED if answer.finish_reason == "length" else None
    if text:  # a truncated answer is kept, and flagged
        cot[request.dim] = text
    if flag:
        flags[request.dim] = flag
    else:
        flags.pop(request.dim, None)
    return flag


def _doc_name(doc: Doc, index: int, request: Request) -> str:
    name = doc._.doc_id or f"#{index}"
    if request.pair is not None:
        relation = doc._.relations[request.pair]
        name += f" pair {tuple(relation['head'])}-{tuple(relation['tail'])}"
    return name


def _fill(docs: Sequence[Doc], requests: Sequence[Request], answers: Sequence[Answer], report: GenerationReport,
          seen: Set[bytes], offset: int) -> None:
    """Write the answers into the docs (the chunk's first is doc `offset` of all) and count them into the report;
    a prompt in `seen` (asked in an earlier chunk) is counted once, as if all chunks were one."""
    report.requests += len(requests)
    # a prompt asked twice is paid (and counted) once
    for answer in {answer.key: answer for answer in answers}.values():
        digest = bytes.fromhex(answer.key)
        if digest in seen:
            continue
        seen.add(digest)
        report.distinct += 1
        if answer.response is not None:  # an empty answer is paid, though not an answer
            report.cached += answer.ok and answer.cached
            report.sent += answer.ok and not answer.cached
            (report.cached_usage if answer.cached else report.usage).update(answer.usage)
    for request, answer in zip(requests, answers):
        doc = docs[request.doc]
        if answer.response is not None:
            flag = _record(doc, request, answer)
            if flag:
                report.flags[flag] += 1
        if not answer.ok:
            name = _doc_name(doc, offset + request.doc, request)
            report.failures.append((name, request.dim, answer.error or "no answer"))


def _generate(
    chunks: Callable[[], Iterable[Sequence[Doc]]],
    make_requests: Callable[[Sequence[Doc]], List[Request]],
    settings: LLMSettings,
    cache: ResponseCache,
    batch_api: bool,
    poll_interval: float,
    progress: bool,
    done: Callable[[Sequence[Doc]], None],
) -> GenerationReport:
    """Ask for the docs of each chunk, fill them and hand them to `done`, one chunk at a time.

    With the Batch API, the prompts of every chunk are sent first (`chunks` is called twice: the docs are read
    twice, not kept), so that all batches are in flight at once; the chunks then take their answers from the cache.
    """
    answer: Callable[[List[Request]], List[Answer]]
    if batch_api:
        todo = ((r.key, r.messages) for docs in chunks() for r in make_requests(docs))
        outcome = complete_batch(todo, settings, cache, poll_interval)
        answer = lambda requests: outcome.answers([r.key for r in requests], cache)  # noqa: E731
    else:
        answer = lambda requests: complete([r.messages for r in requests], settings, cache, progress)  # noqa: E731
    report = GenerationReport()
    seen: Set[bytes] = set()  # the distinct prompts of the chunks so far, as 32 bytes each
    offset = 0
    for docs in chunks():
        requests = make_requests(docs)
        _fill(docs, requests, answer(requests), report, seen, offset)
        done(docs)
        offset += len(docs)
    return report


def generate(
    docs: Sequence[Doc],
    dims: Sequence[str],
    settings: LLMSettings,
    cache: ResponseCache,
    *,
    templates: Optional[PromptTemplates] = None,
    task: str = "ner",
    image_dir: Optional[Path] = None,
    batch_api: bool = False,
    poll_interval: float = 30.0,
    progress: bool = True,
) -> GenerationReport:
    """Ask the LLM for every doc and dimension and fill doc._.cot[dim] (task "rel": each relation's "cot")."""
    templates = templates or PromptTemplates()
    return _generate(lambda: [docs], lambda chunk: build_requests(chunk, dims, settings, templates, task, image_dir),
                     settings, cache, batch_api, poll_interval, progress, done=lambda chunk: None)


def generate_docbin(
    input_path: Path,
    output_path: Path,
    dims: Sequence[str],
    settings: LLMSettings,
    cache_path: Path,
    *,
    template_dir: Optional[Path] = None,
    task: str = "ner",
    image_dir: Optional[Path] = None,
    shard: Optional[Tuple[int, int]] = None,
    batch_api: bool = False,
    poll_interval: float = 30.0,
    dry_run: bool = False,
    progress: bool = True,
):
    """Read a DocBin, generate (or, with dry_run, only estimate) and write the docs, CHUNK_DOCS at a time;
    return the report. The output is written whole at the end, or not at all."""
    # a missing or broken input fails here, before anything is asked or written; a second pass reads it again
    readers = [stream_docs(input_path)]
    templates = PromptTemplates(template_dir)

    def chunks() -> Iterator[List[Doc]]:
        docs = readers.pop() if readers else stream_docs(input_path)
        return minibatch(shard_docs(docs, shard) if shard is not None else docs, CHUNK_DOCS)

    def make_requests(docs: Sequence[Doc]) -> List[Request]:
        return build_requests(docs, dims, settings, templates, task, image_dir)

    if not dry_run:
        check_writable(output_path)  # before any request is paid for
    with ResponseCache(cache_path) as cache:
        if dry_run:
            return estimate_cost((r for docs in chunks() for r in make_requests(docs)), settings, cache)
        with DocBinWriter(output_path) as output:
            return _generate(chunks, make_requests, settings, cache, batch_api, poll_interval, progress, output.add)

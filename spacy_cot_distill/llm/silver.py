"""Silver entities from an LLM: ask for the entities of a label set as structured output, store them as silver.

Each doc is asked once (`silver.jinja`) for `{"entities": [{"text", "label"}]}`, through `response_format` (a
JSON schema whose labels are an enum). A server that refuses `response_format` (a 400 or 422 naming it, as
servers without structured output answer) is asked again with the plain prompt that spells the JSON out, and
its answers are read by a tolerant parser (`parse_entities`). Answers are cached like every other (the format
is part of the request key), and every mention of a named entity is labelled (`data.silver`).
"""
import dataclasses
import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from spacy.tokens import Doc
from spacy.util import minibatch
from wasabi import msg

from ..data.docbin import DocBinWriter, stream_docs
from ..data.silver import SilverSummary, label_mentions, set_silver
from ..files import check_writable
from .cache import ResponseCache
from .client import Answer, LLMSettings, LLMStopped, complete
from .generate import CHUNK_DOCS, GenerationReport
from .prompts import Message, PromptTemplates, doc_text

TEMPLATE = "silver.jinja"
STRUCTURED, JSON_PROMPT = "structured output", "plain JSON prompt"
# the keys an entity's text and label go by in the answers of servers that write the JSON themselves
TEXT_KEYS, LABEL_KEYS = ("text", "entity", "name"), ("label", "type", "entity_type")
OBJECT = re.compile(r"\{[^{}]*\}")


def response_format(labels: Sequence[str]) -> Dict[str, Any]:
    """The `response_format` that asks for the entities of `labels` as JSON: a strict schema, labels an enum."""
    entity = {"type": "object", "properties": {"text": {"type": "string"}, "label": {"type": "string", "enum": list(labels)}},
              "required": ["text", "label"], "additionalProperties": False}
    schema = {"type": "object", "properties": {"entities": {"type": "array", "items": entity}},
              "required": ["entities"], "additionalProperties": False}
    return {"type": "json_schema", "json_schema": {"name": "entities", "strict": True, "schema": schema}}


def silver_messages(templates: PromptTemplates, doc: Doc, labels: Sequence[str], json_format: bool) -> List[Message]:
    """The prompt for one doc; `json_format` spells the JSON out, for servers without structured output."""
    return [{"role": "user", "content": templates.render(TEMPLATE, text=doc_text(doc), labels=list(labels),
                                                          json_format=json_format)}]


def refuses_structured(err: LLMStopped) -> bool:
    """Whether the run stopped because the server refuses `response_format` (a 400 or 422 that names it)."""
    error = err.error
    if getattr(error, "status_code", None) not in (400, 422):
        return False
    body = getattr(error, "body", None)
    said = " ".join(str(body.get(key) or "") for key in ("param", "message")) if isinstance(body, dict) else ""
    return any(word in f"{said} {error}".lower() for word in ("response_format", "json_schema"))


def _json_values(text: str) -> List[Any]:
    """The JSON values an answer holds: all of it, else the first value from its first bracket, else each flat
    object in it (what is left of an answer cut off in the middle)."""
    text = re.sub(r"^```(?:json)?|```$", "", text.strip(), flags=re.IGNORECASE | re.MULTILINE).strip()
    try:
        return [json.loads(text)]
    except ValueError:
        pass
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if starts:
        try:
            return [json.JSONDecoder().raw_decode(text, min(starts))[0]]
        except ValueError:
            pass
    values = []
    for match in OBJECT.finditer(text):
        try:
            values.append(json.loads(match.group(0)))
        except ValueError:
            continue
    return values


def _items(value: Any) -> List[Any]:
    if isinstance(value, list):
        return [item for v in value for item in _items(v)]
    if isinstance(value, dict):
        if any(key in value for key in TEXT_KEYS):
            return [value]
        return [item for v in value.values() if isinstance(v, (list, dict)) for item in _items(v)]
    return []


def parse_entities(text: str, labels: Sequence[str], summary: SilverSummary) -> Optional[List[Tuple[str, str]]]:
    """The (text, label) entities of an answer, None if it holds none readable.

    Tolerant of what models write around JSON: a code fence, prose before or after it, a bare list, other key
    names ("entity", "name"; "type"), labels in any case, and an answer cut off in the middle (its whole entity
    objects are kept). An entity labelled outside `labels` is dropped and counted by its label.
    """
    by_case = {label.casefold(): label for label in labels}
    values = _json_values(text)
    items = _items(values)
    if not items and not any(isinstance(v, (dict, list)) for v in values):
        return None
    entities = []
    for item in items:
        name = next((item[key] for key in TEXT_KEYS if isinstance(item.get(key), str)), None)
        raw = next((item[key] for key in LABEL_KEYS if isinstance(item.get(key), str)), "")
        label = by_case.get(raw.strip().casefold())
        if name is None or not name.strip():
            continue
        if label is None:
            summary.dropped[raw or "(no label)"] += 1
        else:
            entities.append((name, label))
    return entities


@dataclasses.dataclass
class SilverAsker:
    """Asks for the silver entities of docs, chunk after chunk, remembering whether the server refused the
    structured format (then every later chunk is asked with the plain JSON prompt)."""

    labels: Sequence[str]
    settings: LLMSettings
    cache: ResponseCache
    templates: PromptTemplates
    progress: bool = True
    mode: str = STRUCTURED

    def ask(self, docs: Sequence[Doc], report: GenerationReport, summary: SilverSummary) -> None:
        """Ask for each doc's entities and store them as its silver entities; count into report and summary."""
        answers = self._answers(docs)
        for answer in {answer.key: answer for answer in answers}.values():
            if answer.response is not None:
                report.distinct += 1
                report.cached += answer.ok and answer.cached
                report.sent += answer.ok and not answer.cached
                (report.cached_usage if answer.cached else report.usage).update(answer.usage)
        for i, (doc, answer) in enumerate(zip(docs, answers)):
            report.requests += 1
            summary.docs += 1
            if not answer.ok:
                report.failures.append((doc._.doc_id or f"#{report.requests - 1}", "silver", answer.error or "no answer"))
                continue
            entities = parse_entities(answer.text or "", self.labels, summary)
            if entities is None:
                summary.unparsed.append(str(doc._.doc_id or f"#{report.requests - 1}"))
            else:
                set_silver(doc, label_mentions(doc, entities, summary))

    def _answers(self, docs: Sequence[Doc]) -> List[Answer]:
        if self.mode == STRUCTURED:
            settings = dataclasses.replace(self.settings, extra_params={
                **self.settings.extra_params, "response_format": response_format(self.labels)})
            try:
                return self._complete(docs, settings, json_format=False)
            except LLMStopped as err:
                if not refuses_structured(err):
                    raise
                msg.warn(f"The server refuses structured output ({err.error}): asking with a {JSON_PROMPT}")
                self.mode = JSON_PROMPT
        return self._complete(docs, self.settings, json_format=True)

    def _complete(self, docs: Sequence[Doc], settings: LLMSettings, json_format: bool) -> List[Answer]:
        prompts = [silver_messages(self.templates, doc, self.labels, json_format) for doc in docs]
        return complete(prompts, settings, self.cache, self.progress)


def check_silver_labels(labels: Sequence[str]) -> List[str]:
    """The labels, each once, or a ValueError for an empty list or an empty name."""
    if not labels or not all(label.strip() for label in labels):
        raise ValueError(f"Name the entity labels to ask for, e.g. PER,LOC,ORG,MISC (got {list(labels)})")
    return list(dict.fromkeys(label.strip() for label in labels))


def silver_from_llm(
    docs: Sequence[Doc], labels: Sequence[str], settings: LLMSettings, cache: ResponseCache, *,
    templates: Optional[PromptTemplates] = None, progress: bool = True,
) -> Tuple[GenerationReport, SilverSummary, str]:
    """Store silver entities of `labels` on each doc from the LLM's answer; return what it cost, what it labelled,
    and how it asked (STRUCTURED or JSON_PROMPT)."""
    asker = SilverAsker(check_silver_labels(labels), settings, cache, templates or PromptTemplates(), progress)
    report, summary = GenerationReport(), SilverSummary()
    asker.ask(docs, report, summary)
    return report, summary, asker.mode


def silver_docbin_from_llm(
    input_path: Path, output_path: Path, labels: Sequence[str], settings: LLMSettings, cache_path: Path, *,
    template_dir: Optional[Path] = None, progress: bool = True,
) -> Tuple[GenerationReport, SilverSummary, str]:
    """Read a DocBin, ask for its silver entities and write it, CHUNK_DOCS docs at a time; the output is
    written whole at the end, or not at all."""
    labels = check_silver_labels(labels)
    docs = stream_docs(input_path)  # a missing or broken input fails here, before anything is asked
    templates = PromptTemplates(template_dir)
    check_writable(output_path)  # before any request is paid for
    report, summary = GenerationReport(), SilverSummary()
    with ResponseCache(cache_path) as cache, DocBinWriter(output_path) as output:
        asker = SilverAsker(labels, settings, cache, templates, progress)
        for chunk in minibatch(docs, CHUNK_DOCS):
            asker.ask(chunk, report, summary)
            output.add(chunk)
    return report, summary, asker.mode

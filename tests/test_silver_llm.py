"""Silver entities from an LLM against the real loopback server: structured output, the fallback to a plain JSON
prompt on a server that refuses it, the tolerant parser, the cache, and the `silver` command."""
import json

import pytest
from spacy.tokens import Doc
from spacy.vocab import Vocab
from typer.testing import CliRunner

from llm_helpers import make_docs, settings, text, write_docs
from spacy_cot_distill.cli import app
from spacy_cot_distill.data.docbin import read_docs
from spacy_cot_distill.data.silver import SilverSummary, silver_spans
from spacy_cot_distill.llm import ResponseCache
from spacy_cot_distill.llm.client import LLMStopped
from spacy_cot_distill.llm.silver import JSON_PROMPT, STRUCTURED, parse_entities, silver_from_llm

LABELS = ["PER", "LOC", "ORG"]


def entities_of(messages):
    """What a model would answer: the player, Boston (twice: the second is the same mention), a name not in the text."""
    player = next(word for word in messages[-1]["content"].split() if word.startswith("Player"))
    return {"entities": [{"text": player, "label": "PER"}, {"text": "boston", "label": "LOC"},
                         {"text": "Boston", "label": "LOC"}, {"text": "Gotham", "label": "LOC"}]}


def spans(doc):
    return [(s.start, s.end, s.label_) for s in silver_spans(doc)]


def test_structured_output_is_asked_aligned_stored_as_silver_and_cached(server, tmp_path):
    server.structured_answer = lambda messages, fmt: json.dumps(entities_of(messages))
    docs = make_docs(3)
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        report, summary, mode = silver_from_llm(docs, LABELS, settings(server), cache, progress=False)
    assert mode == STRUCTURED and report.sent == 3 and not report.failures
    fmt = server.response_formats[0]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["properties"]["entities"]["items"]["properties"]["label"]["enum"] == LABELS
    assert [spans(doc) for doc in docs] == [[(2, 3, "PER"), (5, 6, "LOC")]] * 3
    assert all(not doc.ents for doc in docs)  # silver is not gold
    assert (summary.docs, summary.names, summary.misses, summary.overlaps) == (3, 12, 3, 0)  # Boston listed twice is one mention
    assert "3 names matched no tokens (misses)" in summary.line()
    # a second run pays nothing
    server.reset_counts()
    docs = make_docs(3)
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        report, _, _ = silver_from_llm(docs, LABELS, settings(server), cache, progress=False)
    assert server.counts["chat"] == 0 and report.cached == 3 and spans(docs[0]) == [(2, 3, "PER"), (5, 6, "LOC")]


def test_a_server_refusing_response_format_gets_the_plain_json_prompt(server, tmp_path):
    server.refuse_structured = True
    # what a model without structured output writes: prose, a code fence, its own key names, labels in lower case
    server.answer = lambda messages: ("Sure! Here they are:\n```json\n"
                                      + json.dumps([{"name": e["text"], "type": e["label"].lower()}
                                                    for e in entities_of(messages)["entities"]]) + "\n```")
    docs = make_docs(2)
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        report, summary, mode = silver_from_llm(docs, LABELS, settings(server, concurrency=1), cache, progress=False)
    assert mode == JSON_PROMPT and report.sent == 2 and not report.failures
    assert server.response_formats[0] is not None and server.response_formats[-2:] == [None, None]
    assert [spans(doc) for doc in docs] == [[(2, 3, "PER"), (5, 6, "LOC")]] * 2
    answered = list(server.prompts)
    # the JSON prompt spells the format out
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        _, _, mode = silver_from_llm(make_docs(2), LABELS, settings(server, concurrency=1), cache, progress=False)
    assert mode == JSON_PROMPT and server.prompts == answered  # the fallback's answers come from the cache


def test_other_refusals_still_stop_the_run(server, tmp_path):
    server.inject("400")  # max_tokens refused: no other format would help
    # a timeout long enough for a loaded machine: a timed-out first request would be retried past the fault
    with ResponseCache(tmp_path / "cache.sqlite") as cache, pytest.raises(LLMStopped, match="max_tokens"):
        silver_from_llm(make_docs(1), LABELS, settings(server, timeout=30), cache, progress=False)
    assert server.response_formats == [server.response_formats[0]] and server.response_formats[0] is not None


@pytest.mark.parametrize("answer, entities", [
    ('{"entities": [{"text": "Obama", "label": "PER"}]}', [("Obama", "PER")]),
    ('Here: {"entities": [{"text": "Obama", "label": "per"}]} Hope this helps.', [("Obama", "PER")]),
    ('```\n[{"entity": "Paris", "type": "Loc"}]\n```', [("Paris", "LOC")]),
    ('{"result": {"people": [{"name": "Obama", "label": "PER"}], "places": [{"name": "Paris", "label": "LOC"}]}}',
     [("Obama", "PER"), ("Paris", "LOC")]),
    # cut off at max_tokens: the whole objects are kept
    ('{"entities": [{"text": "Obama", "label": "PER"}, {"text": "Paris", "label": "LOC"}, {"text": "Ber',
     [("Obama", "PER"), ("Paris", "LOC")]),
    ('{"entities": []}', []),
    ('{"entities": [{"text": "", "label": "PER"}, {"label": "LOC"}]}', []),
])
def test_the_parser_is_tolerant(answer, entities):
    assert parse_entities(answer, LABELS, SilverSummary()) == entities


def test_the_parser_counts_labels_outside_the_set_and_refuses_prose():
    summary = SilverSummary()
    found = parse_entities('{"entities": [{"text": "2017", "label": "DATE"}, {"text": "Obama", "label": "PER"}]}',
                           LABELS, summary)
    assert found == [("Obama", "PER")] and summary.dropped == {"DATE": 1}
    assert parse_entities("There are no entities in this text.", LABELS, summary) is None
    assert parse_entities("42", LABELS, summary) is None


def test_cli_from_llm_and_from_knowledge(server, tmp_path):
    server.structured_answer = lambda messages, fmt: json.dumps(entities_of(messages))
    docs = make_docs(2)
    docs[0]._.cot = {"chatgpt": "Named entities: 1. Player0 (basketball player) 2. Boston (city) 3. 2015 (year) "
                                "Reasoning: ..."}
    source = write_docs(tmp_path / "in.spacy", docs)
    runner = CliRunner()
    result = runner.invoke(app, ["silver", str(source), str(tmp_path / "llm.spacy"), "--labels", "PER,LOC,ORG",
                                 "--model", "test-model", "--base-url", server.base_url, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Asked with structured output" in text(result) and "2 names matched no tokens (misses)" in text(result)
    assert [spans(doc) for doc in read_docs(tmp_path / "llm.spacy")] == [[(2, 3, "PER"), (5, 6, "LOC")]] * 2
    result = runner.invoke(app, ["silver", str(source), str(tmp_path / "kn.spacy"), "--labels", "PER,LOC,ORG,MISC",
                                 "--from-knowledge", "chatgpt"])
    assert result.exit_code == 0, result.output
    out = read_docs(tmp_path / "kn.spacy")
    assert spans(out[0]) == [(2, 3, "PER"), (5, 6, "LOC")] and silver_spans(out[1]) is None
    assert "1 names of types outside the labels dropped (most: 'year' 1)" in text(result)
    assert "1 answers unreadable" in text(result)
    # one source, and labels the type map can use
    result = runner.invoke(app, ["silver", str(source), str(tmp_path / "x.spacy"), "--labels", "PER"])
    assert result.exit_code == 1 and "give one of --model" in text(result)
    result = runner.invoke(app, ["silver", str(source), str(tmp_path / "x.spacy"), "--labels", "PER,GPE",
                                 "--from-knowledge", "chatgpt"])
    assert result.exit_code == 1 and "one catch-all label" in text(result) and not (tmp_path / "x.spacy").exists()
    result = runner.invoke(app, ["silver", str(tmp_path / "missing.spacy"), str(tmp_path / "x.spacy"),
                                 "--labels", "PER,LOC,ORG,MISC", "--from-knowledge", "chatgpt"])
    assert result.exit_code == 1 and "missing.spacy: no such file" in text(result)

"""`augment` against a real OpenAI-compatible server on loopback that answers with the rewrites a test chooses."""
import tempfile
from pathlib import Path
from typing import Callable

import pytest
import spacy
import srsly
from hypothesis import example, given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc, DocBin, Span
from spacy.vocab import Vocab
from typer.testing import CliRunner

from llm_server import LLMServer, user_text
from spacy_cot_distill.augment import augment, parse_rewrite, parse_yes_no
from spacy_cot_distill.cli import app
from spacy_cot_distill.llm import LLMSettings, ResponseCache

STYLE = "Transform the sentence in Twitter style"
CHECK = "Whether the sentence is possible in fact"
IMAGE = "What is a possible image"


class ScriptedServer(LLMServer):
    """The test server answering reply(instruction line, text), keeping every chat request body."""

    def __init__(self, reply: Callable[[str, str], str], **kwargs):
        super().__init__(**kwargs)
        self.reply = reply
        self.answer = self._scripted
        self.bodies = []

    def _scripted(self, messages) -> str:
        instruction, _, text = user_text(messages).partition("\n")
        return self.reply(instruction, text)

    def chat(self, body):
        with self.lock:
            self.bodies.append(body)
        return super().chat(body)


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-augment")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    servers = []

    def start(reply):
        servers.append(ScriptedServer(reply).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def llm(server, **kwargs):
    return LLMSettings(**{"model": "test-model", "base_url": server.base_url, "timeout": 2.0, "max_retries": 1,
                          "backoff_base": 0.01, "concurrency": 4, **kwargs})


def make_doc(vocab, words, ents, doc_id):
    doc = Doc(vocab, words=words)
    doc.ents = [Span(doc, s, e, label=label) for s, e, label in ents]
    doc._.doc_id = doc_id
    doc._.image_id = f"{doc_id}.jpg"
    doc._.caption = f"photo {doc_id}"
    doc._.cot = {"noun": "source knowledge"}
    return doc


def tweets():
    vocab = Vocab()
    return [
        make_doc(vocab, ["RT", "Kawhi", "Leonard", "wins", "in", "Boston"], [(1, 3, "PER"), (5, 6, "LOC")], "t0"),
        make_doc(vocab, ["#", "NBA", ":", "Diplo", "plays", "tonight"], [(1, 2, "ORG"), (3, 4, "PER")], "t1"),
        make_doc(vocab, ["no", "entities", "here"], [], "t2"),
    ]


def pool_docs():
    vocab = Vocab()
    return tweets() + [make_doc(vocab, ["Celtics", "visit", "Seattle"], [(0, 1, "ORG"), (2, 3, "LOC")], "pool")]


def ents(doc):
    return [(e.text, e.label_) for e in doc.ents]


def roundtrip(docs):
    return list(DocBin(docs=docs, store_user_data=True).get_docs(Vocab()))


STYLE_REWRITES = {
    "RT Kawhi Leonard wins in Boston": "Here is the tweet:\n\"kawhi leonard WINS big in Boston!!\"\nHope it helps.",
    "# NBA : Diplo plays tonight": "Diplo is playing tonight 🎶",  # NBA is gone: dropped
    "no entities here": "nothing to see here lol",
}


def reply(instruction, text):
    if instruction.startswith(STYLE):
        return STYLE_REWRITES[text]
    if instruction.startswith(CHECK):
        return "**Yes**, it is possible." if "Seattle" in text else "No, it is not."
    if instruction.startswith(IMAGE):
        return f"A  photo of\n{text.split()[1]}"
    return f"knowledge about {text}"


def test_style_entity_image_make_labelled_docs_and_a_summary(scripted, tmp_path):
    server = scripted(reply)
    docs = tweets()
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        new, summary = augment(docs, ["style", "entity", "image"], 1, 7, settings=llm(server), cache=cache,
                               pool_docs=pool_docs(), progress=False)
    by_id = {d._.doc_id: d for d in roundtrip(new)}
    # style: the rewrite's first real line, tokenised, with every entity re-found case-insensitively
    style = by_id["t0#style0"]
    assert style.text == "kawhi leonard WINS big in Boston!!"
    assert ents(style) == [("kawhi leonard", "PER"), ("Boston", "LOC")]
    assert style._.augmented_from == {"doc_id": "t0", "kind": "style"} and style._.cot == {}
    assert style._.caption == "photo t0" and style._.image_id == "t0.jpg"
    assert by_id["t2#style0"].text == "nothing to see here lol" and not by_id["t2#style0"].ents
    assert "t1#style0" not in by_id
    assert summary["style"].as_dict() == {"tried": 3, "produced": 2, "dropped": {"entity not found": 1},
                                          "answers": {"text": 3}, "requests": 3, "cached": 0, "failed": 0}
    # entity: same-type swaps from the docs' own entities; the check keeps "yes" only
    assert summary["entity"].answers == {"yes": 1, "no": 1}
    assert summary["entity"].dropped == {"no entities to swap": 1, "answer no": 1}
    swapped = [d for d in by_id.values() if d._.augmented_from["kind"] == "entity"]
    assert len(swapped) == summary["entity"].produced == 1
    (doc,) = swapped
    assert [t.text for t in doc] == "RT Diplo wins in Seattle".split() and ents(doc) == [("Diplo", "PER"), ("Seattle", "LOC")]
    checks = [b for b in server.bodies if user_text(b["messages"]).startswith(CHECK)]
    assert {b["temperature"] for b in checks} == {0.0}
    # image: tokens and entities kept, an imagined caption, no source image or knowledge
    for source in docs:
        image = by_id[f"{source._.doc_id}#image0"]
        assert [t.text for t in image] == [t.text for t in source] and ents(image) == ents(source)
        assert image._.caption == f"A photo of {source[1].text}" and image._.image_id is None and image._.cot == {}
    assert summary["image"].produced == 3 and summary["image"].answers == {"text": 3}
    # every request carried the draw's seed
    assert {b["seed"] for b in server.bodies} == {7}


def test_a_full_cache_asks_nothing_and_gives_the_same_docs(scripted, tmp_path):
    server = scripted(reply)
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        first, _ = augment(tweets(), ["style", "entity", "image"], settings=llm(server), cache=cache,
                           pool_docs=pool_docs(), progress=False)
        asked = server.counts["chat"]
        again, summary = augment(tweets(), ["style", "entity", "image"], settings=llm(server), cache=cache,
                                 pool_docs=pool_docs(), progress=False)
    assert asked == 8 and server.counts["chat"] == asked
    assert all(s.cached == s.requests for s in summary.values())
    assert [(d._.doc_id, d.text, ents(d), d._.caption) for d in again] == \
        [(d._.doc_id, d.text, ents(d), d._.caption) for d in first]


def test_failed_empty_truncated_and_unchanged_answers_are_dropped_and_counted(scripted, tmp_path):
    server = scripted(lambda instruction, text: text if "Kawhi" in text else "x")
    server.fail_prompts("Diplo", "500")
    docs = tweets()
    server.inject("empty")  # the first request: t0's rewrite (concurrency 1 keeps the order)
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        new, summary = augment(docs, ["style"], settings=llm(server, concurrency=1), cache=cache, progress=False)
    assert summary["style"].dropped == {"empty answer": 1, "request failed": 1}
    assert summary["style"].failures == ["t0#style0", "t1#style0"] and summary["style"].answers == {"empty": 1, "text": 1}
    assert [d._.doc_id for d in new] == ["t2#style0"]
    # a rewrite cut off by max_tokens is dropped; a cut-off caption still describes an image and is kept
    server.inject("length", "length")
    with ResponseCache(tmp_path / "other.sqlite") as cache:
        new, summary = augment(docs[:1], ["style", "image"], settings=llm(server, concurrency=1), cache=cache,
                               progress=False)
    assert summary["style"].dropped == {"truncated answer": 1} and summary["style"].answers == {"truncated": 1}
    assert summary["image"].produced == 1 and summary["image"].answers == {"truncated": 1}
    assert new[0]._.caption == "Answer: cut off"
    # a rewrite that is the source text again is no new sample, nor is an answer of empty quotes
    server.reply = lambda instruction, text: text if "Kawhi" in text else '""'
    with ResponseCache(tmp_path / "third.sqlite") as cache:
        _, summary = augment(docs, ["style"], settings=llm(server), cache=cache, progress=False)
    assert summary["style"].dropped == {"unchanged": 1, "request failed": 1, "no rewrite in the answer": 1}


def test_answers_are_parsed_as_yes_no_or_other():
    assert [parse_yes_no(a) for a in ["Yes", "yes.", "**No**, never", "  NO", "Yesterday", "It is possible", ""]] == \
        ["yes", "yes", "no", "no", "other", "other", "other"]
    assert parse_rewrite("Sure! Here it is:\n\n\u201cBoston wins \U0001f3c0\u201d\n\nThis keeps the meaning.") == \
        "Boston wins \U0001f3c0"
    assert parse_rewrite("'one line'") == "one line" and parse_rewrite("  ") == ""


def test_more_draws_per_doc_send_other_seeds_and_drop_duplicates(scripted, tmp_path):
    server = scripted(reply)
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        new, summary = augment(tweets()[:1], ["style", "image"], 3, 10, settings=llm(server), cache=cache,
                               progress=False)
    assert sorted({b["seed"] for b in server.bodies}) == [10, 11, 12]
    # the scripted server answers every draw alike: one new doc per kind, the rest duplicates
    assert [d._.doc_id for d in new] == ["t0#style0", "t0#image0"]
    assert summary["style"].dropped == summary["image"].dropped == {"duplicate": 2}


def relation_doc():
    vocab = Vocab()
    doc = Doc(vocab, words=["Obama", "met", "Merkel", "in", "Berlin"])
    doc.spans["entities"] = [Span(doc, s, e, label="ENTITY") for s, e in [(0, 1), (2, 3), (4, 5)]]
    doc._.relations = [{"head": [0, 1], "tail": [2, 3], "label": "/per/per/peer", "score": 1.0, "cot": {"noun": "x"}},
                       {"head": [2, 3], "tail": [4, 5], "label": "/per/loc/place_of_residence", "score": 1.0}]
    doc._.doc_id = "r0"
    return doc


def test_relation_pairs_keep_their_labels_and_need_head_and_tail(scripted, tmp_path):
    def rel_reply(instruction, text):
        if instruction.startswith(STYLE):
            assert 'Keep "' in instruction
            return "Obama and Merkel met up today" if "Obama" in instruction else "merkel met someone"
        if instruction.startswith(CHECK):
            return "yes"
        return "a handshake"

    server = scripted(rel_reply)
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        new, summary = augment([relation_doc()], ["style", "entity"], task="rel", settings=llm(server), cache=cache,
                               progress=False)
    by_id = {d._.doc_id: d for d in roundtrip(new)}
    style = by_id["r0#style0.0"]
    assert style.text == "Obama and Merkel met up today"
    assert style._.relations == [{"head": [0, 1], "tail": [2, 3], "label": "/per/per/peer", "score": 1.0}]
    assert [(s.text, s.label_) for s in style.spans["entities"]] == [("Obama", "ENTITY"), ("Merkel", "ENTITY")]
    assert summary["style"].dropped == {"head or tail not found": 1}
    # entity swaps draw from the pairs' own entities; each new doc holds its pair with its label
    for j, rel in enumerate(relation_doc()._.relations):
        doc = by_id[f"r0#entity{j}.0"]
        (new_rel,) = doc._.relations
        assert new_rel["label"] == rel["label"]
        for role in ("head", "tail"):
            assert doc[slice(*new_rel[role])].text != relation_doc()[slice(*rel[role])].text
    assert summary["entity"].produced == 2


def test_cli_writes_new_docs_and_the_summary(scripted, tmp_path):
    server = scripted(reply)
    source = tmp_path / "train.spacy"
    DocBin(docs=tweets(), store_user_data=True).to_disk(source)
    out = tmp_path / "aug" / "train_aug.spacy"
    result = CliRunner().invoke(app, [
        "augment", str(source), str(out), "--kinds", "style,image", "--model", "m", "--base-url", server.base_url,
        "--no-progress", "--summary", str(tmp_path / "summary.json"), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "aug" / "llm_cache.sqlite").is_file()
    assert [d._.doc_id for d in DocBin().from_disk(out).get_docs(Vocab())] == \
        ["t0#style0", "t2#style0", "t0#image0", "t1#image0", "t2#image0"]
    summary = srsly.read_json(tmp_path / "summary.json")
    assert summary["style"]["dropped"] == {"entity not found": 1} and summary["image"]["produced"] == 3
    assert "entity not found 1" in result.output
    # knowledge only where it was generated for the new doc
    result = CliRunner().invoke(app, [
        "augment", str(source), str(out), "--kinds", "image", "--dims", "noun", "--model", "m",
        "--base-url", server.base_url, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert [d._.cot for d in DocBin().from_disk(out).get_docs(Vocab())] == \
        [{"noun": f"knowledge about {' '.join(t.text for t in doc)}"} for doc in tweets()]
    bad = CliRunner().invoke(app, ["augment", str(source), str(out), "--kinds", "style,colour", "--model", "m",
                                   "--base-url", server.base_url, "--no-progress"])
    assert bad.exit_code == 1 and "Unknown augmentation kind(s) colour" in bad.output



def test_cli_counts_failed_knowledge_requests_against_max_failed(scripted, tmp_path):
    server = scripted(reply)
    server.fail_prompts("special words", "500")  # the noun template: every knowledge request fails
    source = tmp_path / "train.spacy"
    DocBin(docs=tweets(), store_user_data=True).to_disk(source)
    out = tmp_path / "train_aug.spacy"
    result = CliRunner().invoke(app, [
        "augment", str(source), str(out), "--kinds", "image", "--dims", "noun", "--model", "m",
        "--base-url", server.base_url, "--no-progress", "--max-retries", "0", "--max-failed", "0.4"])
    assert result.exit_code == 1, result.output  # 3 of 6 requests failed, all of them knowledge
    assert "More than 40.0% of the requests failed" in result.output
    assert len(list(DocBin().from_disk(out).get_docs(Vocab()))) == 3  # the new docs are kept all the same

# -- property: whatever the server rewrites, the new docs' spans are valid, disjoint and keep their labels

NLP = spacy.blank("en")
WORDS = st.sampled_from(["Kawhi", "kawhi", "NBA", "Boston", "wins", "the", "#", "!", "New", "York"])
LABELS = st.sampled_from(["PER", "ORG", "LOC", "MISC"])


@st.composite
def doc_and_rewrite(draw):
    words = draw(st.lists(WORDS, min_size=1, max_size=10))
    doc = Doc(Vocab(), words=words)
    starts = sorted(draw(st.sets(st.integers(0, len(words) - 1), max_size=3)))
    spans = []
    for i, start in enumerate(starts):
        end = draw(st.integers(start + 1, starts[i + 1] if i + 1 < len(starts) else len(words)))
        spans.append(Span(doc, start, end, label=draw(LABELS)))
    doc.ents = spans
    doc._.doc_id = "p"
    # the rewrite keeps none, some or all entities (maybe case-changed) among arbitrary words
    kept = [draw(st.booleans()) for _ in spans]
    chunks = [draw(st.sampled_from([str, str.lower, str.upper]))(s.text) for s, keep in zip(spans, kept) if keep]
    chunks += draw(st.lists(st.text(st.sampled_from("ab !#\n"), min_size=1, max_size=6), max_size=3))
    rewrite = " ; ".join(draw(st.permutations(chunks))) or "?"
    return doc, kept, rewrite


def fixed_case(rewrite, kept):
    doc = make_doc(Vocab(), ["Kawhi", "Leonard", "joins", "the", "NBA", "in", "New", "York"],
                   [(0, 2, "PER"), (4, 5, "ORG"), (6, 8, "LOC")], "p")
    return doc, kept, rewrite


@given(doc_and_rewrite())
@example(fixed_case("KAWHI LEONARD is in the nba now , New York !", [True, True, True]))  # none missing
@example(fixed_case("Kawhi Leonard is in New York now", [True, False, True]))  # one missing
@example(fixed_case("he joins a team in a city", [False, False, False]))  # all missing
@example(fixed_case(" \n ", [False, False, False]))  # blank
@settings(max_examples=25, deadline=None)
def test_property_spans_of_style_rewrites_from_the_server(scripted_server, case):
    server, settings_ = scripted_server
    doc, kept, rewrite = case
    server.reply = lambda instruction, text: rewrite
    with tempfile.TemporaryDirectory() as tmp, ResponseCache(Path(tmp) / "cache.sqlite") as cache:
        new, summary = augment([doc], ["style"], settings=settings_, cache=cache, nlp=NLP, progress=False)
    assert summary["style"].produced + sum(summary["style"].dropped.values()) == 1
    if not rewrite.strip():  # a blank answer is an empty one, whatever the doc
        assert new == [] and summary["style"].dropped == {"empty answer": 1}
        return
    assert set(summary["style"].dropped) <= {"entity not found", "unchanged"}
    for aug in roundtrip(new):
        # the rewrite may reorder entities: each comes back once, with its words and its label
        assert sorted((e.text.lower(), e.label_) for e in aug.ents) == \
            sorted((e.text.lower(), e.label_) for e in doc.ents)
        assert all(0 <= e.start < e.end <= len(aug) for e in aug.ents)
        assert all(a.end <= b.start for a, b in zip(aug.ents, aug.ents[1:]))
    # an entity whose words the rewrite lacks (in any case) means no new doc
    said = [t.text.lower() for t in NLP(parse_rewrite(rewrite))]
    wanted = [[t.text.lower() for t in NLP(e.text)] for e in doc.ents]
    if any(all(said[i:i + len(w)] != w for i in range(len(said))) for w in wanted):
        assert new == [] and summary["style"].dropped == {"entity not found": 1}
    # a rewrite that kept every entity on its first line is never dropped for a missing one
    if all(kept) and "\n" not in rewrite:
        assert not summary["style"].dropped.get("entity not found")


@pytest.fixture(scope="module")
def scripted_server():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_API_KEY", "sk-test-augment")
        server = ScriptedServer(lambda instruction, text: text).start()
        try:
            yield server, llm(server)
        finally:
            server.stop()

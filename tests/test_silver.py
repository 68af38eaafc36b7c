"""Silver entities: mentions found in the tokens, stored apart from gold, and the ChatGPT entity lists' type map."""
import pytest
from spacy.tokens import Doc, DocBin, Span
from spacy.vocab import Vocab

import spacy_cot_distill  # noqa: F401  (doc extensions)
from spacy_cot_distill.data.entity_lists import TYPE_WORDS, check_labels, map_type, parse_entity_list, silver_from_lists
from spacy_cot_distill.data.spans import SILVER_KEY
from spacy_cot_distill.data.silver import (SilverSummary, find_mentions, label_mentions, set_silver,
                                           silver_spans)


def tweet(text="RT @nba : Kawhi Leonard and kawhi leonard fans in San Antonio , San Antonio Spurs win", gold=((3, 5, "PER"),)):
    doc = Doc(Vocab(), words=text.split())
    doc.ents = [Span(doc, start, end, label) for start, end, label in gold]
    doc._.doc_id = "t1"
    return doc


def test_every_mention_of_a_name_any_case_whole_tokens_only():
    doc = tweet()
    assert find_mentions(doc, "Kawhi Leonard") == [(3, 5), (6, 8)]
    assert find_mentions(doc, "  KAWHI   leonard ") == [(3, 5), (6, 8)]
    assert find_mentions(doc, "San Antonio") == [(10, 12), (13, 15)]
    assert find_mentions(doc, "Antonio Spurs") == [(14, 16)]
    assert find_mentions(doc, "Leon") == [] and find_mentions(doc, "Spurs win!") == [] and find_mentions(doc, " ") == []
    assert find_mentions(doc, "nba") == []  # the token is "@nba": a handle is not its name


def test_label_mentions_counts_misses_and_keeps_the_longest_of_overlapping_mentions():
    doc = tweet()
    summary = SilverSummary()
    spans = label_mentions(doc, [("San Antonio", "LOC"), ("San Antonio Spurs", "ORG"), ("Kawhi Leonard", "PER"),
                                 ("Tim Duncan", "PER")], summary)
    assert [(s.start, s.end, s.label_) for s in spans] == [(3, 5, "PER"), (6, 8, "PER"), (10, 12, "LOC"),
                                                          (13, 16, "ORG")]
    assert (summary.names, summary.misses, summary.overlaps) == (4, 1, 1)
    assert summary.mentions == {"PER": 2, "LOC": 1, "ORG": 1}
    assert "1 names matched no tokens (misses)" in summary.line()


def test_silver_is_stored_apart_from_gold_and_survives_a_docbin():
    doc = tweet()
    set_silver(doc, label_mentions(doc, [("San Antonio Spurs", "ORG")]))
    assert [(e.start, e.end, e.label_) for e in doc.ents] == [(3, 5, "PER")]  # gold untouched
    again = next(DocBin(docs=[doc], store_user_data=True).get_docs(Vocab()))
    assert [(s.start, s.end, s.label_) for s in silver_spans(again)] == [(13, 16, "ORG")]
    assert [(e.start, e.end, e.label_) for e in again.ents] == [(3, 5, "PER")]
    assert silver_spans(tweet()) is None  # never labelled: no silver, which is not "no entities"
    empty = tweet()
    set_silver(empty, [])
    assert silver_spans(empty) == [] and SILVER_KEY in empty.spans


@pytest.mark.parametrize("answer, items", [
    ("Named entities:1. Blackburn Festival of Voice (event/festival)2. 2017 (year)Reasoning:The sentence ...",
     [("Blackburn Festival of Voice", "event/festival"), ("2017", "year")]),
    ("Named entities: 1. Kawhi Leonard (person/player) 2. NBA (League/Organization) Reasoning: 1. not an item",
     [("Kawhi Leonard", "person/player"), ("NBA", "league/organization")]),
    ("Named entities: 1. Macedonia (geographic location), 2. 12-year-old girl (person), 3. \"King and I\" (play). "
     "Reasoning: ...", [("Macedonia", "geographic location"), ("12-year-old girl", "person"), ("King and I", "play")]),
    ("Named entities: 1. Steve 2. Paris (city) Reasoning:", [("Steve", None), ("Paris", "city")]),
    ("Named entities: None. Reasoning: nothing here", []),
])
def test_parse_entity_list(answer, items):
    assert parse_entity_list(answer) == items


def test_an_answer_without_a_list_is_none():
    assert parse_entity_list("The sentence mentions Paris.") is None


@pytest.mark.parametrize("free_type, label", [
    ("person/handle", "PER"), ("football player", "PER"), ("sports team/organization", "ORG"),
    ("league or organization", "ORG"), ("city, state", "LOC"), ("geographic location", "LOC"), ("festival", "MISC"),
    ("event/festival", "MISC"), ("event", None), ("year", None), ("hashtag", None), (None, None), ("", None),
    ("handle/person", "PER"),
])
def test_type_map(free_type, label):
    assert map_type(free_type) == label


def test_type_map_renames_the_catch_all_label():
    assert map_type("movie", "OTHER") == "OTHER" and map_type("city", "OTHER") == "LOC"
    assert set(TYPE_WORDS.values()) == {"PER", "LOC", "ORG", "MISC"}
    assert check_labels(["LOC", "ORG", "OTHER", "PER"]) == "OTHER"
    with pytest.raises(ValueError, match="PER, LOC, ORG and one catch-all label"):
        check_labels(["PERSON", "GPE"])


def test_silver_from_lists_labels_mentions_and_counts_what_it_drops():
    docs = [tweet(), tweet(), tweet()]
    docs[0]._.cot = {"chatgpt": "Named entities: 1. Kawhi Leonard (person/player) 2. San Antonio Spurs (sports team) "
                                "3. 2017 (year) 4. Tim Duncan (person) 5. fans (group of people) Reasoning: ..."}
    docs[1]._.cot = {"chatgpt": "The tweet is about basketball."}
    summary = SilverSummary()
    out = list(silver_from_lists(docs, "chatgpt", ["PER", "LOC", "ORG", "MISC"], summary))
    assert [(s.start, s.end, s.label_) for s in silver_spans(out[0])] == [(3, 5, "PER"), (6, 8, "PER"), (13, 16, "ORG")]
    assert silver_spans(out[1]) is None and silver_spans(out[2]) is None
    assert summary.unparsed == ["t1", "t1"] and summary.docs == 3
    assert summary.dropped == {"year": 1, "group of people": 1}
    assert (summary.names, summary.misses) == (3, 1)

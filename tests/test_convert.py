import json
from collections import Counter

import pytest
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

from corpus_checks import (
    check_docbin_round_trip,
    check_mnre_with_qwen,
    check_twitter2015_seqeval_convention,
    check_twitter_with_captions_and_qwen,
    load,
    snapshot,
)
from spacy_cot_distill.cli import app
from spacy_cot_distill.data import convert_jsonl, convert_mnre, convert_twitter
from spacy_cot_distill.errors import InputError


def test_twitter2017_counts_and_round_trip(synthetic_data, tmp_path):
    check_twitter_with_captions_and_qwen(
        synthetic_data, "twitter2017", tmp_path, docs=24, entities=Counter(PER=14, LOC=14, ORG=10, MISC=6)
    )


def test_twitter2015_seqeval_convention(synthetic_data, tmp_path):
    check_twitter2015_seqeval_convention(synthetic_data, tmp_path, docs=16, b_starts=22, unanswered=["70555"])


def test_mnre_counts_and_round_trip(synthetic_data, tmp_path):
    check_mnre_with_qwen(synthetic_data, tmp_path, docs=10, relations=45, doubly_labelled=1)


def test_a_tweet_without_a_caption_is_counted(synthetic_data, tmp_path):
    summary = convert_twitter(synthetic_data / "twitter2017/valid.txt", tmp_path / "valid.spacy",
                              captions=synthetic_data / "captions/BLIP2_17_train_valid.txt")
    assert summary.skipped == {"docs without a caption (kept, no caption)": ["17_03_90011"]}


def test_jsonl_round_trip(tmp_path):
    src = tmp_path / "mine.jsonl"
    rows = [
        {"id": "a", "text": "Messi joins Inter Miami today", "entities": [
            {"start": 0, "end": 5, "label": "PER"}, {"start": 12, "end": 23, "label": "ORG"}],
         "relations": [{"head": 0, "tail": 1, "label": "member_of"}],
         "image_id": "a.jpg", "caption": "a man in a pink shirt", "cot": {"sentence": "Messi is a footballer."}},
        {"tokens": ["RT", "@nasa", ":", "Mars", "!"], "entities": [{"start": 3, "end": 4, "label": "LOC"}]},
        {"tokens": ["New", "York", "Knicks"], "entities": [
            {"start": 0, "end": 2, "label": "LOC"}, {"start": 0, "end": 3, "label": "ORG"}]},
    ]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    summary = convert_jsonl(src, tmp_path / "mine.spacy")
    docs = load(tmp_path / "mine.spacy")
    assert [snapshot(d) for d in docs][0] == (
        ["Messi", "joins", "Inter", "Miami", "today"],
        [(0, 1, "PER"), (2, 4, "ORG")],
        [(0, 1, "PER"), (2, 4, "ORG")],
        [{"head": [0, 1], "tail": [2, 4], "label": "member_of", "score": 1.0}],
        "a", "a.jpg", "a man in a pink shirt", {"sentence": "Messi is a footballer."},
    )
    assert [(e.text, e.label_) for e in docs[1].ents] == [("Mars", "LOC")]
    assert docs[1]._.doc_id == "mine.jsonl:2"
    # overlapping entities stay in the span group and are reported, never dropped silently
    assert not docs[2].ents and len(docs[2].spans["entities"]) == 2
    assert list(summary.skipped) == ["docs with overlapping entities (kept in doc.spans['entities'], not doc.ents)"]


def tags(doc):
    return [token.ent_iob_ or "-" for token in doc]  # "" is spaCy's missing tag


def test_jsonl_left_out_entities_are_missing_and_empty_ones_are_o(tmp_path):
    src = tmp_path / "mix.jsonl"
    rows = [
        {"id": "gold-none", "text": "Nothing to see here", "entities": [], "relations": []},
        {"id": "raw", "text": "Messi joins Inter Miami"},
        {"id": "null", "tokens": ["Messi", "scores"], "entities": None},
        {"id": "ner-only", "tokens": ["Messi", "scores"], "entities": [{"start": 0, "end": 1, "label": "PER"}]},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    summary = convert_jsonl(src, tmp_path / "mix.spacy")
    docs = {doc._.doc_id: doc for doc in load(tmp_path / "mix.spacy")}
    assert tags(docs["gold-none"]) == ["O"] * 4
    # unlabelled: every tag missing (ent_iob 0), which the loss ignores, never O; no span group to read as gold
    assert [t.ent_iob for t in docs["raw"]] == [0] * 4 and tags(docs["null"]) == ["-", "-"]
    assert "entities" not in docs["raw"].spans and not docs["raw"].has_annotation("ENT_IOB")
    assert tags(docs["ner-only"]) == ["B", "O"]
    # relations: left out is "not annotated", [] is "annotated, none"
    assert {i: d._.relations_annotated for i, d in docs.items()} == {
        "gold-none": True, "raw": False, "null": False, "ner-only": False}
    assert (summary.unlabelled, summary.relations_unannotated) == (2, 3)
    # the CLI says so, and --missing-as-empty reads as 0.1.0 did: all O, annotated with no relations
    result = CliRunner().invoke(app, ["convert", "jsonl", str(src), str(tmp_path / "old.spacy"), "--missing-as-empty"])
    assert result.exit_code == 0, result.output
    old = {doc._.doc_id: doc for doc in load(tmp_path / "old.spacy")}
    assert tags(old["raw"]) == ["O"] * 4 and tags(old["null"]) == ["O", "O"]
    assert all(d._.relations_annotated for d in old.values())
    result = CliRunner().invoke(app, ["convert", "jsonl", str(src), str(tmp_path / "new.spacy")])
    assert "2 unlabelled docs" in " ".join(result.output.split()), result.output


def test_jsonl_unlabelled_refuses_an_annotated_line_before_anything_is_written(tmp_path):
    """--unlabelled: a raw file holds no annotation; a line with entities (even []) or relations is one line
    naming the file and line, exit 1, and no output (so no LLM is asked about a gold doc unnoticed)."""
    src = tmp_path / "raw.jsonl"
    src.write_text(json.dumps({"text": "Messi joins Inter Miami"}) + "\n"
                   + json.dumps({"text": "Nothing here", "entities": []}) + "\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["convert", "jsonl", str(src), str(tmp_path / "raw.spacy"), "--unlabelled"])
    assert result.exit_code == 1 and f"{src}:2" in result.output and "--unlabelled" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "raw.spacy").exists()
    src.write_text(json.dumps({"text": "Messi joins Inter Miami"}) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["convert", "jsonl", str(src), str(tmp_path / "raw.spacy"), "--unlabelled"])
    assert result.exit_code == 0, result.output
    assert not load(tmp_path / "raw.spacy")[0].has_annotation("ENT_IOB")
    result = runner.invoke(app, ["convert", "jsonl", str(src), str(tmp_path / "x.spacy"), "--unlabelled",
                                 "--missing-as-empty"])
    assert result.exit_code == 2 and "contradict" in result.output


def test_docs_saved_before_the_relations_marker_read_as_annotated():
    vocab = Vocab()
    doc = Doc(vocab, words=["Obama", "visits", "Paris"])
    stored = DocBin(docs=[doc], store_user_data=True).to_bytes()
    assert not [key for key in doc.user_data if "relations_annotated" in str(key)]  # nothing stored: an old doc
    assert list(DocBin().from_bytes(stored).get_docs(vocab))[0]._.relations_annotated is True


def test_twitter_unlabelled_hides_the_gold_and_keeps_the_knowledge(synthetic_data, tmp_path):
    source = synthetic_data / "twitter2017/train.txt"
    out = tmp_path / "unlabelled.spacy"
    result = CliRunner().invoke(app, [
        "convert", "twitter", str(source), str(out), "--unlabelled",
        "--captions", str(synthetic_data / "captions/BLIP2_17_train_valid.txt"),
        "--knowledge", str(synthetic_data / "knowledge/qwen2.5-coder-1.5b/twitter2017_train.jsonl")])
    assert result.exit_code == 0, result.output
    convert_twitter(source, tmp_path / "gold.spacy", captions=synthetic_data / "captions/BLIP2_17_train_valid.txt",
                    knowledge=synthetic_data / "knowledge/qwen2.5-coder-1.5b/twitter2017_train.jsonl")
    hidden, gold = load(out), load(tmp_path / "gold.spacy")
    assert len(hidden) == len(gold) == 24 and sum(len(d.ents) for d in gold) == 44
    for doc, twin in zip(hidden, gold):
        assert [t.ent_iob for t in doc] == [0] * len(twin) and not doc.ents
        assert [t.text for t in doc] == [t.text for t in twin]
        assert (doc._.doc_id, doc._.caption, doc._.cot) == (twin._.doc_id, twin._.caption, twin._.cot) and doc._.cot
        assert doc._.relations_annotated is False and twin._.relations_annotated is True
    assert "24 unlabelled docs" in " ".join(result.output.split())
    # hidden, the tags are still checked
    bad = tmp_path / "bad.txt"
    bad.write_text("IMGID:1\nHello\tO\nworld\tX-PER\n", encoding="utf-8")
    with pytest.raises(InputError, match="not in the BIO scheme"):
        convert_twitter(bad, tmp_path / "bad.spacy", unlabelled=True)


def test_every_converter_round_trips_through_docbin(synthetic_data, tmp_path):
    check_docbin_round_trip(synthetic_data, tmp_path)


BAD_INPUTS = [
    ("twitter", "IMGID:1\nHello O\n", 2, "expected 'token<TAB>tag'"),
    ("twitter", "IMGID:1\nHello\tO\nworld\tX-PER\n", 3, "not in the BIO scheme"),
    ("twitter", b"IMGID:1\nHello\tO\n\xff\xfe\tO\n", 3, "not valid UTF-8"),
    ("twitter", "", None, "the file is empty"),
    ("mnre", "{'token': ['a', 'b'], 'h': {'name': 'a', 'pos': [0, 1]}, 't': {'name': 'c', 'pos': [1, 3]}, "
             "'img_id': 'x.jpg', 'relation': 'None'}\n", 1, "outside the sentence"),
    ("mnre", "{'token': ['a'], oops\n", 1, "not a Python dict literal"),
    ("jsonl", '{"text": "hi there"}\n{"text": "Bob ran", "entities": [{"start": 0, "end": 40, "label": "PER"}]}\n',
     2, "outside the text"),
    ("jsonl", '{"text": "Bob ran", "entities": [{"start": 1, "end": 3, "label": "PER"}]}\n', 1, "token boundaries"),
    ("jsonl", '{"text": "a"}\nnot json\n', 2, "not valid JSON"),
]


@pytest.mark.parametrize("kind,content,line,message", BAD_INPUTS)
def test_malformed_input_names_file_and_line(tmp_path, kind, content, line, message):
    src = tmp_path / f"bad.{kind}"
    if isinstance(content, bytes):
        src.write_bytes(content)
    else:
        src.write_text(content, encoding="utf-8")
    convert = {"twitter": convert_twitter, "mnre": convert_mnre, "jsonl": convert_jsonl}[kind]
    with pytest.raises(InputError) as err:
        convert(src, tmp_path / "out.spacy")
    where = f"{src}:{line}:" if line else f"{src}:"
    assert str(err.value).startswith(where) and message in str(err.value)
    # the CLI says the same and exits non-zero
    result = CliRunner().invoke(app, ["convert", kind, str(src), str(tmp_path / "out.spacy")])
    assert result.exit_code == 1 and message in result.output and str(src) in result.output
    assert not (tmp_path / "out.spacy").exists()


def test_knowledge_with_other_tokens_is_an_error(tmp_path):
    conll = tmp_path / "t.txt"
    conll.write_text("IMGID:7\nHello\tO\nBob\tB-PER\n\nIMGID:8\nHi\tO\n", encoding="utf-8")
    knowledge = tmp_path / "k.jsonl"
    knowledge.write_text('{"imgid": "8", "tokens": ["Hi"], "cot": {"noun": "ok"}}\n'
                         '{"imgid": "7", "tokens": ["Hello", "Alice"], "cot": {"noun": "x"}}\n', encoding="utf-8")
    with pytest.raises(InputError, match=rf"^{knowledge}:2: the record for '7' has other tokens"):
        convert_twitter(conll, tmp_path / "o.spacy", knowledge=knowledge)


def test_knowledge_matching_no_doc_is_an_error(tmp_path):
    conll = tmp_path / "t.txt"
    conll.write_text("IMGID:7\nHello\tO\n", encoding="utf-8")
    knowledge = tmp_path / "k.jsonl"
    knowledge.write_text('{"imgid": "99", "tokens": ["Hi"], "knowledge": "x"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="no record matches any doc"):
        convert_twitter(conll, tmp_path / "o.spacy", knowledge=knowledge)


def test_knowledge_record_without_text_is_an_error(tmp_path):
    conll = tmp_path / "t.txt"
    conll.write_text("IMGID:7\nHello\tO\n", encoding="utf-8")
    knowledge = tmp_path / "k.jsonl"
    knowledge.write_text('{"imgid": "7", "tokens": ["Hello"]}\n', encoding="utf-8")
    with pytest.raises(InputError, match=rf"^{knowledge}:1: expected 'cot'"):
        convert_twitter(conll, tmp_path / "o.spacy", knowledge=knowledge)


def test_cli_lists_commands_and_runs_as_module():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "spacy_cot_distill", "convert", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for command in ("twitter", "mnre", "jsonl"):
        assert command in out


def test_import_does_not_import_openai():
    import subprocess
    import sys

    code = "import sys, spacy_cot_distill; assert 'openai' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


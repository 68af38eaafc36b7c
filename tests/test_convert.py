import json
from collections import Counter

import pytest
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


"""Wrong data is refused with one line naming the file and line, or counted in the summary; never absorbed."""
import json

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_cot_distill.cli import app
from spacy_cot_distill.data import convert_mnre, convert_twitter

BOM = "\ufeff"
TWEET = "IMGID:7\nHello\tO\nBob\tB-PER\n"


def mnre_line(h=(0, 1), t=(2, 3), img_id="'x.jpg'", h_name="Bob", t_name="Acme"):
    return (f"{{'token': ['Bob', 'joins', 'Acme'], 'h': {{'name': '{h_name}', 'pos': [{h[0]}, {h[1]}]}}, "
            f"'t': {{'name': '{t_name}', 'pos': [{t[0]}, {t[1]}]}}, 'img_id': {img_id}, "
            "'relation': '/per/org/member_of'}\n")


def jsonl(**record):
    return json.dumps({"text": "Bob met Ann", **record}) + "\n"


ENTS = [{"start": 0, "end": 3, "label": "PER"}, {"start": 8, "end": 11, "label": "PER"}]
DEEP = 100_000

# (kind, file content, knowledge file content or None, the file that is wrong, line, message)
REFUSED = [
    # JSONL
    ("jsonl", jsonl(entities=ENTS, relations=[{"head": 0, "tail": -1, "label": "knows"}]), None, "src", 1,
     "relation 0 must be {'head': entity index, 'tail': entity index, 'label': str} with indices from 0 to 1"),
    ("jsonl", jsonl(entities=[{"start": 0.5, "end": 3, "label": "PER"}]), None, "src", 1, "entity 0 must be"),
    ("jsonl", json.dumps({"tokens": ["Bob", "ran"], "entities": [{"start": 0, "end": 1.0, "label": "PER"}]}), None,
     "src", 1, "entity 0 must be"),
    ("jsonl", jsonl(entities=ENTS, relations=[{"head": 0, "tail": 1.0, "label": "knows"}]), None, "src", 1,
     "relation 0 must be"),
    ("jsonl", jsonl(entities=[{"start": 0, "end": 3, "label": 5}]), None, "src", 1, "entity 0 must be"),
    ("jsonl", jsonl() + jsonl(image_id=5), None, "src", 2, "'image_id' must be a string, not 5"),
    ("jsonl", jsonl(caption=["a", "photo"]), None, "src", 1, "'caption' must be a string"),
    ("jsonl", jsonl(id=None), None, "src", 1, "'id' must be a string or an integer"),
    ("jsonl", json.dumps({"tokens": ["Bob", 5]}), None, "src", 1, "'tokens' must be a list of non-empty strings"),
    ('jsonl', '{"text": "Bob met Ann", "entities": [{"start": 1e400, "end": 3, "label": "PER"}]}\n', None, "src", 1,
     "entity 0 must be"),
    ("jsonl", '{"text": "Bob met Ann", "entities": [{"start": 1' + "0" * 5000 + ', "end": 3, "label": "PER"}]}\n',
     None, "src", 1, "not valid JSON: Exceeds the limit"),
    ("jsonl", jsonl() + '{"text": "hi", "cot": ' + "[" * DEEP + "]" * DEEP + "}\n", None, "src", 2,
     "the JSON is nested too deeply to read"),
    # MNRE
    ("mnre", mnre_line() + mnre_line(h=(0.9, 2)), None, "src", 2,
     "'h' must be {'name': ..., 'pos': [start, end]} with integer positions"),
    ("mnre", mnre_line(img_id="5"), None, "src", 1, "'img_id' must be a string, not 5"),
    ("mnre", mnre_line(t=(0, 1), t_name="Bob"), None, "src", 1,
     "the head and the tail are the same tokens [0, 1]: a relation needs two entities"),
    # knowledge files
    ("twitter", TWEET, '{"imgid": "7", "tokens": ["Hello", "Bob"], "knowledge": "a"}\n'
     '{"imgid": "7", "tokens": ["Hello", "Bob"], "knowledge": "b"}\n', "knowledge", 2,
     "the id '7' of this record is also on line 1"),
    ("twitter", TWEET, '{"imgid": "7", "tokens": ["Hello", "Bob"], "knowledge": "a"}\n'
     '{"tokens": ["Hi"], "knowledge": "b"}\n', "knowledge", 2, "this record has no 'imgid' but line 1 has one"),
    ("mnre", mnre_line(), '{"tokens": ["Bob", "joins", "Acme"], "knowledge": "a"}\n'
     '{"tokens": ["Bob", "joins", "Acme"], "knowledge": "b"}\n', "knowledge", 2,
     "the token list of this record is also on line 1"),
    # Twitter
    ("twitter", BOM, None, "src", None, "the file is empty"),
    ("twitter", "IMGID:7\n", None, "src", 1, "IMGID:7 has no tokens"),
    ("twitter", "IMGID:7\n\n\nIMGID:8\nHi\tO\n", None, "src", 1, "IMGID:7 has no tokens"),
    ("twitter", "IMGID:6\nHi\tO\n\nIMGID:7\nIMGID:8\nHi\tO\n", None, "src", 4, "IMGID:7 has no tokens"),
]


def write(path, content):
    path.write_text(content, encoding="utf-8")
    return path


def convert(tmp_path, kind, content, knowledge=None):
    src = write(tmp_path / f"in.{kind}", content)
    args = ["convert", kind, str(src), str(tmp_path / "out.spacy")]
    if knowledge is not None:
        args += ["--knowledge", str(write(tmp_path / "k.jsonl", knowledge))]
    return CliRunner().invoke(app, args)


@pytest.mark.parametrize("kind,content,knowledge,wrong,line,message", REFUSED,
                         ids=[f"{case[0]}:{case[3]}:{case[5][:40]}" for case in REFUSED])
def test_wrong_data_is_one_line_naming_file_and_line(tmp_path, kind, content, knowledge, wrong, line, message):
    result = convert(tmp_path, kind, content, knowledge)
    path = tmp_path / (f"in.{kind}" if wrong == "src" else "k.jsonl")
    where = f"{path}:{line}:" if line else f"{path}:"
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception  # no traceback
    assert result.output.strip().splitlines() == [result.output.strip()]  # one line
    assert result.output.startswith(f"✘ {where} ") and message in result.output, result.output
    assert not (tmp_path / "out.spacy").exists()


def docs_of(path):
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def test_a_utf8_bom_is_skipped(tmp_path):
    for kind, content in (("twitter", TWEET), ("jsonl", jsonl()), ("mnre", mnre_line())):
        result = convert(tmp_path, kind, BOM + content)
        assert result.exit_code == 0, result.output
        assert "1 docs" in result.output
    assert docs_of(tmp_path / "out.spacy")[0]._.doc_id == "x"
    convert_twitter(write(tmp_path / "bom.txt", BOM + TWEET), tmp_path / "t.spacy")
    assert docs_of(tmp_path / "t.spacy")[0]._.doc_id == "7"


def test_tweets_without_imgid_get_distinct_ids(tmp_path):
    src = write(tmp_path / "plain.txt", "Hello\tO\n\nBob\tB-PER\nruns\tO\n\nAnn\tB-PER\n")
    convert_twitter(src, tmp_path / "out.spacy")
    assert [d._.doc_id for d in docs_of(tmp_path / "out.spacy")] == ["plain.txt:1", "plain.txt:3", "plain.txt:6"]


def test_tokens_containing_whitespace_are_counted(tmp_path):
    src = write(tmp_path / "ws.txt", "IMGID:7\nNew York\tB-LOC\n\u00a0\tO\nrocks\tO\n")
    summary = convert_twitter(src, tmp_path / "out.spacy")
    assert summary.skipped == {"tokens containing whitespace (kept as one token)": ["ws.txt:2", "ws.txt:3"]}
    assert [t.text for t in docs_of(tmp_path / "out.spacy")[0]] == ["New York", "\u00a0", "rocks"]
    result = convert(tmp_path, "twitter", src.read_text(encoding="utf-8"))
    shown = " ".join(result.output.split())  # wasabi wraps long lines
    assert result.exit_code == 0
    assert "⚠ 2 tokens containing whitespace (kept as one token): in.twitter:2, in.twitter:3" in shown


def test_mnre_names_that_differ_from_their_tokens_are_counted(tmp_path):
    src = write(tmp_path / "m.txt", mnre_line() + mnre_line(t=(1, 3), t_name="Acme Corp"))
    summary = convert_mnre(src, tmp_path / "out.spacy")
    assert summary.skipped == {"head/tail names that differ from their tokens (kept: 'pos' counts)": ["m.txt:2"]}
    doc = docs_of(tmp_path / "out.spacy")[0]
    assert [(r["head"], r["tail"]) for r in doc._.relations] == [([0, 1], [2, 3]), ([0, 1], [1, 3])]

import json
from collections import Counter

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_cot_distill.cli import app
from spacy_cot_distill.data import convert_jsonl, convert_mnre, convert_twitter
from spacy_cot_distill.errors import InputError


def load(path):
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def snapshot(doc):
    return (
        [t.text for t in doc],
        [(e.start, e.end, e.label_) for e in doc.ents],
        [(s.start, s.end, s.label_) for s in doc.spans.get("entities", [])],
        doc._.relations,
        doc._.doc_id,
        doc._.image_id,
        doc._.caption,
        doc._.cot,
    )


def test_twitter2017_counts_and_round_trip(shared_data, tmp_path):
    out = tmp_path / "t17.spacy"
    summary = convert_twitter(
        shared_data / "twitter2017/train.txt",
        out,
        captions=shared_data / "captions/BLIP2_17_train_valid.txt",
        knowledge=shared_data / "knowledge/qwen2.5-coder-1.5b/twitter2017_train.jsonl",
    )
    assert summary.docs == 3373
    assert summary.entities == Counter(PER=2943, LOC=731, ORG=1674, MISC=701)
    docs = load(out)
    assert len(docs) == 3373
    first = docs[0]
    # the first tweet of the file, read here with plain string handling
    block = (shared_data / "twitter2017/train.txt").read_text(encoding="utf-8").split("\n\n")[0].splitlines()
    imgid, rows = block[0][len("IMGID:"):], [line.split("\t") for line in block[1:]]
    assert [t.text for t in first] == [word for word, _ in rows]
    assert [t.ent_iob_ + ("-" + t.ent_type_ if t.ent_type_ else "") for t in first] == [tag for _, tag in rows]
    assert first._.doc_id == imgid and first._.image_id == f"{imgid}.jpg"
    assert first._.caption  # BLIP-2 caption attached
    assert set(first._.cot) == {"noun", "sentence", "multimodal"}


def test_twitter2015_seqeval_convention(shared_data, tmp_path):
    path = shared_data / "twitter2015/train.txt"
    summary = convert_twitter(
        path, tmp_path / "t15.spacy", knowledge=shared_data / "knowledge/chatgpt-pgim/twitter2015_train.jsonl"
    )
    # count entity starts independently: B-X, or I-X not continuing an entity of type X
    expected, prev = Counter(), "O"
    for line in path.read_text(encoding="utf-8").splitlines():
        if "\t" not in line:
            prev = "O"
            continue
        tag = line.rsplit("\t", 1)[1]
        if tag.startswith("B-") or (tag.startswith("I-") and prev[2:] != tag[2:]):
            expected[tag[2:]] += 1
        prev = tag
    assert summary.docs == 4000
    assert summary.entities == expected
    assert sum(expected.values()) > 6166  # the stray I- starts are entities too
    # the ChatGPT file has no answer for the last tweet: counted, not an error
    assert summary.skipped["docs whose knowledge record is empty (kept, no knowledge)"] == ["33008"]
    docs = load(tmp_path / "t15.spacy")
    assert set(docs[0]._.cot) == {"external"}


def test_mnre_counts_and_round_trip(shared_data, tmp_path):
    import ast

    path = shared_data / "mnre/train.txt"
    records = [ast.literal_eval(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    summary = convert_mnre(
        path, tmp_path / "mnre.spacy", knowledge=shared_data / "knowledge/qwen2.5-coder-1.5b/mnre_train.jsonl"
    )
    assert summary.docs == len({tuple(r["token"]) for r in records}) == 7330
    assert sum(summary.relations.values()) == 12247
    assert summary.relations == Counter(r["relation"] for r in records)
    docs = load(tmp_path / "mnre.spacy")
    by_tokens = {tuple(t.text for t in d): d for d in docs}
    rec = records[0]
    doc = by_tokens[tuple(rec["token"])]
    assert {"head": rec["h"]["pos"], "tail": rec["t"]["pos"], "label": rec["relation"], "score": 1.0} in doc._.relations
    heads = {(s.start, s.end) for s in doc.spans["entities"]}
    assert tuple(rec["h"]["pos"]) in heads and tuple(rec["t"]["pos"]) in heads
    assert set(doc._.cot) == {"noun", "sentence"}
    assert len({d._.doc_id for d in docs}) == len(docs)


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


def test_every_converter_round_trips_through_docbin(shared_data, tmp_path):
    """Docs written and read back equal the docs the reader made, extensions included."""
    from spacy.vocab import Vocab

    from spacy_cot_distill.data import read_mnre, read_twitter

    head = "\n".join((shared_data / "mnre/dev.txt").read_text(encoding="utf-8").splitlines()[:40])
    (tmp_path / "mnre.txt").write_text(head, encoding="utf-8")
    for reader, src in ((read_twitter, shared_data / "twitter2017/valid.txt"), (read_mnre, tmp_path / "mnre.txt")):
        made = list(reader(src, Vocab()))
        out = tmp_path / f"{reader.__name__}.spacy"
        DocBin(docs=made, store_user_data=True).to_disk(out)
        assert [snapshot(d) for d in load(out)] == [snapshot(d) for d in made]


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


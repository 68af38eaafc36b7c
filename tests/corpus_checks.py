"""Checks of the converters and of import-knowledge on a data folder laid out as ../shared/data.

The default suite runs them on the synthetic corpora (tests/corpora.py), the real-data suite (tests_data/) on
the real ones; each caller gives the figures its corpus must yield.
"""
import ast
import json
from collections import Counter
from pathlib import Path
from typing import List

import spacy
from spacy.tokens import DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

from spacy_cot_distill.cli import app
from spacy_cot_distill.data import convert_mnre, convert_twitter, read_mnre, read_twitter


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


def check_twitter_with_captions_and_qwen(data: Path, dataset: str, tmp_path: Path, docs: int, entities: Counter) -> None:
    """`dataset`'s train split with its BLIP-2 captions and Qwen knowledge: the counts, and the first tweet
    against the file read with plain string handling."""
    out = tmp_path / f"{dataset}.spacy"
    summary = convert_twitter(
        data / dataset / "train.txt",
        out,
        captions=data / f"captions/BLIP2_{dataset[-2:]}_train_valid.txt",
        knowledge=data / f"knowledge/qwen2.5-coder-1.5b/{dataset}_train.jsonl",
    )
    assert summary.docs == docs
    assert summary.entities == entities
    converted = load(out)
    assert len(converted) == docs
    first = converted[0]
    block = (data / dataset / "train.txt").read_text(encoding="utf-8").split("\n\n")[0].splitlines()
    imgid, rows = block[0][len("IMGID:"):], [line.split("\t") for line in block[1:]]
    assert [t.text for t in first] == [word for word, _ in rows]
    assert [t.ent_iob_ + ("-" + t.ent_type_ if t.ent_type_ else "") for t in first] == [tag for _, tag in rows]
    assert first._.doc_id == imgid and first._.image_id == f"{imgid}.jpg"
    assert first._.caption  # BLIP-2 caption attached
    assert set(first._.cot) == {"noun", "sentence", "multimodal"}


def check_twitter2015_seqeval_convention(data: Path, tmp_path: Path, docs: int, b_starts: int, unanswered: List[str]) -> None:
    """Twitter-2015 train with the ChatGPT knowledge: an `I-` that continues no entity starts one (seqeval),
    and the tweets the ChatGPT file never answered are counted, not an error."""
    path = data / "twitter2015/train.txt"
    summary = convert_twitter(path, tmp_path / "t15.spacy", knowledge=data / "knowledge/chatgpt-pgim/twitter2015_train.jsonl")
    # count entity starts independently: B-X, or I-X not continuing an entity of type X
    expected, prev, b_tags = Counter(), "O", 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if "\t" not in line:
            prev = "O"
            continue
        tag = line.rsplit("\t", 1)[1]
        b_tags += tag.startswith("B-")
        if tag.startswith("B-") or (tag.startswith("I-") and prev[2:] != tag[2:]):
            expected[tag[2:]] += 1
        prev = tag
    assert summary.docs == docs
    assert b_tags == b_starts
    assert summary.entities == expected
    assert sum(expected.values()) > b_starts  # the stray I- starts are entities too
    assert summary.skipped["docs whose knowledge record is empty (kept, no knowledge)"] == unanswered
    assert set(load(tmp_path / "t15.spacy")[0]._.cot) == {"external"}


def check_mnre_with_qwen(data: Path, tmp_path: Path, docs: int, relations: int, doubly_labelled: int) -> None:
    """MNRE train with the Qwen knowledge: one doc per sentence, every line a relation (a pair the data labels
    twice keeps both labels), the first record found in its doc."""
    path = data / "mnre/train.txt"
    records = [ast.literal_eval(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    summary = convert_mnre(path, tmp_path / "mnre.spacy", knowledge=data / "knowledge/qwen2.5-coder-1.5b/mnre_train.jsonl")
    assert summary.docs == len({tuple(r["token"]) for r in records}) == docs
    assert sum(summary.relations.values()) == relations
    assert summary.relations == Counter(r["relation"] for r in records)
    converted = load(tmp_path / "mnre.spacy")
    by_tokens = {tuple(t.text for t in d): d for d in converted}
    rec = records[0]
    doc = by_tokens[tuple(rec["token"])]
    assert {"head": rec["h"]["pos"], "tail": rec["t"]["pos"], "label": rec["relation"], "score": 1.0} in doc._.relations
    heads = {(s.start, s.end) for s in doc.spans["entities"]}
    assert tuple(rec["h"]["pos"]) in heads and tuple(rec["t"]["pos"]) in heads
    assert set(doc._.cot) == {"noun", "sentence"}
    assert len({d._.doc_id for d in converted}) == len(converted)
    labels_of = {}
    for r in records:
        labels_of.setdefault((tuple(r["token"]), tuple(r["h"]["pos"]), tuple(r["t"]["pos"])), []).append(r["relation"])
    twice = [(key, labels) for key, labels in labels_of.items() if len(set(labels)) > 1]
    assert len(twice) == doubly_labelled
    for (words, head, tail), labels in twice:
        kept = [r["label"] for r in by_tokens[words]._.relations if (tuple(r["head"]), tuple(r["tail"])) == (head, tail)]
        assert sorted(kept) == sorted(labels)


def check_docbin_round_trip(data: Path, tmp_path: Path) -> None:
    """Docs written and read back equal the docs the reader made, extensions included."""
    head = "\n".join((data / "mnre/dev.txt").read_text(encoding="utf-8").splitlines()[:40])
    (tmp_path / "mnre.txt").write_text(head, encoding="utf-8")
    for reader, src in ((read_twitter, data / "twitter2017/valid.txt"), (read_mnre, tmp_path / "mnre.txt")):
        made = list(reader(src, Vocab()))
        out = tmp_path / f"{reader.__name__}.spacy"
        DocBin(docs=made, store_user_data=True).to_disk(out)
        assert [snapshot(d) for d in load(out)] == [snapshot(d) for d in made]


def check_import_qwen_knowledge(data: Path, tmp_path: Path, docs: int) -> None:
    """`import-knowledge` puts the Qwen knowledge of Twitter-2017 valid into doc._.cot, joined by imgid."""
    convert_twitter(data / "twitter2017" / "valid.txt", tmp_path / "valid.spacy")
    knowledge = data / "knowledge" / "qwen2.5-coder-1.5b" / "twitter2017_valid.jsonl"
    result = CliRunner().invoke(app, ["import-knowledge", str(tmp_path / "valid.spacy"), str(knowledge), str(tmp_path / "out.spacy")])
    assert result.exit_code == 0, result.output
    imported = list(DocBin().from_disk(tmp_path / "out.spacy").get_docs(Vocab()))
    first = json.loads(knowledge.read_text(encoding="utf8").splitlines()[0])
    assert len(imported) == docs
    assert imported[0]._.doc_id == first["imgid"] and imported[0]._.cot == first["cot"]
    assert all(set(doc._.cot) == {"noun", "sentence", "multimodal"} for doc in imported)

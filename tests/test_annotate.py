"""`cot-distill annotate`: three input formats, bad lines, resume after a SIGKILL, spaCy's multiprocessing."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_cot_distill.annotate import annotate
from spacy_cot_distill.cli import app
from tiny_relations import corpus

ROOT = Path(__file__).resolve().parent.parent
def expected_lines(model, texts, ids):
    nlp = spacy.load(model)
    lines = []
    for doc_id, doc in zip(ids, nlp.pipe(texts)):
        lines.append({
            "id": doc_id, "text": doc.text,
            "entities": [{"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text} for e in doc.ents],
            "relations": [{"head": char_offsets(doc, r["head"]), "tail": char_offsets(doc, r["tail"]),
                           "label": r["label"], "score": round(r["score"], 4)} for r in doc._.relations],
        })
    return lines


def char_offsets(doc, tokens):
    span = doc[tokens[0]:tokens[1]]
    return [span.start_char, span.end_char]


def read_output(path):
    # split at "\n" only: a text's U+2028 or U+0085 is written as it is, inside its JSON string
    return [json.loads(line) for line in path.read_bytes().split(b"\n")[:-1]]


def cli(*args):
    return CliRunner().invoke(app, ["annotate", *map(str, args), "--no-progress"])


def test_three_input_formats_give_ids_entities_and_char_offset_relations(pipeline, tmp_path):
    texts = corpus(12)
    (tmp_path / "in.jsonl").write_text(
        "".join(json.dumps({"id": f"t{i}", "text": t}) + "\n" for i, t in enumerate(texts)) + "\n", encoding="utf-8")
    (tmp_path / "in.txt").write_text("\n".join(texts[:6]) + "\n\n" + "\n".join(texts[6:]) + "\n", encoding="utf-8")
    docs = [spacy.blank("en").make_doc(t) for t in texts]
    for i, doc in enumerate(docs[:6]):
        doc._.doc_id = f"d{i}"
    DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / "in.spacy")

    ids = {"jsonl": [f"t{i}" for i in range(12)],
           "txt": list(range(1, 7)) + list(range(8, 14)),  # the line numbers, past the blank line
           "spacy": [f"d{i}" for i in range(6)] + list(range(7, 13))}  # doc._.doc_id, else the position
    for suffix, doc_ids in ids.items():
        result = cli(pipeline, tmp_path / f"in.{suffix}", tmp_path / f"out_{suffix}.jsonl")
        assert result.exit_code == 0, result.output
        assert "Wrote 12 docs" in result.output
        assert read_output(tmp_path / f"out_{suffix}.jsonl") == expected_lines(pipeline, texts, doc_ids)
        assert ("1 blank lines skipped" in result.output) == (suffix != "spacy")
    out = read_output(tmp_path / "out_jsonl.jsonl")
    # the tiny pipeline finds the training tweets' entities and relations, as character offsets
    obama = out[1]
    assert [(e["text"], e["start"], e["end"]) for e in obama["entities"]] == [
        ("Obama", 0, 5), ("Apple", 11, 16), ("London", 23, 29)]
    relations = {(tuple(r["head"]), tuple(r["tail"]), r["label"]) for r in obama["relations"]}
    assert ((0, 5), (11, 16), "/per/org/member_of") in relations
    assert all(0 < r["score"] <= 1 for r in obama["relations"])


def test_bad_lines_are_skipped_with_their_line_numbers_or_fail_the_run(pipeline, tmp_path):
    texts = corpus(6)
    lines = [json.dumps({"id": i, "text": t}) for i, t in enumerate(texts)]
    lines[2] = '{"id": 2, "text": '  # torn JSON
    lines[4] = json.dumps({"id": 4, "body": texts[4]})  # no text
    (tmp_path / "in.jsonl").write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe bad bytes\n")
    result = cli(pipeline, tmp_path / "in.jsonl", tmp_path / "out.jsonl", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    for lineno, why in ((3, "not valid JSON"), (5, 'expected a JSON object with a string "text"'), (7, "not valid UTF-8")):
        assert f"in.jsonl:{lineno}: {why}" in result.output
    assert "Wrote 4 docs" in result.output and "3 bad lines skipped" in result.output
    assert [r["id"] for r in read_output(tmp_path / "out.jsonl")] == [0, 1, 3, 5]

    result = cli(pipeline, tmp_path / "in.jsonl", tmp_path / "failed.jsonl", "--on-error", "fail")
    assert result.exit_code == 1
    assert "in.jsonl:3: not valid JSON" in result.output and "in.jsonl:5" not in result.output
    result = cli(pipeline, tmp_path / "in.jsonl", tmp_path / "x.jsonl", "--on-error", "ignore")
    assert result.exit_code == 1 and "--on-error must be one of skip, fail" in result.output


def test_resume_after_sigkill_equals_an_uninterrupted_run(pipeline, tmp_path):
    texts = corpus(200)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    annotate(pipeline, source, tmp_path / "whole.jsonl", batch_size=8, progress=False)

    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "spacy_cot_distill", "annotate", str(pipeline), str(source), str(out),
               "--batch-size", "8", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while complete_lines_now(out) < 20:
        assert child.poll() is None, child.stdout.read().decode()
        assert time.monotonic() < deadline, "no output after 300 s"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    done = complete_lines_now(out)
    assert 20 <= done < len(texts), "the child finished before the kill: give it more docs"
    with out.open("ab") as file:  # a kill mid-write leaves a torn last line: the resume must redo it
        file.write(b'{"id": 999, "text": "tor')
    result = subprocess.run(command + ["--resume"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"Wrote {len(texts) - done} docs" in result.stdout and f"after {done} already" in " ".join(result.stdout.split())
    assert out.read_bytes() == (tmp_path / "whole.jsonl").read_bytes()
    assert complete_lines_now(out) == len(texts)


def complete_lines_now(path):
    """Complete lines of a file another process is writing (no truncation)."""
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_n_process_2_equals_n_process_1(pipeline, tmp_path):
    texts = corpus(40)
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    for n in (1, 2):
        result = cli(pipeline, tmp_path / "in.txt", tmp_path / f"out{n}.jsonl", "--n-process", n, "--batch-size", 4)
        assert result.exit_code == 0, result.output
    assert (tmp_path / "out2.jsonl").read_bytes() == (tmp_path / "out1.jsonl").read_bytes()
    assert len(read_output(tmp_path / "out2.jsonl")) == 40


# -- issue 28: what --resume keeps, the same file under two names, lines spaCy refuses, odd separators and ids

def write_lines(path, lines):
    path.write_bytes(b"".join(line.encode("utf-8") + b"\n" for line in lines))


def refused(result, *needles):
    assert result.exit_code == 1, result.output
    line = " ".join(result.output.split())
    assert "Traceback" not in result.output and all(n in line for n in needles), line


def test_resume_keeps_only_an_earlier_run_of_the_same_input(pipeline, tmp_path):
    texts = corpus(8)
    source, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    write_lines(source, texts)
    assert cli(pipeline, source, tmp_path / "whole.jsonl").exit_code == 0
    whole = (tmp_path / "whole.jsonl").read_bytes()
    start_over = "run without --resume to start over"

    # an interrupted run of this input (3 lines and a torn one): resumed, equal to one uninterrupted run
    out.write_bytes(b"".join(whole.splitlines(keepends=True)[:3]) + b'{"id": 4, "te')
    result = cli(pipeline, source, out, "--resume")
    assert result.exit_code == 0 and "after 3 already there" in " ".join(result.output.split()), result.output
    assert out.read_bytes() == whole

    # the input changed since (a line put in front): every id moved, so nothing is kept and nothing written
    write_lines(source, ["A new first tweet"] + texts)
    partial = b"".join(whole.splitlines(keepends=True)[:3])
    out.write_bytes(partial)
    refused(cli(pipeline, source, out, "--resume"), f"{out}:1: holds another text for id 1 than the input", start_over)
    assert out.read_bytes() == partial

    # a foreign file, a garbled line, the finished output of another corpus, more lines than the input has
    for content, why in ((b"not ours\n", "is not an annotate output line"),
                         (partial[:-5] + b"}}}}\n", "3: is not an annotate output line"),
                         (b'{"id": "x1", "text": "other"}\n', "holds id 'x1' where the input's next doc is id 1"),
                         (whole * 2, "9: has more lines than the input has docs")):
        write_lines(source, texts)
        out.write_bytes(content)
        refused(cli(pipeline, source, out, "--resume"), why, start_over)
        assert out.read_bytes() == content


def test_an_output_hard_linked_to_the_input_is_refused(pipeline, tmp_path):
    source = tmp_path / "in.txt"
    write_lines(source, corpus(4))
    before = source.read_bytes()
    os.link(source, tmp_path / "out.jsonl")
    for args in ((), ("--resume",), ("--ray",)):
        refused(cli(pipeline, source, tmp_path / "out.jsonl", *args), "is also an input")
        assert source.read_bytes() == before


def test_a_line_over_max_length_is_a_bad_line_and_resume_goes_past_it(pipeline, tmp_path):
    source = tmp_path / "in.txt"
    write_lines(source, ["Obama said Apple is in London", "x" * 1_000_001, "Mary went to Paris"])
    result = cli(pipeline, source, tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.output
    assert "in.txt:2: 1,000,001 characters, over the pipeline's max_length (1,000,000)" in " ".join(result.output.split())
    assert [r["id"] for r in read_output(tmp_path / "out.jsonl")] == [1, 3]
    refused(cli(pipeline, source, tmp_path / "failed.jsonl", "--on-error", "fail"), "in.txt:2: 1,000,001 characters")
    # resumed after its first doc, the run goes past the long line to the third
    write_lines(tmp_path / "out.jsonl", (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()[:1])
    result = cli(pipeline, source, tmp_path / "out.jsonl", "--resume")
    assert result.exit_code == 0 and "Wrote 1 docs" in result.output, result.output
    assert [r["id"] for r in read_output(tmp_path / "out.jsonl")] == [1, 3]


ODD = ["Obama\u2028said Apple", "Mary\u0085went to Paris", "John\x0cis in London", "Apple\x1d\x1e\x1fGoogle \ufeff",
       "Smith said \r today", "Paris\u2029London\x0bNew York"]


def test_unusual_separators_are_text_not_line_breaks(pipeline, tmp_path):
    write_lines(tmp_path / "in.jsonl", [json.dumps({"id": f"t{i}", "text": t}, ensure_ascii=False)
                                        for i, t in enumerate(ODD)] + ['{"id": NaN, "text": "x"}'])
    write_lines(tmp_path / "in.txt", ODD)
    result = cli(pipeline, tmp_path / "in.jsonl", tmp_path / "jsonl.jsonl")
    assert "Wrote 6 docs" in result.output and "in.jsonl:7: not valid JSON: NaN is not a JSON number" in result.output
    assert [(r["id"], r["text"]) for r in read_output(tmp_path / "jsonl.jsonl")] == [(f"t{i}", t) for i, t in enumerate(ODD)]
    result = cli(pipeline, tmp_path / "in.txt", tmp_path / "text.jsonl")
    assert "Wrote 6 docs" in result.output
    # "\r" inside a line stays, the line's own "\r\n" would not
    assert [(r["id"], r["text"]) for r in read_output(tmp_path / "text.jsonl")] == list(enumerate(ODD, start=1))
    assert all(line.endswith(b"}") for line in (tmp_path / "text.jsonl").read_bytes().split(b"\n")[:-1])


def test_a_full_disk_keeps_the_complete_lines_and_resume_finishes(pipeline, tmp_path):
    from test_writes import run_limited

    texts = corpus(40)
    source = tmp_path / "in.txt"
    write_lines(source, texts)
    annotate(pipeline, source, tmp_path / "whole.jsonl", progress=False)
    whole = (tmp_path / "whole.jsonl").read_bytes()
    out = tmp_path / "out.jsonl"
    run = run_limited(["annotate", pipeline, source, out, "--no-progress"], tmp_path, len(whole) // 2, kill=False)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-3000:]
    lines = [line for line in (run.stdout + run.stderr).splitlines() if "✘" in line]
    assert len(lines) == 1 and str(out) in lines[0] and "run again with --resume" in lines[0], lines
    result = cli(pipeline, source, out, "--resume")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == whole

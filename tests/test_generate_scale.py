"""Generation at scale: DocBins streamed a block at a time, `generate` a chunk at a time (the same output, cache,
report and dry run as one chunk), and Batch API input files split at the request and byte limits; against the
real loopback server."""
import importlib
import json
import zlib

import pytest
from spacy.tokens import DocBin, Span
from typer.testing import CliRunner

from llm_helpers import make_docs, settings, text, write_docs
from spacy_cot_distill.cli import app
from spacy_cot_distill.data import docbin
from spacy_cot_distill.data.docbin import DocBinWriter, read_docs, stream_docs
from spacy_cot_distill.errors import InputError
from spacy_cot_distill.llm import ResponseCache, batch, generate
from spacy_cot_distill.llm.generate import build_requests, generate_docbin
from spacy_cot_distill.llm.prompts import PromptTemplates

generation = importlib.import_module("spacy_cot_distill.llm.generate")  # the package's `generate` is the function


def rich_docs(n):
    """Docs with every kind of annotation DocBin keeps: entities, span groups, cats and user data."""
    docs = make_docs(n)
    for i, doc in enumerate(docs):
        doc.ents = [Span(doc, 2, 3, "PER")] if i % 2 else []
        doc.spans["sc"] = [Span(doc, 0, 2, "HANDLE")]
        doc.cats = {"sports": i / n}
        doc._.cot = {"noun": f"answer {i}"}
        relation = {"head": [2, 3], "tail": [5, 6], "label": "/per/loc/place_of_residence", "score": 1.0}
        doc._.relations = [relation] if i % 3 == 0 else []
    return docs


# -- DocBins a block at a time


def test_streamed_docs_and_chunked_writes_are_those_of_whole_docbins(tmp_path, monkeypatch):
    monkeypatch.setattr(docbin, "BLOCK_DOCS", 3)
    docs = rich_docs(10)
    write_docs(tmp_path / "whole.spacy", docs)
    streamed = list(stream_docs(tmp_path / "whole.spacy"))
    whole = read_docs(tmp_path / "whole.spacy")
    assert len(streamed) == 10
    assert DocBin(docs=streamed, store_user_data=True).to_bytes() == DocBin(docs=whole, store_user_data=True).to_bytes()
    assert streamed[3]._.relations[0]["label"] == "/per/loc/place_of_residence" and streamed[3].ents[0].text == "Player3"
    assert streamed[4].cats == {"sports": 0.4} and [s.text for s in streamed[4].spans["sc"]] == ["RT @user"]
    with DocBinWriter(tmp_path / "chunked.spacy") as writer:
        for start in range(0, 10, 4):
            writer.add(whole[start : start + 4])
    assert (tmp_path / "chunked.spacy").read_bytes() == DocBin(docs=docs, store_user_data=True).to_bytes()
    with DocBinWriter(tmp_path / "empty.spacy"):
        pass
    empty = DocBin(store_user_data=True).to_bytes()
    assert zlib.decompress((tmp_path / "empty.spacy").read_bytes()) == zlib.decompress(empty)
    assert list(stream_docs(tmp_path / "empty.spacy")) == []
    DocBin(docs=docs[:2]).to_disk(tmp_path / "plain.spacy")  # written without user data
    assert [(d.text, d._.doc_id) for d in stream_docs(tmp_path / "plain.spacy")] == [(d.text, None) for d in docs[:2]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunked.spacy", "empty.spacy", "plain.spacy", "whole.spacy"]


def test_a_writer_left_by_an_error_writes_nothing_and_leaves_no_parts(tmp_path):
    write_docs(tmp_path / "out.spacy", make_docs(1))
    with pytest.raises(RuntimeError):
        with DocBinWriter(tmp_path / "out.spacy") as writer:
            writer.add(make_docs(3))
            raise RuntimeError("stopped")
    assert [p.name for p in tmp_path.iterdir()] == ["out.spacy"] and len(read_docs(tmp_path / "out.spacy")) == 1


def test_a_cut_or_foreign_file_is_one_input_error(tmp_path):
    data = DocBin(docs=make_docs(50), store_user_data=True).to_bytes()
    (tmp_path / "cut.spacy").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.spacy").write_text("not a DocBin\n" * 20)
    for name in ("cut.spacy", "notes.spacy"):
        with pytest.raises(InputError, match=f"{name}: not a .spacy DocBin"):
            stream_docs(tmp_path / name)
    with pytest.raises(InputError, match="missing.spacy: no such file"):
        stream_docs(tmp_path / "missing.spacy")


# -- generate a chunk at a time


def corpus(tmp_path):
    """11 docs, the last three equal to the first three (so equal prompts fall into different chunks); doc 7
    has no id and its prompts fail, doc 5's come back cut at max_tokens."""
    docs = make_docs(8) + make_docs(3)
    docs[7]._.doc_id = None
    return write_docs(tmp_path / "in.spacy", docs)


def cached_answers(path):
    with ResponseCache(path) as cache:
        rows = cache.conn.execute("SELECT key, response FROM responses").fetchall()
    return {key: json.loads(response)["choices"][0]["message"]["content"] for key, response in rows}


def run(server, tmp_path, name, **options):
    report = generate_docbin(tmp_path / "in.spacy", tmp_path / f"{name}.spacy", ["noun", "sentence"], settings(server),
                             tmp_path / f"{name}.sqlite", progress=False, **options)
    return report, (tmp_path / f"{name}.spacy").read_bytes(), cached_answers(tmp_path / f"{name}.sqlite")


def test_chunks_write_the_same_docbin_cache_and_report_as_one_chunk(server, tmp_path, monkeypatch):
    corpus(tmp_path)
    server.fail_prompts("Player7 ", "500")
    server.fail_prompts("Player5 ", "length")
    one_report, one_docbin, one_cache = run(server, tmp_path, "one")
    one_chat = server.counts["chat"]
    server.reset_counts()
    asked = []  # the prompts of each call of `complete`: one call a chunk
    real_complete = generation.complete
    monkeypatch.setattr(generation, "complete",
                        lambda prompts, *args: asked.append(len(prompts)) or real_complete(prompts, *args))
    monkeypatch.setattr(generation, "CHUNK_DOCS", 3)
    report, chunked_docbin, chunked_cache = run(server, tmp_path, "chunked")
    assert asked == [6, 6, 6, 4] and server.counts["chat"] == one_chat
    assert chunked_docbin == one_docbin and chunked_cache == one_cache and len(one_cache) == 14
    assert report == one_report
    assert (report.requests, report.distinct, report.sent, report.cached) == (22, 16, 14, 0)
    assert [f[:2] for f in report.failures] == [("#7", "noun"), ("#7", "sentence")]  # its place in the corpus, not the chunk
    assert report.flags == {"truncated": 2}
    docs = read_docs(tmp_path / "chunked.spacy")
    assert [d._.cot for d in docs[8:]] == [d._.cot for d in docs[:3]] and "noun" not in docs[7]._.cot
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no parts left beside the output


def test_batch_jobs_over_chunks_are_submitted_at_once_and_fill_the_same_docbin(server, tmp_path, monkeypatch):
    corpus(tmp_path)
    _, live_docbin, live_cache = run(server, tmp_path, "live")
    server.reset_counts()
    monkeypatch.setattr(generation, "CHUNK_DOCS", 3)
    server.fail_prompts("Player7 ", "500")
    report, docbin_bytes, cache = run(server, tmp_path, "batch", batch_api=True, poll_interval=0.01)
    # one input file with each distinct prompt once, though the prompts come from four chunks
    assert server.counts["batches"] == 1 and server.counts["chat"] == 16
    [upload] = [server.files[b["input_file_id"]] for b in server.batches.values()]
    assert len(upload.splitlines()) == 16
    assert (report.requests, report.distinct, report.sent, report.cached) == (22, 16, 14, 0)
    assert [f[:2] for f in report.failures] == [("#7", "noun"), ("#7", "sentence")]
    assert cache == {key: answer for key, answer in live_cache.items() if "Player7 " not in answer}
    server.failing.clear()
    server.reset_counts()
    report, docbin_bytes, cache = run(server, tmp_path, "batch", batch_api=True, poll_interval=0.01)
    assert server.counts["chat"] == 2 and (report.sent, report.cached) == (2, 14) and not report.failures
    assert docbin_bytes == live_docbin and cache == live_cache


def test_the_dry_run_over_chunks_counts_as_over_one(server, tmp_path, monkeypatch):
    write_docs(tmp_path / "in.spacy", make_docs(10) + make_docs(5))
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        generate(make_docs(4), ["noun", "sentence"], settings(server, max_tokens=100), cache, progress=False)
    server.reset_counts()
    args = ["generate", str(tmp_path / "in.spacy"), str(tmp_path / "out.spacy"), "--dims", "noun,sentence", "--model",
            "test-model", "--base-url", server.base_url, "--cache", str(tmp_path / "cache.sqlite"), "--max-tokens", "100",
            "--dry-run"]
    outputs = {}
    for chunk_docs in (10_000, 4):
        monkeypatch.setattr(generation, "CHUNK_DOCS", chunk_docs)
        monkeypatch.setattr(generation, "LOOKUP", 3 if chunk_docs == 4 else 10_000)  # cache lookups of 3 prompts
        for shard in ([], ["--shard", "2/3"]):
            result = CliRunner().invoke(app, args + shard)
            assert result.exit_code == 0, result.output
            outputs[chunk_docs, bool(shard)] = text(result)
    assert outputs[4, False] == outputs[10_000, False] and outputs[4, True] == outputs[10_000, True]
    assert "20 requests: 8 cached, 12 to send" in outputs[4, False] and "at most 1200" in outputs[4, False]
    # shard 2/3 is docs 1, 4, 7, 10, 13: tweet1, 4, 7, then tweet0 and tweet3 again, of which 1, 0 and 3 are cached
    assert "10 requests: 6 cached, 4 to send" in outputs[4, True]
    assert server.counts["chat"] == 0 and not (tmp_path / "out.spacy").exists()


def test_a_docbin_updated_in_place_over_chunks(server, tmp_path, monkeypatch):
    write_docs(tmp_path / "train.spacy", make_docs(7))
    monkeypatch.setattr(generation, "CHUNK_DOCS", 3)
    for batch_api in (False, True):  # the Batch API reads the input twice before writing it
        generate_docbin(tmp_path / "train.spacy", tmp_path / "train.spacy", ["noun"] if batch_api else ["sentence"],
                        settings(server), tmp_path / "cache.sqlite", batch_api=batch_api, poll_interval=0.01, progress=False)
    docs = read_docs(tmp_path / "train.spacy")
    assert [d._.doc_id for d in docs] == [f"tweet{i}" for i in range(7)]
    assert all(set(d._.cot) == {"noun", "sentence"} for d in docs) and server.counts["chat"] == 14


def test_a_shard_over_chunks_is_the_same_slice(server, tmp_path, monkeypatch):
    write_docs(tmp_path / "in.spacy", make_docs(11))
    monkeypatch.setattr(generation, "CHUNK_DOCS", 2)
    generate_docbin(tmp_path / "in.spacy", tmp_path / "out.spacy", ["noun"], settings(server), tmp_path / "cache.sqlite",
                    shard=(2, 3), progress=False)
    assert [d._.doc_id for d in read_docs(tmp_path / "out.spacy")] == ["tweet1", "tweet4", "tweet7", "tweet10"]
    assert server.counts["chat"] == 4


# -- Batch API input files within the limits


@pytest.mark.parametrize("lines,spare,max_requests,sizes", [
    (3, 0, 50_000, [3, 3, 3]),  # the byte limit holds three lines exactly
    (3, -1, 50_000, [2, 2, 2, 2, 1]),  # a byte short of three
    (100, 0, 4, [4, 4, 1]),  # the request limit comes first
])
def test_batch_input_files_split_at_the_byte_or_request_limit(server, tmp_path, monkeypatch, lines, spare, max_requests,
                                                              sizes):
    write_docs(tmp_path / "in.spacy", make_docs(9))  # tweet0-8: request lines of one length
    requests = [batch.request_line(r.key, r.messages, settings(server))
                for r in build_requests(make_docs(9), ["noun"], settings(server), PromptTemplates())]
    assert len({len(line) for line in requests}) == 1
    limit = lines * len(requests[0]) + spare
    monkeypatch.setattr(batch, "MAX_BATCH_BYTES", limit)
    monkeypatch.setattr(batch, "MAX_REQUESTS", max_requests)
    monkeypatch.setattr(generation, "CHUNK_DOCS", 2)  # the files do not follow the chunks
    report = generate_docbin(tmp_path / "in.spacy", tmp_path / "out.spacy", ["noun"], settings(server),
                             tmp_path / "cache.sqlite", batch_api=True, poll_interval=0.01, progress=False)
    uploads = [server.files[b["input_file_id"]] for b in server.batches.values()]
    assert [len(upload.splitlines()) for upload in uploads] == sizes
    assert all(len(upload) <= limit for upload in uploads) and b"".join(uploads) == b"".join(requests)
    assert report.sent == 9 and not report.failures and len(cached_answers(tmp_path / "cache.sqlite")) == 9
    question = "Answer: Help me explain the meaning of special words for understanding.\n"
    assert all(doc._.cot["noun"] == question + doc.text.strip() for doc in read_docs(tmp_path / "out.spacy"))


def test_a_request_larger_than_a_batch_file_is_one_clear_error(server, tmp_path, monkeypatch):
    write_docs(tmp_path / "in.spacy", make_docs(2))
    monkeypatch.setattr(batch, "MAX_BATCH_BYTES", 300)
    result = CliRunner().invoke(app, ["generate", str(tmp_path / "in.spacy"), str(tmp_path / "out.spacy"), "--dims", "noun",
                                      "--model", "test-model", "--base-url", server.base_url, "--batch-api",
                                      "--poll-interval", "0.01", "--no-progress"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "larger than a Batch API input file may be (300 bytes): shorten the prompt" in text(result)
    assert server.counts["files"] == 0 and server.counts["batches"] == 0 and not (tmp_path / "out.spacy").exists()

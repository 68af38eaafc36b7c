"""`generate` against a real OpenAI-compatible server on loopback: answers, faults, cache, resume, batch jobs."""
import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

from llm_helpers import API_KEY, make_docs, settings, text, write_docs
from llm_server import prompt_id
from spacy_cot_distill.cli import app
from spacy_cot_distill.llm import ResponseCache, complete, generate
from spacy_cot_distill.llm.batch import run_batches
from spacy_cot_distill.data.docbin import read_docs
from spacy_cot_distill.llm.generate import build_requests
from spacy_cot_distill.llm.prompts import PromptTemplates


def test_happy_path_fills_cot_and_counts_usage(server, tmp_path):
    docs = make_docs(5)
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        report = generate(docs, ["noun", "sentence", "multimodal"], settings(server), cache, progress=False)
    assert server.counts["chat"] == 15 and report.sent == 15 and report.cached == 0 and not report.failures
    assert server.authorization == {f"Bearer {API_KEY}"}
    for doc in docs:
        assert doc._.cot["noun"].startswith("Answer: Help me explain the meaning of special words")
        assert doc._.cot["sentence"].endswith("\nRT @user " + doc._.doc_id.replace("tweet", "Player") + " wins in Boston")
        assert f"Image: {doc._.caption}" in doc._.cot["multimodal"]
        assert doc._.cot_flags == {}
    assert report.usage["completion_tokens"] > 0 and report.usage["prompt_tokens"] > 0
    # the answers survive a DocBin round trip
    again = list(DocBin(docs=docs, store_user_data=True).get_docs(Vocab()))
    assert [d._.cot for d in again] == [d._.cot for d in docs]


def test_equal_prompts_are_asked_once(server, tmp_path):
    docs = make_docs(2) + make_docs(1)
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        report = generate(docs, ["noun"], settings(server), cache, progress=False)
    assert server.counts["chat"] == 2 and (report.requests, report.distinct, report.sent) == (3, 2, 2)
    assert docs[2]._.cot == docs[0]._.cot


def test_scripted_answers(server, tmp_path):
    server.answer = lambda messages: "yes" if "Player0" in messages[-1]["content"] else "no"
    docs = make_docs(2)
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        report = generate(docs, ["entity"], settings(server), cache, progress=False)
    assert [d._.cot["entity"] for d in docs] == ["yes", "no"] and report.sent == 2


def test_at_most_concurrency_requests_in_flight(server, tmp_path):
    server.delay = 0.05
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        complete([[{"role": "user", "content": str(i)}] for i in range(24)], settings(server, concurrency=3), cache, progress=False)
    assert server.counts["chat"] == 24 and server.max_in_flight == 3


@pytest.mark.parametrize("fault", ["429", "500", "hang", "drop", "malformed"])
def test_each_fault_is_retried(server, tmp_path, fault):
    server.inject(fault)
    docs = make_docs(3)
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        report = generate(docs, ["noun"], settings(server), cache, progress=False)
        assert len(cache) == 3
    assert server.counts["chat"] == 4  # one retry
    assert not report.failures and report.sent == 3
    assert all(doc._.cot["noun"].startswith("Answer: ") for doc in docs)


def test_429_waits_as_long_as_retry_after_says(server, tmp_path):
    server.retry_after = "1.2"  # longer than openai's own first backoff (at most 0.5 s)
    server.inject("429")
    start = time.perf_counter()
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        [answer] = complete([[{"role": "user", "content": "x"}]], settings(server), cache, progress=False)
    assert answer.text == "Answer: x" and time.perf_counter() - start >= 1.2


def test_empty_and_truncated_answers_are_flagged(server, tmp_path):
    docs = make_docs(2)
    server.inject("empty", "length")
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        report = generate(docs, ["noun"], settings(server, concurrency=1), cache, progress=False)
    assert server.counts["chat"] == 2
    # an empty answer is a failure (asked again next run; see test_llm_failures.py), still flagged on the doc
    assert [f[:2] for f in report.failures] == [("tweet0", "noun")] and "empty answer" in report.failures[0][2]
    assert "noun" not in docs[0]._.cot and docs[0]._.cot_flags == {"noun": "empty"}
    assert docs[1]._.cot["noun"] == "Answer: cut off" and docs[1]._.cot_flags == {"noun": "truncated"}
    assert report.flags == {"empty": 1, "truncated": 1}
    again = list(DocBin(docs=docs, store_user_data=True).get_docs(Vocab()))
    assert [d._.cot_flags for d in again] == [{"noun": "empty"}, {"noun": "truncated"}]


def test_a_request_that_keeps_failing_is_reported_and_the_run_goes_on(server, tmp_path):
    server.fail_prompts("Player1 ", "500")
    docs = make_docs(4)
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        report = generate(docs, ["noun"], settings(server), cache, progress=False)
    assert server.counts["chat"] == 3 + 3  # three answered, one asked 1 + max_retries times
    assert [(doc_id, dim) for doc_id, dim, _ in report.failures] == [("tweet1", "noun")]
    assert "InternalServerError 500" in report.failures[0][2]
    assert "noun" not in docs[1]._.cot and all("noun" in docs[i]._.cot for i in (0, 2, 3))
    assert report.failed_share == 0.25


def test_cli_exits_non_zero_when_too_many_requests_failed(server, tmp_path):
    server.fail_prompts("Player1 ", "500")
    write_docs(tmp_path / "in.spacy", make_docs(4))
    args = ["generate", str(tmp_path / "in.spacy"), str(tmp_path / "out.spacy"), "--dims", "noun", "--model", "m",
            "--base-url", server.base_url, "--timeout", "0.5", "--max-retries", "0", "--no-progress"]
    result = CliRunner().invoke(app, args + ["--max-failed", "0.2"])
    assert result.exit_code == 1 and "tweet1/noun" in text(result), result.output
    assert len(read_docs(tmp_path / "out.spacy")) == 4  # the answers that came are written all the same
    result = CliRunner().invoke(app, args + ["--max-failed", "0.3"])
    assert result.exit_code == 0, result.output


def test_a_rerun_on_a_full_cache_sends_nothing(server, tmp_path):
    docs = make_docs(6)
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        generate(docs, ["noun", "sentence"], settings(server), cache, progress=False)
        server.reset_counts()
        fresh = make_docs(6)
        report = generate(fresh, ["noun", "sentence"], settings(server), cache, progress=False)
    assert server.counts["chat"] == 0 and report.cached == 12 and report.sent == 0
    assert report.cached_usage["completion_tokens"] > 0 and report.usage["completion_tokens"] == 0
    assert [d._.cot for d in fresh] == [d._.cot for d in docs]


def test_changing_a_parameter_asks_again(server, tmp_path):
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        generate(make_docs(2), ["noun"], settings(server), cache, progress=False)
        generate(make_docs(2), ["noun"], settings(server, max_tokens=17), cache, progress=False)
    assert server.counts["chat"] == 4


def test_dry_run_counts_requests_and_cached_answers_and_sends_nothing(server, tmp_path):
    write_docs(tmp_path / "in.spacy", make_docs(10))
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        generate(make_docs(4), ["noun"], settings(server, max_tokens=100), cache, progress=False)
    server.reset_counts()
    result = CliRunner().invoke(app, ["generate", str(tmp_path / "in.spacy"), str(tmp_path / "out.spacy"), "--dims", "noun,sentence",
                                      "--model", "test-model", "--base-url", server.base_url, "--cache", str(tmp_path / "cache.sqlite"),
                                      "--timeout", "0.5", "--max-retries", "2", "--max-tokens", "100", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "20 requests: 4 cached, 16 to send" in text(result)
    assert "at most 1600" in text(result) and "expected completion tokens" in text(result)
    assert server.counts["chat"] == 0 and not (tmp_path / "out.spacy").exists()


def test_relation_task_asks_per_pair(server, tmp_path):
    doc = Doc(Vocab(), words=["Kobe", "plays", "for", "the", "Lakers", "in", "LA"])
    doc._.doc_id = "s1"
    doc._.relations = [{"head": [0, 1], "tail": [4, 5], "label": "/per/org/member_of", "score": 1.0},
                       {"head": [4, 5], "tail": [6, 7], "label": "/org/loc/locate_at", "score": 1.0}]
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        report = generate([doc], ["sentence"], settings(server), cache, task="rel", progress=False)
    assert report.requests == 2 and server.counts["chat"] == 2
    first, second = doc._.relations
    assert "Head entity: Kobe\nTail entity: Lakers" in first["cot"]["sentence"]
    assert "Head entity: Lakers\nTail entity: LA" in second["cot"]["sentence"]
    assert first["label"] == "/per/org/member_of" and doc._.cot == {}


def test_image_files_are_sent_to_vision_models(server, tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "tweet0.jpg").write_bytes(b"\xff\xd8\xff fake jpeg")
    docs = make_docs(2)
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        generate(docs, ["multimodal"], settings(server), cache, image_dir=tmp_path / "img", progress=False)
    assert server.images == 1  # tweet0 has a file; tweet1 falls back to its caption
    assert "Image:" not in docs[0]._.cot["multimodal"] and "Image: a photo of player 1" in docs[1]._.cot["multimodal"]


def test_batch_api_fills_the_same_cache(server, tmp_path):
    server.fail_prompts("Player3 ", "500")
    docs = make_docs(4)
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        report = generate(docs, ["noun", "sentence"], settings(server), cache, batch_api=True, poll_interval=0.01, progress=False)
        assert server.counts["files"] == 1 and server.counts["batches"] == 1 and server.counts["batch_retrieve"] == 2
        assert server.counts["file_content"] == 2  # the output and the error file
        assert report.sent == 6 and sorted(f[:2] for f in report.failures) == [("tweet3", "noun"), ("tweet3", "sentence")]
        assert docs[0]._.cot["noun"].startswith("Answer: Help me explain")
        server.reset_counts()
        server.failing.clear()
        # a later live run finds the batch answers in the cache and asks only for what failed
        report = generate(make_docs(4), ["noun", "sentence"], settings(server), cache, progress=False)
    assert server.counts["chat"] == 2 and report.cached == 6 and report.sent == 2


def test_a_batch_left_in_flight_is_collected_not_paid_again(server, tmp_path):
    docs = make_docs(3)
    server.batch_polls_before_done = 10**9
    s = settings(server)
    requests = build_requests(docs, ["noun"], s, PromptTemplates())
    todo = {r.key: r.messages for r in requests}
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        with pytest.raises(asyncio.TimeoutError):  # the run dies while the batch is in flight
            asyncio.run(asyncio.wait_for(run_batches(todo.items(), s, cache, poll_interval=0.01), 0.5))
        assert list(cache.pending_batches().values()) == [list(todo)] and len(cache) == 0
        server.batch_polls_before_done = 0
        report = generate(docs, ["noun"], s, cache, batch_api=True, poll_interval=0.01, progress=False)
        assert cache.pending_batches() == {}
    assert server.counts["batches"] == 1 and report.sent == 3 and all("noun" in d._.cot for d in docs)


def _cli(server, tmp_path, *extra):
    return [sys.executable, "-m", "spacy_cot_distill", "generate", str(tmp_path / "in.spacy"), str(tmp_path / "out.spacy"),
            "--dims", "noun", "--model", "test-model", "--base-url", server.base_url, "--cache", str(tmp_path / "cache.sqlite"),
            "--concurrency", "2", "--timeout", "5", "--no-progress", *extra]


def test_sigkill_and_resume_resends_nothing_answered(server, tmp_path):
    n = 60
    write_docs(tmp_path / "in.spacy", make_docs(n))
    server.delay = 0.05
    proc = subprocess.Popen(_cli(server, tmp_path), env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while server.counts["chat"] < 15 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    assert not (tmp_path / "out.spacy").exists()
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        answered = {prompt_id(r.messages) for r in build_requests(make_docs(n), ["noun"], settings(server), PromptTemplates())
                    if cache.get(r.key) is not None}
    assert 10 <= len(answered) < n
    server.reset_counts()
    result = CliRunner().invoke(app, _cli(server, tmp_path)[3:])
    assert result.exit_code == 0, result.output
    assert server.counts["chat"] == n - len(answered)
    assert not answered & set(server.prompts)
    assert all(doc._.cot["noun"].startswith("Answer: ") for doc in read_docs(tmp_path / "out.spacy"))


def test_ctrl_c_stops_cleanly_and_keeps_the_answers(server, tmp_path):
    write_docs(tmp_path / "in.spacy", make_docs(40))
    # 34 answers (about 3.4 s at 2 in flight) still to come when the signal is sent: a loaded machine cannot finish first
    server.delay = 0.2
    # as in a terminal: a runner started in the background (`cmd &`) passes SIGINT on ignored
    proc = subprocess.Popen(_cli(server, tmp_path), env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while server.counts["chat"] < 6 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Interrupted" in output and "Traceback" not in output, output
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        assert 4 <= len(cache) < 40


def test_shards_run_apart_and_their_merged_caches_answer_everything(server, tmp_path):
    write_docs(tmp_path / "in.spacy", make_docs(5))
    base = ["--dims", "noun", "--model", "test-model", "--base-url", server.base_url, "--no-progress"]
    for i in (1, 2):
        result = CliRunner().invoke(app, ["generate", str(tmp_path / "in.spacy"), str(tmp_path / f"out{i}.spacy"), *base,
                                          "--shard", f"{i}/2", "--cache", str(tmp_path / f"cache{i}.sqlite")])
        assert result.exit_code == 0, result.output
    assert [d._.doc_id for d in read_docs(tmp_path / "out1.spacy")] == ["tweet0", "tweet2", "tweet4"]
    assert [d._.doc_id for d in read_docs(tmp_path / "out2.spacy")] == ["tweet1", "tweet3"]
    assert server.counts["chat"] == 5
    result = CliRunner().invoke(app, ["cache", "merge", str(tmp_path / "all.sqlite"), str(tmp_path / "cache1.sqlite"), str(tmp_path / "cache2.sqlite")])
    assert result.exit_code == 0, result.output
    server.reset_counts()
    result = CliRunner().invoke(app, ["generate", str(tmp_path / "in.spacy"), str(tmp_path / "out.spacy"), *base,
                                      "--cache", str(tmp_path / "all.sqlite")])
    assert result.exit_code == 0 and server.counts["chat"] == 0, result.output
    result = CliRunner().invoke(app, ["generate", str(tmp_path / "in.spacy"), str(tmp_path / "o.spacy"), *base, "--shard", "3/2"])
    assert result.exit_code != 0 and "3/2" in text(result)


def test_the_api_key_is_never_written(server, tmp_path):
    server.inject("500", "empty")
    write_docs(tmp_path / "in.spacy", make_docs(8))
    for extra in ([], ["--batch-api", "--poll-interval", "0.01", "--cache", str(tmp_path / "batch.sqlite")], ["--dry-run"]):
        result = CliRunner().invoke(app, ["generate", str(tmp_path / "in.spacy"), str(tmp_path / "out" / "out.spacy"), "--dims", "noun,sentence",
                                          "--model", "test-model", "--base-url", server.base_url, "--no-progress", "--max-failed", "0.1", *extra])
        assert result.exit_code == 0, result.output
        assert API_KEY not in text(result)
    assert server.authorization == {f"Bearer {API_KEY}"}
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"out.spacy", "llm_cache.sqlite", "batch.sqlite"}
    for path in written:
        data = path.read_bytes()
        assert API_KEY.encode() not in data and b"7f3c9a1e" not in data, path


def test_a_missing_api_key_is_a_clear_error(server, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    write_docs(tmp_path / "in.spacy", make_docs(1))
    result = CliRunner().invoke(app, ["generate", str(tmp_path / "in.spacy"), str(tmp_path / "out.spacy"), "--dims", "noun",
                                      "--model", "m", "--base-url", server.base_url, "--no-progress"])
    assert result.exit_code == 1 and "OPENAI_API_KEY" in text(result) and server.counts["chat"] == 0


def test_unlabelled_docs_get_knowledge_like_any_other_doc(server, synthetic_data, tmp_path):
    """`convert twitter --unlabelled` then `generate`: every doc is asked, and keeps its tags missing."""
    raw, out = tmp_path / "raw.spacy", tmp_path / "out.spacy"
    result = CliRunner().invoke(app, ["convert", "twitter", str(synthetic_data / "twitter2017/valid.txt"), str(raw),
                                      "--unlabelled", "--captions", str(synthetic_data / "captions/BLIP2_17_train_valid.txt")])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["generate", str(raw), str(out), "--dims", "noun,sentence", "--model", "test-model",
                                      "--base-url", server.base_url, "--cache", str(tmp_path / "cache.sqlite"), "--no-progress"])
    assert result.exit_code == 0, result.output
    docs = read_docs(out)
    assert len(docs) == len(read_docs(raw)) > 1 and server.counts["chat"] == 2 * len(docs)
    for doc in docs:
        assert doc._.cot["noun"].startswith("Answer: ") and " ".join(t.text for t in doc) in doc._.cot["sentence"]
        assert [t.ent_iob for t in doc] == [0] * len(doc) and doc._.relations_annotated is False

"""LLM faults that retrying cannot fix, against real loopback servers: a wrong key, an endpoint that is down,
empty answers, two runs on one cache, an output or cache that cannot be written, options out of range.

Each case failed before its fix: it paid for requests it could not use, retried for minutes, cached an empty
answer for good, paid twice, or ended in a traceback.
"""
import json
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

from llm_helpers import API_KEY, make_docs, response, settings, text, write_docs
from spacy_cot_distill.cli import app
from spacy_cot_distill.llm import ResponseCache, complete
from spacy_cot_distill.data.docbin import read_docs


def generate_args(tmp_path, base_url, *extra, dims="noun,sentence"):
    return ["generate", str(tmp_path / "in.spacy"), str(tmp_path / "out.spacy"), "--dims", dims, "--model", "test-model",
            "--base-url", base_url, "--cache", str(tmp_path / "cache.sqlite"), "--no-progress", *extra]


def run_cli(args):
    start = time.monotonic()
    result = CliRunner().invoke(app, args)
    return result, time.monotonic() - start


def cached(tmp_path) -> int:
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        return len(cache.get_many(r[0] for r in cache.conn.execute("SELECT key FROM responses")))


# -- 5. answers that no retry can fix stop the run at once


@pytest.mark.parametrize("status,says", [
    ("401", "the API key in OPENAI_API_KEY was refused; set a valid key."),
    ("403", "no access (Project does not have access to model); use a key with access to model 'test-model'"),
    ("404", "model 'test-model' or the chat completions endpoint is unknown there"),
    ("400", "the server refused the request (Unsupported parameter: 'max_tokens' is not supported with this model.)"),
])
def test_an_answer_no_retry_can_fix_stops_the_run_at_once(server, tmp_path, status, says):
    write_docs(tmp_path / "in.spacy", make_docs(40))  # 80 prompts
    server.fail_prompts("", status)
    result, seconds = run_cli(generate_args(tmp_path, server.base_url))
    assert result.exit_code == 1, result.output
    assert f"{status} from {server.base_url}: {says}" in text(result)
    assert "Traceback" not in result.output and API_KEY not in result.output
    assert server.counts["chat"] <= 8  # the requests in flight (--concurrency 8), not all 80
    assert not (tmp_path / "out.spacy").exists() and seconds < 30


def test_a_key_revoked_during_the_run_stops_it_and_keeps_the_answers(server, tmp_path):
    write_docs(tmp_path / "in.spacy", make_docs(40))
    server.fail_after(20, "401")
    result, _ = run_cli(generate_args(tmp_path, server.base_url, "--concurrency", "2"))
    assert result.exit_code == 1 and "401 from" in text(result), result.output
    assert str(tmp_path / "cache.sqlite") in text(result)
    assert server.counts["chat"] <= 22 and cached(tmp_path) == 20
    server.failing_after = None
    server.reset_counts()
    result, _ = run_cli(generate_args(tmp_path, server.base_url))
    assert result.exit_code == 0 and server.counts["chat"] == 60, result.output


def test_a_400_about_one_prompt_is_a_failure_of_that_prompt_only(server, tmp_path):
    write_docs(tmp_path / "in.spacy", make_docs(4))

    server.fail_prompts("Player2 ", "400")
    server_answer = server._answer

    def context_too_long(body, fault):  # the per-prompt 400 OpenAI sends for a prompt over the context window
        status, response, headers = server_answer(body, fault)
        if status == 400:
            response["error"]["code"] = "context_length_exceeded"
        return status, response, headers

    server._answer = context_too_long
    result, _ = run_cli(generate_args(tmp_path, server.base_url, "--dims", "noun", "--max-failed", "0.5"))
    assert result.exit_code == 0 and "tweet2/noun" in text(result), result.output
    assert server.counts["chat"] == 4 and cached(tmp_path) == 3


# -- 5. an endpoint that is down stops the run after a few seconds


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_no_server_stops_after_a_few_seconds_with_the_defaults(server, tmp_path):
    write_docs(tmp_path / "in.spacy", make_docs(40))  # 80 prompts: 143 s before, every prompt tried 6 times
    url = closed_port_url()
    result, seconds = run_cli(generate_args(tmp_path, url))
    assert result.exit_code == 1, result.output
    assert f"No answer from {url} for" in text(result) and "start the server or fix --base-url" in text(result)
    assert "Traceback" not in result.output and not (tmp_path / "out.spacy").exists()
    assert seconds < 40  # --max-outage 5 and the backoff after it: about 8 s


def test_dropped_connections_stop_the_run_after_max_outage(server, tmp_path):
    write_docs(tmp_path / "in.spacy", make_docs(40))
    server.fail_prompts("", "drop")
    result, seconds = run_cli(generate_args(tmp_path, server.base_url, "--max-outage", "1"))
    assert result.exit_code == 1 and f"No answer from {server.base_url}" in text(result), result.output
    # 8 in flight, tried at 0, 0.5, 1.5 s: at most 24 tries, where 80 prompts x 6 tries = 480 were sent before
    assert server.counts["chat"] <= 32 and seconds < 30


def test_connection_failures_between_answers_do_not_stop_the_run(server, tmp_path):
    # two dropped connections, an HTTP answer (the server is up), two more: never 3 failed connections in a row
    server.inject("drop", "drop", "500", "drop", "drop")
    prompts = [[{"role": "user", "content": str(i)}] for i in range(3)]
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        answers = complete(prompts, settings(server, concurrency=1, max_retries=5, max_outage=0.0), cache, progress=False)
    assert [a.text for a in answers] == ["Answer: 0", "Answer: 1", "Answer: 2"] and server.counts["chat"] == 8


# -- 6. empty answers are failures, not cached, asked again


def test_empty_answers_are_not_cached_and_are_asked_again(server, tmp_path):
    write_docs(tmp_path / "in.spacy", make_docs(4))
    server.fail_prompts("Player1 ", "null")
    server.fail_prompts("Player2 ", "empty")
    result, _ = run_cli(generate_args(tmp_path, server.base_url, "--dims", "noun"))
    assert result.exit_code == 1, result.output
    assert "2 requests failed (50.0%): tweet1/noun, tweet2/noun" in text(result)
    assert "empty answer (finish_reason stop)" in text(result)
    assert cached(tmp_path) == 2 and server.counts["chat"] == 4
    server.failing.clear()
    server.reset_counts()
    result, _ = run_cli(generate_args(tmp_path, server.base_url, "--dims", "noun"))
    assert result.exit_code == 0 and server.counts["chat"] == 2, result.output
    assert all(doc._.cot["noun"].startswith("Answer: ") and not doc._.cot_flags for doc in read_docs(tmp_path / "out.spacy"))


def test_an_empty_answer_cached_by_an_older_version_is_asked_again(server, tmp_path):
    write_docs(tmp_path / "in.spacy", make_docs(2))
    result, _ = run_cli(generate_args(tmp_path, server.base_url, "--dims", "noun"))
    assert result.exit_code == 0
    with ResponseCache(tmp_path / "cache.sqlite") as cache:  # as the older version stored a null answer
        key, response = cache.conn.execute("SELECT key, response FROM responses").fetchone()
        body = json.loads(response)
        body["choices"][0]["message"]["content"] = None
        cache.conn.execute("UPDATE responses SET response = ? WHERE key = ?", (json.dumps(body), key))
    server.reset_counts()
    result, _ = run_cli(generate_args(tmp_path, server.base_url, "--dims", "noun"))
    assert result.exit_code == 0 and server.counts["chat"] == 1 and cached(tmp_path) == 2, result.output


def test_augment_counts_an_empty_answer_as_a_failure(server, tmp_path):
    write_docs(tmp_path / "in.spacy", make_docs(2))
    server.fail_prompts("Player1 ", "null")
    args = ["augment", str(tmp_path / "in.spacy"), str(tmp_path / "aug.spacy"), "--kinds", "style", "--model", "m",
            "--base-url", server.base_url, "--cache", str(tmp_path / "cache.sqlite"), "--no-progress"]
    result, _ = run_cli(args)
    assert result.exit_code == 1 and "style: 1 requests failed: tweet1#style0" in text(result), result.output
    server.failing.clear()
    server.reset_counts()
    result, _ = run_cli(args)
    assert server.counts["chat"] == 1 and result.exit_code == 0, result.output


# -- 7. two runs on one cache pay once


def cli_command(tmp_path, base_url, out, *extra):
    return [sys.executable, "-m", "spacy_cot_distill", "generate", str(tmp_path / "in.spacy"), str(tmp_path / out),
            "--dims", "noun,sentence", "--model", "test-model", "--base-url", base_url, "--cache",
            str(tmp_path / "cache.sqlite"), "--concurrency", "4", "--no-progress", *extra]


def test_two_concurrent_runs_pay_once_for_each_prompt(server, tmp_path):
    write_docs(tmp_path / "in.spacy", make_docs(40))  # 80 prompts
    server.delay = 0.02
    server.gate.clear()  # hold the answers until both runs are asking: they overlap however slow they start
    runs = [subprocess.Popen(cli_command(tmp_path, server.base_url, f"out{i}.spacy"),
                             env={**os.environ, "OPENAI_API_KEY": f"sk-run{i}"}, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for i in (1, 2)]
    deadline = time.monotonic() + 120
    while len(server.keys) < 2 and time.monotonic() < deadline and all(run.poll() is None for run in runs):
        time.sleep(0.05)
    server.gate.set()
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert set(server.keys) == {"Bearer sk-run1", "Bearer sk-run2"}, server.keys
    assert server.counts["chat"] == 80 and len(set(server.prompts)) == 80  # 160 before
    for i in (1, 2):
        docs = read_docs(tmp_path / f"out{i}.spacy")
        assert all(doc._.cot["noun"].startswith("Answer: ") and "sentence" in doc._.cot for doc in docs)
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        assert cache.conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0


def hold_claim(tmp_path, server, doc_index, **claim):
    """Put a claim on one prompt into the cache as another run would."""
    from spacy_cot_distill.llm.generate import build_requests
    from spacy_cot_distill.llm.prompts import PromptTemplates

    requests = build_requests(make_docs(4), ["noun"], settings(server, timeout=60.0, max_retries=5,
                                                                backoff_base=0.5, concurrency=8), PromptTemplates())
    key = requests[doc_index].key
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        cache.conn.execute("INSERT INTO claims VALUES (?, ?, ?, ?, ?)",
                           (key, claim["owner"], claim.get("host", socket.gethostname()), claim["pid"], claim.get("renewed", time.time())))
    return key


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("claim", [
    {"owner": "killed run", "pid": "dead"},  # its process is gone
    {"owner": "stuck run", "pid": os.getpid(), "renewed": time.time() - 3600},  # alive but not renewing its claim
    {"owner": "run elsewhere", "pid": 1, "host": "other-host", "renewed": time.time() - 3600},
])
def test_a_claim_left_by_a_dead_or_stuck_run_expires(server, tmp_path, claim):
    write_docs(tmp_path / "in.spacy", make_docs(4))
    hold_claim(tmp_path, server, 1, **{**claim, "pid": dead_pid() if claim["pid"] == "dead" else claim["pid"]})
    result, seconds = run_cli(generate_args(tmp_path, server.base_url, dims="noun"))
    assert result.exit_code == 0 and server.counts["chat"] == 4 and seconds < 30, result.output


def test_a_prompt_claimed_by_a_live_run_is_waited_for_then_asked_if_given_up(server, tmp_path, capsys):
    write_docs(tmp_path / "in.spacy", make_docs(4))
    key = hold_claim(tmp_path, server, 1, owner="live run", pid=os.getpid())
    run = threading.Thread(target=lambda: outcome.append(run_cli(generate_args(tmp_path, server.base_url, dims="noun"))))
    outcome: list = []
    run.start()
    deadline = time.monotonic() + 60
    while server.counts["chat"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    assert run.is_alive() and server.counts["chat"] == 3  # waiting for the claimed prompt, not asking it
    with ResponseCache(tmp_path / "cache.sqlite") as cache:  # the live run gives the prompt up
        cache.conn.execute("DELETE FROM claims WHERE key = ?", (key,))
    run.join(60)
    [(result, _)] = outcome
    assert result.exit_code == 0 and "1 prompts are being asked by another run (pid" in text(result), result.output
    assert server.counts["chat"] == 4


# -- 4 and 16. the output and the cache are checked before the first request


def test_an_output_that_cannot_be_written_is_found_before_paying(server, tmp_path):
    write_docs(tmp_path / "in.spacy", make_docs(20))
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "out.spacy").mkdir()
    for output, says in ((tmp_path / "a-file" / "out.spacy", f"cannot create its folder {tmp_path / 'a-file'}"),
                         (tmp_path / "out.spacy", "is a folder: give a file path for the output")):
        args = generate_args(tmp_path, server.base_url)
        args[2] = str(output)
        result, _ = run_cli(args)
        assert result.exit_code == 1 and f"{output}: {says}" in text(result), result.output
        assert "Traceback" not in result.output
        aug = ["augment", str(tmp_path / "in.spacy"), str(output), "--kinds", "style", "--model", "m",
               "--base-url", server.base_url, "--no-progress", "--cache", str(tmp_path / "cache.sqlite")]
        result, _ = run_cli(aug)
        assert result.exit_code == 1 and f"{output}: {says}" in text(result), result.output
    assert server.counts["chat"] == 0


@pytest.mark.parametrize("make,says", [
    (lambda p: p.mkdir(), "is a directory, not a cache file: pass a file path with --cache"),
    (lambda p: p.write_bytes(b"SQLite format 3\x00" + os.urandom(3000)), "not a readable SQLite cache"),
    (lambda p: p.write_text("key\tanswer\n" * 100), "not a readable SQLite cache (file is not a database)"),
])
def test_a_cache_that_cannot_be_used_is_one_line_before_paying(server, tmp_path, make, says):
    write_docs(tmp_path / "in.spacy", make_docs(5))
    make(tmp_path / "cache.sqlite")
    result, _ = run_cli(generate_args(tmp_path, server.base_url))
    assert result.exit_code == 1 and f"{tmp_path / 'cache.sqlite'}: {says}" in text(result), result.output
    assert "Traceback" not in result.output and server.counts["chat"] == 0 and not (tmp_path / "out.spacy").exists()


def test_a_full_disk_while_caching_stops_with_one_line_and_keeps_the_answers(server, tmp_path):
    write_docs(tmp_path / "in.spacy", make_docs(60))
    # the disk fills: this process may write no more than 300 kB to a file, so the cache's WAL outgrows it
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, hard))
    try:
        result, _ = run_cli(generate_args(tmp_path, server.base_url))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert re.search(f"{tmp_path / 'cache.sqlite'}: could not (store an answer|claim a prompt) \\(", text(result))
    assert "free disk space (or fix the file) and run the same command again" in text(result)
    assert not (tmp_path / "out.spacy").exists()
    kept = cached(tmp_path)
    assert 0 < kept < 120
    with ResponseCache(tmp_path / "cache.sqlite") as cache:  # the full disk kept the run from dropping its claims:
        cache.conn.execute("UPDATE claims SET pid = ?", (dead_pid(),))  # they expire when its process has ended
    server.reset_counts()
    result, _ = run_cli(generate_args(tmp_path, server.base_url))
    assert result.exit_code == 0 and server.counts["chat"] == 120 - kept, result.output


def test_merging_a_copy_without_its_wal_is_refused_naming_the_wal(tmp_path):
    live = ResponseCache(tmp_path / "live.sqlite")  # a run still writing: its answers are in live.sqlite-wal
    live.conn.execute("PRAGMA wal_autocheckpoint=0")
    for i in range(3):
        live.put(f"k{i}", "m", response(f"answer {i}"))
    copy = tmp_path / "copy" / "live.sqlite"
    copy.parent.mkdir()
    copy.write_bytes((tmp_path / "live.sqlite").read_bytes())  # the main file only
    result = CliRunner().invoke(app, ["cache", "merge", str(tmp_path / "all.sqlite"), str(copy)])
    assert result.exit_code == 1 and f"{copy}: holds no answers (live.sqlite-wal is missing)" in text(result), result.output
    assert "Traceback" not in result.output
    # with its -wal file beside it, the copy merges whole
    (copy.parent / "live.sqlite-wal").write_bytes((tmp_path / "live.sqlite-wal").read_bytes())
    result = CliRunner().invoke(app, ["cache", "merge", str(tmp_path / "all.sqlite"), str(copy)])
    assert result.exit_code == 0 and "3 new answers" in text(result), result.output
    live.close()
    (tmp_path / "junk.sqlite").write_text("not a cache\n" * 100)
    result = CliRunner().invoke(app, ["cache", "merge", str(tmp_path / "all.sqlite"), str(tmp_path / "junk.sqlite")])
    assert result.exit_code == 1 and "junk.sqlite: not a readable SQLite cache" in text(result), result.output


# -- 15. options out of range are refused by the CLI


@pytest.mark.parametrize("command,option,value", [
    ("generate", "--timeout", "-1"), ("generate", "--timeout", "0"), ("generate", "--concurrency", "0"),
    ("generate", "--max-tokens", "-5"), ("generate", "--max-retries", "-1"), ("generate", "--temperature", "-1"),
    ("generate", "--poll-interval", "-1"), ("generate", "--max-outage", "-1"), ("generate", "--max-failed", "2"),
    ("augment", "--timeout", "-1"), ("augment", "--per-doc", "0"), ("augment", "--temperature", "9"),
    ("show", "--limit", "-1"),
])
def test_options_out_of_range_are_refused(server, tmp_path, command, option, value):
    write_docs(tmp_path / "in.spacy", make_docs(3))
    if command == "show":
        args = ["show", str(tmp_path / "in.spacy"), "--out", str(tmp_path / "page.html")]
    else:
        args = [command, str(tmp_path / "in.spacy"), str(tmp_path / "out.spacy"), "--model", "m",
                "--base-url", server.base_url, "--no-progress"] + (["--dims", "noun"] if command == "generate" else [])
    result = CliRunner().invoke(app, args + [option, value])
    assert result.exit_code == 2 and option in result.output, result.output
    assert server.counts["chat"] == 0 and not (tmp_path / "out.spacy").exists() and not (tmp_path / "page.html").exists()

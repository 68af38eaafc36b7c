"""LLM generation throughput against the loopback test server answering after an injected delay.

Prints completed requests/s of `generate` at each concurrency (fresh cache each time, so every
request goes to the server, which runs in its own process) and docs/s of a re-run on a full cache
(no request sent).

    python -m benchmarks.llm_throughput [--delay 0.2] [--seconds 5]
"""
import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from spacy.tokens import Doc
from spacy.vocab import Vocab

from spacy_cot_distill.llm import LLMSettings, ResponseCache, generate
from spacy_cot_distill.llm.generate import build_requests
from spacy_cot_distill.llm.prompts import PromptTemplates
from tests.llm_server import completion

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def server_process(delay: float):
    """The loopback server in its own process, so it does not share the client's interpreter lock."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.llm_server", "--delay", str(delay)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait()


def make_docs(n: int, offset: int = 0):
    vocab = Vocab()
    docs = []
    for i in range(offset, offset + n):
        doc = Doc(vocab, words=["RT", "@user", f"Player{i}", "scores", "for", "Boston", "tonight"])
        doc._.doc_id = str(i)
        docs.append(doc)
    return docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.2, help="server latency per request (s)")
    parser.add_argument("--seconds", type=float, default=5.0, help="ideal duration of each concurrency run (s)")
    parser.add_argument("--cache-docs", type=int, default=20000, help="docs in the full-cache re-run")
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-benchmark")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"server delay {args.delay * 1000:.0f} ms; one dimension (noun) per doc\n")
    print(f"{'concurrency':>11} {'requests':>8} {'seconds':>8} {'req/s':>8} {'ideal':>8} {'% ideal':>8}")
    offset = 1
    with server_process(args.delay) as base_url, tempfile.TemporaryDirectory() as tmp:
        # warm up: the first call imports openai, which is not what we measure
        with ResponseCache(Path(tmp) / "warm.sqlite") as cache:
            generate(make_docs(1), ["noun"], LLMSettings(model="bench", base_url=base_url), cache, progress=False)
        for concurrency in (1, 4, 16, 64):
            ideal = concurrency / args.delay
            n = max(concurrency, round(ideal * args.seconds))
            settings = LLMSettings(model="bench", base_url=base_url, concurrency=concurrency, timeout=30)
            docs = make_docs(n, offset)
            offset += n
            with ResponseCache(Path(tmp) / f"c{concurrency}.sqlite") as cache:
                start = time.perf_counter()
                report = generate(docs, ["noun"], settings, cache, progress=False)
                seconds = time.perf_counter() - start
            assert report.sent == n and not report.failures
            rate = n / seconds
            print(f"{concurrency:>11} {n:>8} {seconds:>8.2f} {rate:>8.1f} {ideal:>8.0f} {rate / ideal:>8.0%}")

        settings = LLMSettings(model="bench", base_url=base_url, concurrency=64, timeout=30)
        docs = make_docs(args.cache_docs, offset)
        with ResponseCache(Path(tmp) / "full.sqlite") as cache:
            # fill the cache with the server's own answers directly: asking 20,000 at 200 ms would take minutes
            with cache.conn:
                for request in build_requests(docs, ["noun"], settings, PromptTemplates()):
                    cache.put(request.key, settings.model, completion(request.messages, settings.model))
            start = time.perf_counter()
            report = generate(docs, ["noun"], settings, cache, progress=False)
            seconds = time.perf_counter() - start
        assert report.cached == args.cache_docs and report.sent == 0
        print(f"\nfull-cache re-run: {args.cache_docs} docs in {seconds:.2f} s = {args.cache_docs / seconds:.0f} docs/s, "
              f"{report.sent} requests sent")


if __name__ == "__main__":
    main()

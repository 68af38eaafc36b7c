"""Inference speed of a cot_ner pipeline against the stock spaCy baseline, as a ratio measured in one run.

Both pipelines tag the same docs (gold tokens, no knowledge: text-only
inference) with `nlp.pipe`; runs alternate between the two so that load on a
shared machine hits both alike, and the best run of each counts.

  python benchmarks/ner_speed.py BASELINE_MODEL COT_NER_MODEL ../shared/data/twitter2017/train.txt --n-docs 1000
"""
import argparse
import os
import time
from pathlib import Path

import spacy
import torch
from spacy.tokens import Doc

from spacy_cot_distill.data.twitter import read_twitter


def words_per_second(nlp, docs) -> float:
    inputs = [Doc(nlp.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc]) for doc in docs]
    start = time.perf_counter()
    for _ in nlp.pipe(inputs):
        pass
    return sum(len(doc) for doc in docs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", type=Path)
    parser.add_argument("cot_ner", type=Path)
    parser.add_argument("corpus", type=Path, help="Twitter CoNLL file to take the docs from")
    parser.add_argument("--n-docs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gpu-id", type=int, default=-1)
    args = parser.parse_args()
    if args.gpu_id >= 0:
        spacy.require_gpu(args.gpu_id)
    baseline, cot_ner = spacy.load(args.baseline), spacy.load(args.cot_ner)
    docs = list(read_twitter(args.corpus, baseline.vocab))[: args.n_docs]
    n_words = sum(len(doc) for doc in docs)
    print(f"{len(docs)} docs, {n_words} words; torch threads {torch.get_num_threads()}, cpu count {os.cpu_count()}")
    words_per_second(baseline, docs[:50]), words_per_second(cot_ner, docs[:50])  # warm up
    best = {"baseline": 0.0, "cot_ner": 0.0}
    for repeat in range(args.repeats):
        for name, nlp in (("baseline", baseline), ("cot_ner", cot_ner)):
            wps = words_per_second(nlp, docs)
            best[name] = max(best[name], wps)
            print(f"run {repeat}: {name} {wps:.0f} words/s", flush=True)
    print(f"baseline (a): {best['baseline']:.0f} words/s; cot_ner (c): {best['cot_ner']:.0f} words/s; "
          f"ratio (c)/(a) = {best['cot_ner'] / best['baseline']:.2f}")


if __name__ == "__main__":
    main()

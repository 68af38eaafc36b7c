"""Inference speed of the stock spaCy pipeline, the cot_ner student fp32 and the student int8, in one run.

The three pipelines tag the same docs, tokenised from their text (`nlp.pipe`
over strings: what a user runs, tokenizer included; no knowledge, no image).
Runs alternate between the pipelines so that a change of load hits all alike,
and the best of `--repeats` counts. int8 is the fp32 student's folder loaded
with the load-time switch (`quantize = "int8"`, see README "int8 inference").
Speed does not depend on what the weights learnt, so `--train-quick` trains
both pipelines for a few steps when no trained ones are given; the figures are
recorded with `--record` (machine, load before and after, command).

  OMP_NUM_THREADS=1 python -m benchmarks.ner_speed --train-quick --record
  OMP_NUM_THREADS=1 python -m benchmarks.ner_speed --baseline A/model-best --cot-ner C/model-best
"""
import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Dict, List

import spacy
import torch

from benchmarks.ner_accuracy import make_data
from benchmarks.results import ROOT, cpu_name, resolve_encoder, spacy_train
from spacy_cot_distill.data.docbin import read_docs
from spacy_cot_distill.files import write_file

INT8 = {"components": {"cot_ner": {"model": {"quantize": "int8"}}}}


def words_per_second(nlp: spacy.Language, texts: List[str], n_words: int, batch_size: int) -> float:
    start = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=batch_size):
        pass
    return n_words / (time.perf_counter() - start)


def quick_models(args: argparse.Namespace) -> Dict[str, Path]:
    """Train the stock and the distilled pipeline for `--quick-steps` steps on Twitter-2017 train (or reuse them)."""
    encoder_name, encoder = resolve_encoder(args.encoder)
    args.work.mkdir(parents=True, exist_ok=True)
    paths = make_data("twitter2017", args.data, args.work)
    models = {}
    for name, config in (("baseline", "baseline_ner.cfg"), ("cot_ner", "cot_ner.cfg")):
        out = args.work / f"speed_{name}_{args.quick_steps}_{encoder_name.replace('/', '_')}"
        overrides = {
            "paths.train": str(paths["train", "gpt"]), "paths.dev": str(paths["valid", "gpt"]),
            "paths.encoder": encoder, "training.max_steps": args.quick_steps,
            "training.eval_frequency": args.quick_steps, "training.batcher.size": 1000,
        }
        models[name] = spacy_train(ROOT / "configs" / config, out, overrides).output / "model-last"
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="a trained stock pipeline (configs/baseline_ner.cfg)")
    parser.add_argument("--cot-ner", type=Path, help="a trained cot_ner pipeline, fp32 (configs/cot_ner.cfg)")
    parser.add_argument("--train-quick", action="store_true", help="train both for --quick-steps steps if not given")
    parser.add_argument("--quick-steps", type=int, default=20)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--encoder", default=None, help="hub name or directory (default: all-MiniLM-L6-v2 from PyPI)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/cot_ner_bench"))
    parser.add_argument("--docs", type=Path, default=None,
                        help="a .spacy file whose texts are tagged (default: Twitter-2017 train, converted)")
    parser.add_argument("--n-docs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--record", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    args = parser.parse_args()
    if args.baseline is None or args.cot_ner is None:
        if not args.train_quick:
            parser.error("give --baseline and --cot-ner, or --train-quick")
        quick = quick_models(args)
        args.baseline = args.baseline or quick["baseline"]
        args.cot_ner = args.cot_ner or quick["cot_ner"]
    docs_path = args.docs or make_data("twitter2017", args.data, args.work)["train", "gpt"]
    pipelines = {
        "stock": spacy.load(args.baseline),
        "student fp32": spacy.load(args.cot_ner),
        "student int8": spacy.load(args.cot_ner, config=INT8),
    }
    texts = [doc.text for doc in read_docs(docs_path)[: args.n_docs]]
    n_words = sum(len(doc) for doc in pipelines["stock"].tokenizer.pipe(texts))
    load_before = os.getloadavg()
    print(f"{len(texts)} docs, {n_words} words; torch threads {torch.get_num_threads()}, cpu count {os.cpu_count()}, "
          f"load average {load_before[0]:.2f}", flush=True)
    for nlp in pipelines.values():  # warm up: first calls allocate
        words_per_second(nlp, texts[:64], 1, args.batch_size)
    best = dict.fromkeys(pipelines, 0.0)
    for repeat in range(args.repeats):
        for name, nlp in pipelines.items():
            wps = words_per_second(nlp, texts, n_words, args.batch_size)
            best[name] = max(best[name], wps)
            print(f"run {repeat}: {name} {wps:.0f} words/s", flush=True)
    load_after = os.getloadavg()
    lines = ["| pipeline | words/s (best of %d) | ratio to stock |" % args.repeats, "|---|---|---|"]
    lines += [f"| {name} | {wps:.0f} | {wps / best['stock']:.2f} |" for name, wps in best.items()]
    print("\n".join(lines))
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    if args.record:
        path = ROOT / "benchmarks" / "RESULTS.md"
        section = (
            f"### ner_speed.py, {time.strftime('%Y-%m-%d')}: stock vs student fp32 vs student int8\n\n"
            f"`OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} python -m benchmarks.ner_speed "
            f"{shlex.join(sys.argv[1:])}`; models {args.baseline}, {args.cot_ner}; {len(texts)} docs of "
            f"{docs_path.name}, {n_words} words, from their text; {cpu_name()}, "
            f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}; load average (1 min) "
            f"{load_before[0]:.2f} before, {load_after[0]:.2f} after; alternating, best of {args.repeats}.\n\n"
            + "\n".join(lines) + "\n"
        )
        write_file(path, path.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + section)


if __name__ == "__main__":
    main()

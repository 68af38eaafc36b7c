"""cot_ner on a Twitter `valid` split with and without each augmentation kind, on one budget.

Rows, each trained with `spacy train` for the same steps, batches and optimizer:
  baseline  stock spaCy transformer + ner (configs/baseline_ner.cfg), train docs only
  none      cot_ner (configs/cot_ner.cfg), train docs only
  style, entity, image
            cot_ner on the train docs plus the augmented docs of that kind
  all       cot_ner on the train docs plus every augmented doc
`--train-docs N` trains every row on the first N train docs only (the low-resource setting, where the
augmented docs are a large share of the data); augment those same N docs. The augmented docs enter through
`--paths.augmented` and `--corpora.train.kinds` (the configs' train reader is
spacy_cot_distill.AugmentedCorpus.v1; dev is untouched). Scores: ents_p/r/f of
model-last on the gold-tokenized valid docs, text only (no checkpoint selection on valid). Data, training and
evaluation are those of benchmarks/ner_accuracy.py (ChatGPT knowledge, BLIP-2 captions); `--set` adds config
overrides to every row.

First run this script once with --rows none to write the train subset, augment it with the local Qwen server:
  cot-distill augment /tmp/cot_ner_bench/twitter2017_train_gpt_first100.spacy /tmp/aug/t17_gpt100_aug.spacy \\
      --kinds style,entity,image --pool /tmp/cot_ner_bench/twitter2017_train_gpt.spacy \\
      --model qwen --base-url http://127.0.0.1:PORT/v1 --cache /tmp/aug/cache.sqlite
then
  OMP_NUM_THREADS=1 python -m benchmarks.augment_accuracy twitter2017 /tmp/aug/t17_gpt100_aug.spacy \\
      --train-docs 100 --steps 60 --batch-words 500 --seeds 0,1,2
"""
import argparse
import json
import os
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from spacy_cot_distill.data.docbin import read_docs, write_docs
from spacy_cot_distill.files import write_file

from benchmarks.ner_accuracy import TRAININGS, Training, add_budget_arguments, evaluate, prepare, train
from benchmarks.results import parse_settings, run_dir

KIND_ROWS = {"none": [], "style": ["style"], "entity": ["entity"], "image": ["image"],
             "all": ["style", "entity", "image"]}


def first_docs(path: Path, n: int) -> Path:
    """A DocBin of the first `n` docs of `path` (the low-resource training set), written next to it."""
    out = path.with_name(f"{path.stem}_first{n}.spacy")
    if not out.exists():
        write_docs(out, read_docs(path)[:n])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_budget_arguments(parser, rows="baseline,none,style,entity,image,all", results=None)
    parser.add_argument("augmented", type=Path, help="DocBin written by `cot-distill augment` from the train docs")
    parser.add_argument("--train-docs", type=int, default=0, help="train on the first N train docs (0: all)")
    args = parser.parse_args()
    settings = parse_settings(args.settings)
    paths = prepare(args)
    if args.train_docs:
        paths["train", "gpt"] = first_docs(paths["train", "gpt"], args.train_docs)
    kinds = Counter(d._.augmented_from["kind"] for d in read_docs(args.augmented))
    n_train = len(read_docs(paths["train", "gpt"]))
    print(f"encoder {args.encoder}, {args.steps} steps of {args.batch_words} words, cpu count {os.cpu_count()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, train docs {n_train}, augmented {dict(kinds)}")
    print("| dataset | row | seed | train docs | augmented docs | P | R | F1 | train s |")
    budget = f"{args.steps}x{args.batch_words}" + (f"_first{args.train_docs}" if args.train_docs else "")
    f1 = defaultdict(list)
    for seed in args.seeds.split(","):
        for row in args.rows.split(","):
            out = run_dir(args.work, args.dataset, budget, f"e{args.eval_every}", f"aug_{row}", f"s{seed}",
                          settings=settings, encoder=args.encoder_name)
            name = "a" if row == "baseline" else f"aug_{row}"
            if KIND_ROWS.get(row):
                TRAININGS[name] = Training("cot_ner.cfg", "gpt", {"paths.augmented": str(args.augmented),
                                                                  "corpora.train.kinds": KIND_ROWS[row]})
            elif row != "baseline":
                TRAININGS[name] = TRAININGS["c"]
            seconds = train(name, paths, args.encoder, args.steps, args.batch_words, int(seed), out, args.gpu_id,
                            args.eval_every, settings).seconds
            result = evaluate(out / "model-last", paths["valid", "gpt"])
            write_file(out / "scores.json", json.dumps(result, indent=2))
            f1[row].append(100 * result["f"])
            n_aug = sum(kinds[kind] for kind in KIND_ROWS.get(row, []))
            print(f"| {args.dataset} | {row} | {seed} | {n_train} | {n_aug} | {100 * result['p']:.1f} "
                  f"| {100 * result['r']:.1f} | {100 * result['f']:.1f} | {seconds:.0f} |", flush=True)
    print("\n| row | F1 per seed | mean F1 | std |")
    for row, scores in f1.items():
        std = statistics.stdev(scores) if len(scores) > 1 else 0.0
        print(f"| {row} | {', '.join(f'{s:.1f}' for s in scores)} | {statistics.mean(scores):.1f} | {std:.1f} |")


if __name__ == "__main__":
    main()

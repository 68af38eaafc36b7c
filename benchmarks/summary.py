"""Summarise a benchmark's results file: mean +- std per (dataset, budget, settings, row), differences, plots.

  python -m benchmarks.summary ner   # benchmarks/results/ner.jsonl -> the table, and into benchmarks/:
                                     # ner_curve_<dataset>[_gold<fraction>].png, ner_final_f1.png,
                                     # ner_label_efficiency_<dataset>.png
  python -m benchmarks.summary rel   # benchmarks/results/rel.jsonl -> the table, rel_curve_mnre.png, rel_final_f1.png
  python -m benchmarks.summary ner --rows a,c,f   # the plots compare these rows (the table holds every run)

The plots compare rows, not screens: a run with settings (`--set`) is in the
table, not in the plots, but for the full-gold runs that the label-efficiency
study compares with its own (ner_accuracy.STUDY_AT_FULL_GOLD).
"""
import argparse
import importlib
from pathlib import Path

from benchmarks.results import ROOT, ResultsFile, plot_curves, plot_final_f1, plot_label_efficiency, summarise

# benchmark -> (its module, the record field of per-class scores)
BENCHMARKS = {"ner": ("benchmarks.ner_accuracy", "per_type"), "rel": ("benchmarks.rel_accuracy", "per_label")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS))
    parser.add_argument("--results", type=Path, default=None, help="default: benchmarks/results/<benchmark>.jsonl")
    parser.add_argument("--plots", type=Path, default=ROOT / "benchmarks", help="folder of the PNGs")
    parser.add_argument("--rows", default=None, help="comma-separated rows the plots compare (default: the "
                        "benchmark's PLOT_ROWS, ner: a,b,c,e and the label-efficiency study's)")
    args = parser.parse_args()
    module_name, per_class = BENCHMARKS[args.benchmark]
    module = importlib.import_module(module_name)
    rows = args.rows.split(",") if args.rows else list(module.PLOT_ROWS)
    results = ResultsFile(args.results or ROOT / "benchmarks" / "results" / f"{args.benchmark}.jsonl")
    records = results.read()
    if not records:
        raise SystemExit(f"{results.path}: no results recorded yet")
    labels = {row: spec[0] for row, spec in module.ROWS.items()}
    print(summarise(records, labels, module.DIFFERENCES, per_class))
    written = plot_curves(records, labels, args.plots / f"{args.benchmark}_curve", rows, module.EVAL_SPLIT)
    bars = plot_final_f1(records, labels, args.plots / f"{args.benchmark}_final_f1.png", rows, module.EVAL_SPLIT)
    written += [bars] if bars else []
    if hasattr(module, "STUDY_ROWS"):
        written += plot_label_efficiency(records, labels, args.plots / f"{args.benchmark}_label_efficiency",
                                         [row for row in rows if row in module.STUDY_ROWS],
                                         module.STUDY_AT_FULL_GOLD, module.TRAIN_DOCS, palette=rows)
    for path in written:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()

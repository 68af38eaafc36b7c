"""Summarise a benchmark's results file: mean +- std per (dataset, budget, settings, row), differences, curves.

  python benchmarks/summary.py ner      # benchmarks/results/ner.jsonl -> table, benchmarks/ner_curve_<dataset>.png
  python benchmarks/summary.py rel      # benchmarks/results/rel.jsonl -> table, benchmarks/rel_curve_<dataset>.png
"""
import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import ROOT, ResultsFile, plot_curves, summarise  # noqa: E402

# benchmark -> (its module, the record field of per-class scores)
BENCHMARKS = {"ner": ("ner_accuracy", "per_type"), "rel": ("rel_accuracy", "per_label")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS))
    parser.add_argument("--results", type=Path, default=None, help="default: benchmarks/results/<benchmark>.jsonl")
    parser.add_argument("--plots", type=Path, default=ROOT / "benchmarks", help="folder of the learning-curve PNGs")
    args = parser.parse_args()
    module_name, per_class = BENCHMARKS[args.benchmark]
    module = importlib.import_module(module_name)
    results = ResultsFile(args.results or ROOT / "benchmarks" / "results" / f"{args.benchmark}.jsonl")
    records = results.read()
    if not records:
        raise SystemExit(f"{results.path}: no results recorded yet")
    labels = {row: spec[0] for row, spec in module.ROWS.items()}
    print(summarise(records, labels, module.DIFFERENCES, per_class))
    for path in plot_curves(records, labels, args.plots / f"{args.benchmark}_curve"):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()

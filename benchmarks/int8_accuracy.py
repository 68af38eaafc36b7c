"""The F1 cost of int8 inference: a trained cot_ner pipeline scored fp32 and int8 on the same valid docs.

The int8 pipeline is the same model directory loaded with the load-time switch
`spacy.load(MODEL, config={"components": {"cot_ner": {"model": {"quantize": "int8"}}}})`
(Linear layers made `Int8Linear` after the fp32 weights load: per-channel int8 weights,
per-token int8 activations). Both are scored as `ner_accuracy.py` scores its rows: predicted
docs built from the valid docs' words alone (text only, no knowledge), spaCy's ents_p/r/f
against the gold entities. Each is also run at batch 1 and at batch 64, and the docs whose
entities differ between the two are counted: int8 must give 0 (issue 28; per-batch activation
scales gave 136 of 723 on a trained Twitter-2017 model). Speed: benchmarks/ner_speed.py.

  OMP_NUM_THREADS=1 nice -n 15 python -m benchmarks.int8_accuracy MODEL VALID [--record]

`--record` appends the table to benchmarks/RESULTS.md.
"""
import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import spacy
from spacy.tokens import Doc, DocBin

from benchmarks.ner_accuracy import evaluate
from benchmarks.results import ROOT
from spacy_cot_distill.files import write_file

INT8 = {"components": {"cot_ner": {"model": {"quantize": "int8"}}}}


def batch_changes(model: Path, valid: Path, config: Optional[Dict[str, Any]] = None) -> Tuple[int, int]:
    """(the valid docs whose predicted entities differ between batch 1 and batch 64, the valid docs), words alone."""
    nlp = spacy.load(model, config=config or {})
    refs = list(DocBin().from_disk(valid).get_docs(nlp.vocab))

    def entities(batch_size: int) -> List[List[Tuple[int, int, str]]]:
        docs = (Doc(nlp.vocab, words=[t.text for t in ref], spaces=[bool(t.whitespace_) for t in ref]) for ref in refs)
        return [[(e.start, e.end, e.label_) for e in doc.ents] for doc in nlp.pipe(docs, batch_size=batch_size)]

    return sum(a != b for a, b in zip(entities(1), entities(64))), len(refs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="a trained pipeline with cot_ner (fp32)")
    parser.add_argument("valid", type=Path, help="a .spacy file of gold docs (e.g. twitter2017_valid_gpt.spacy)")
    parser.add_argument("--note", default="", help="what the model is (budget, data), for the record")
    parser.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    scores = {"fp32": evaluate(args.model, args.valid), "int8": evaluate(args.model, args.valid, config=INT8)}
    changed = {"fp32": batch_changes(args.model, args.valid), "int8": batch_changes(args.model, args.valid, INT8)}
    lines = ["| cot_ner | P | R | F | predict s | docs changed, batch 1 vs 64 |", "|---|---|---|---|---|---|"]
    for name, s in scores.items():
        lines.append(f"| {name} | {s['p'] * 100:.2f} | {s['r'] * 100:.2f} | {s['f'] * 100:.2f} | "
                     f"{s['predict_seconds']:.1f} | {changed[name][0]} of {changed[name][1]} |")
    diff = {k: (scores["int8"][k] - scores["fp32"][k]) * 100 for k in "prf"}
    lines.append(f"| int8 - fp32 | {diff['p']:+.2f} | {diff['r']:+.2f} | {diff['f']:+.2f} | | |")
    print("\n".join(lines))
    if args.record:
        path = ROOT / "benchmarks" / "RESULTS.md"
        section = (f"## int8 F1 cost (issue 28: per-token activations): cot_ner fp32 vs int8 on {args.valid.name}\n\n"
                   f"Model `{args.model}`{' (' + args.note + ')' if args.note else ''}; text only; "
                   f"`python -m benchmarks.int8_accuracy {shlex.join(sys.argv[1:])}`; {os.cpu_count()} cores, "
                   f"torch threads {os.environ.get('OMP_NUM_THREADS', 'default')}, load average "
                   f"{os.getloadavg()[0]:.1f} (predict s is wall time under that load, not a speed figure: "
                   "benchmarks/ner_speed.py).\n\n" + "\n".join(lines) + "\n")
        write_file(path, path.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + section)


if __name__ == "__main__":
    main()

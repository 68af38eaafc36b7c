"""What a two-stage student learns from: the teacher's stored distributions on its own train docs and on valid.

For each DocBin given, the teacher's per-token distribution (what `cot-distill
teach` stores; a DocBin that carries them already is read as it is, any other
is taught in memory) against the gold tags: how often its most likely tag is
the gold one, over all tokens and over entity tokens, and how sure it is (mean
probability of its most likely tag; the share of entity tokens above 0.99).
A teacher that agrees with the gold tags on nearly every train token passes the
student little beyond those tags; on valid, the same numbers show what it knows
of docs it never trained on (RESULTS.md, "What the two-stage student learns from").

  python -m benchmarks.teacher_fit TEACHER/model-best train_taught.spacy valid.spacy
"""
import argparse
from pathlib import Path
from typing import Dict

import numpy
import spacy
from spacy.tokens import Doc

import spacy_cot_distill  # noqa: F401  (doc extensions)
from spacy_cot_distill.data.docbin import read_docs
from spacy_cot_distill.data.teacher import read_distribution
from spacy_cot_distill.teach import find_teacher, teach_docs


def gold_tag(token) -> str:
    return "O" if token.ent_iob_ in ("O", "") else f"{token.ent_iob_}-{token.ent_type_}"


def fit(docs: list) -> Dict[str, float]:
    """Agreement of the stored argmax with the gold tags, and the teacher's confidence, over `docs`."""
    agree, sure, entity_agree, entity_sure = [], [], [], []
    for doc in docs:
        stored = read_distribution(doc)
        assert stored is not None
        probs = numpy.exp(stored.log_probs)
        for token, row in zip(doc, probs):
            right = stored.tags[int(row.argmax())] == gold_tag(token)
            agree.append(right)
            sure.append(row.max())
            if gold_tag(token) != "O":
                entity_agree.append(right)
                entity_sure.append(row.max())
    return {
        "docs": len(docs), "tokens": len(agree), "agree": float(numpy.mean(agree)),
        "entity_tokens": len(entity_agree), "entity_agree": float(numpy.mean(entity_agree)),
        "mean_max_p": float(numpy.mean(sure)), "entity_mean_max_p": float(numpy.mean(entity_sure)),
        "entity_above_0.99": float(numpy.mean(numpy.array(entity_sure) > 0.99)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("teacher", type=Path, help="a trained teacher (configs/cot_ner_teacher.cfg's model-best)")
    parser.add_argument("docbins", type=Path, nargs="+", help="gold DocBins with their knowledge, taught or not")
    args = parser.parse_args()
    pipe = find_teacher(spacy.load(args.teacher))
    print("| docs | tokens | argmax = gold | entity tokens | argmax = gold | mean max p | entity mean max p "
          "| entity max p > 0.99 |")
    print("|---|---|---|---|---|---|---|---|")
    for path in args.docbins:
        docs: list[Doc] = read_docs(path, pipe.vocab)
        untaught = [doc for doc in docs if read_distribution(doc) is None]
        teach_docs(pipe, untaught, temperature=1.0)
        f = fit(docs)
        print(f"| {path.name} ({f['docs']}, {len(untaught)} taught here) | {f['tokens']} | {100 * f['agree']:.1f}% "
              f"| {f['entity_tokens']} | {100 * f['entity_agree']:.1f}% | {f['mean_max_p']:.3f} "
              f"| {f['entity_mean_max_p']:.3f} | {100 * f['entity_above_0.99']:.1f}% |", flush=True)


if __name__ == "__main__":
    main()

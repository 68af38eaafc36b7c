"""Seconds per training step of stock spaCy NER and of cot_ner's trainings (RESULTS.md, "Step cost").

The rows: stock (configs/baseline_ner.cfg); distilled, joint training
(configs/cot_ner.cfg as it is, with its full-length teacher); student, the
same with `distill = false`; and two-stage distillation's two trainings:
teacher, stage one (configs/cot_ner_teacher.cfg, the teacher view alone), and
two-stage, stage two (configs/cot_ner.cfg with `distill_from = "stored"`: the
student view against distributions stored on the docs; here they are made once,
before timing, by that pipeline's own untrained teacher view over the docs of
the timed batches: their values do not change a step's cost). The pipelines
are built from their configs and trained in ONE process on the same batches of
Twitter-2017 train (spacy.batch_by_words.v1, `--batch-words` words, ChatGPT
knowledge and BLIP-2 captions on the reference docs), alternating step by step
(the order rotates every step) so that a change of load on a shared machine
hits all alike. The first `--warmup` steps of each are not timed. Prints
seconds per step (mean, and median over steps), the ratios to the stock
pipeline, and the load average before and after; `--record` appends the table
to benchmarks/RESULTS.md. Timings mean something only on an otherwise idle machine.

  python benchmarks/step_cost.py --data ../shared/data --steps 20 --threads 2 [--record]
"""
import argparse
import os
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import spacy
import torch
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import load_config, load_model_from_config, registry
from thinc.api import fix_random_seed

from spacy_cot_distill.data.knowledge import attach_captions, attach_knowledge, read_captions, read_knowledge
from spacy_cot_distill.teach import store_teacher_distributions
from spacy_cot_distill.data.twitter import read_twitter
from spacy_cot_distill.files import write_file
from spacy_cot_distill.packaged_encoders import PACKAGED

ROOT = Path(__file__).resolve().parent.parent
# row -> (config, overrides)
ROWS: Dict[str, tuple] = {
    "stock": ("baseline_ner.cfg", {}),
    "distilled": ("cot_ner.cfg", {}),
    "student": ("cot_ner.cfg", {"components.cot_ner.distill": False}),
    "teacher": ("cot_ner_teacher.cfg", {}),
    "two-stage": ("cot_ner.cfg", {"components.cot_ner.distill_from": "stored"}),
}


def reference_docs(data: Path, vocab) -> List[Doc]:
    """Twitter-2017 train with captions and ChatGPT knowledge, as the training corpus gives them."""
    docs = read_twitter(data / "twitter2017" / "train.txt", vocab)
    docs = attach_captions(docs, read_captions(data / "captions" / "BLIP2_17_train_valid.txt"))
    return list(attach_knowledge(docs, read_knowledge(data / "knowledge/chatgpt-pgim/twitter2017_train.jsonl", "chatgpt")))


def build(row: str, encoder: str, data: Path, seed: int, cot_overrides: Dict[str, Any]):
    """(nlp, optimizer, examples, dropout) for a row, initialised from its config."""
    config_name, overrides = ROWS[row]
    if config_name != "baseline_ner.cfg":
        overrides = {**overrides, **cot_overrides}
    # the corpora paths are validated, never read: the examples are handed to initialize and update
    unread = str(data / "twitter2017" / "train.txt")
    overrides = {"paths.encoder": encoder, "paths.train": unread, "paths.dev": unread, **overrides}
    config = load_config(ROOT / "configs" / config_name, overrides=overrides, interpolate=True)
    fix_random_seed(seed)
    nlp = load_model_from_config(config, auto_fill=True)
    examples = [
        Example(Doc(nlp.vocab, words=[t.text for t in ref], spaces=[bool(t.whitespace_) for t in ref]), ref)
        for ref in reference_docs(data, nlp.vocab)
    ]
    nlp.initialize(lambda: examples)
    optimizer = registry.resolve({"optimizer": config["training"]["optimizer"]})["optimizer"]
    return nlp, optimizer, examples, float(config["training"]["dropout"])


def batches(n_docs: int, batch_words: int, lengths: List[int], seed: int) -> List[List[int]]:
    """Doc indices of shuffled batches of about `batch_words` words (spaCy's batch_by_words, by index)."""
    order = list(range(n_docs))
    random.Random(seed).shuffle(order)
    batcher: Callable = registry.batchers.get("spacy.batch_by_words.v1")(
        size=batch_words, tolerance=0.2, discard_oversize=False, get_length=lambda i: lengths[i]
    )
    return [list(batch) for batch in batcher(order)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder (README there)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per row")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per row first")
    parser.add_argument("--batch-words", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--encoder", default=None, help="default: all-MiniLM-L6-v2 from its PyPI package")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bucket-rows", type=int, default=None, help="cot_ner model.bucket_rows (default: the config's)")
    parser.add_argument("--teacher-max-length", type=int, default=None, help="cot_ner teacher_max_length (default: the config's)")
    parser.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    encoder = args.encoder or str(PACKAGED["all-MiniLM-L6-v2"]())
    rows = args.rows.split(",")
    cot_overrides: Dict[str, Any] = {}
    if args.bucket_rows is not None:
        cot_overrides["components.cot_ner.model.bucket_rows"] = args.bucket_rows
    if args.teacher_max_length is not None:
        cot_overrides["components.cot_ner.teacher_max_length"] = args.teacher_max_length
    built = {row: build(row, encoder, args.data, args.seed, cot_overrides) for row in rows}
    n_docs = len(next(iter(built.values()))[2])
    lengths = [len(eg.reference) for eg in next(iter(built.values()))[2]]
    plan = batches(n_docs, args.batch_words, lengths, args.seed)
    plan = [plan[i % len(plan)] for i in range(args.warmup + args.steps)]
    if "two-stage" in built:  # what `cot-distill teach` stores, on the docs of the planned batches
        nlp, _, examples, _ = built["two-stage"]
        used = sorted({i for batch in plan for i in batch})
        store_teacher_distributions(nlp.get_pipe("cot_ner"), [examples[i].reference for i in used])
    load_before = os.getloadavg()
    seconds: Dict[str, List[float]] = {row: [] for row in rows}
    start = time.time()
    for step, batch in enumerate(plan):
        for k in range(len(rows)):
            row = rows[(step + k) % len(rows)]
            nlp, optimizer, examples, dropout = built[row]
            begin = time.perf_counter()
            nlp.update([examples[i] for i in batch], sgd=optimizer, drop=dropout)
            if step >= args.warmup:
                seconds[row].append(time.perf_counter() - begin)
    load_after = os.getloadavg()
    stock = statistics.mean(seconds["stock"]) if "stock" in seconds else None
    words = statistics.mean(sum(lengths[i] for i in batch) for batch in plan[args.warmup :])
    lines = [
        f"Twitter-2017 train, {args.steps} timed steps per row after {args.warmup} of warm-up, batches of "
        f"{args.batch_words} words (mean {words:.0f}), torch threads {args.threads}, {os.cpu_count()} CPUs "
        f"({platform.processor() or platform.machine()}), cot_ner overrides {cot_overrides or 'none'}, load average before {load_before[0]:.1f} / after "
        f"{load_after[0]:.1f} (1 min), wall {time.time() - start:.0f} s, spaCy {spacy.__version__}, torch {torch.__version__}",
        "",
        "| row | s/step mean | s/step median | x stock |",
        "|---|---|---|---|",
    ]
    for row in rows:
        mean = statistics.mean(seconds[row])
        ratio = f"{mean / stock:.2f}" if stock else "-"
        lines.append(f"| {row} ({ROWS[row][0]}) | {mean:.2f} | {statistics.median(seconds[row]):.2f} | {ratio} |")
    text = "\n".join(lines)
    print(text)
    if args.record:
        results = ROOT / "benchmarks" / "RESULTS.md"
        old = results.read_text(encoding="utf-8") if results.exists() else ""
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        write_file(results, old.rstrip("\n") + f"\n\n### Step cost ({stamp}, `benchmarks/step_cost.py`)\n\n{text}\n")


if __name__ == "__main__":
    main()

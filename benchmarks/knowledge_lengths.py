"""How long the teacher's input is: sub-tokens of text + caption + knowledge per training doc (RESULTS.md, "Teacher length").

For each Twitter train split and knowledge source, the length of the teacher
view of a whole tweet, `[CLS] text [SEP] caption [SEP] knowledge [SEP]` (the
ChatGPT answer, or the Qwen dimensions multimodal, noun, sentence joined by
[SEP]), as `cot_ner` builds it with the all-MiniLM-L6-v2 tokenizer; and the
share of docs whose knowledge opens with "Named entities:" and holds a
"Reasoning:" section (what `answer_sections` reorders). `teacher_max_length`'s
default is chosen from the 90th percentile (capped at the encoder's 512 positions).

  python -m benchmarks.knowledge_lengths --data ../shared/data
"""
import argparse
import statistics
from pathlib import Path
from typing import Dict, List

from spacy.vocab import Vocab

from spacy_cot_distill.data.knowledge import attach_captions, attach_knowledge, read_captions, read_knowledge
from spacy_cot_distill.data.twitter import read_twitter
from spacy_cot_distill.models.views import knowledge_ids, word_pieces
from spacy_cot_distill.packaged_encoders import PACKAGED

from benchmarks.results import KNOWLEDGE_SOURCES, YEAR

PERCENTILES = (50, 75, 90, 95, 99)


def percentile(values: List[int], q: int) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-q * len(ordered) // 100) - 1))]


def lengths(data: Path, dataset: str, source: str, tokenizer) -> Dict[str, List[int]]:
    """Per doc with knowledge: sub-tokens of the text, the caption, the knowledge, and the whole teacher input."""
    folder, dim = KNOWLEDGE_SOURCES[source]
    records = read_knowledge(data / "knowledge" / folder / f"{dataset}_train.jsonl", dim)
    docs = read_twitter(data / dataset / "train.txt", Vocab())
    docs = attach_captions(docs, read_captions(data / "captions" / f"BLIP2_{YEAR[dataset]}_train_valid.txt"))
    out: Dict[str, List[int]] = {"text": [], "caption": [], "knowledge": [], "total": [], "sectioned": []}
    for doc in attach_knowledge(docs, records):
        cot = doc._.cot
        # every dimension in sorted order, as cot_ner's teacher reads them by default (cot_dims = null)
        answers = [cot[d] for d in sorted(cot) if cot.get(d)]
        if not answers:
            continue
        text = sum(len(p) for p in word_pieces(tokenizer, [t.text for t in doc]))
        caption = len(knowledge_ids(tokenizer, [doc._.caption])) if doc._.caption else 0
        known = len(knowledge_ids(tokenizer, answers))
        out["text"].append(text)
        out["caption"].append(caption)
        out["knowledge"].append(known)
        # [CLS] text [SEP] caption [SEP] knowledge [SEP]
        out["total"].append(text + 2 + (caption + 1 if caption else 0) + known + 1)
        joined = " ".join(answers)
        out["sectioned"].append(int(joined.lstrip().startswith("Named entities:") and "Reasoning:" in joined))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder (README there)")
    args = parser.parse_args()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(PACKAGED["all-MiniLM-L6-v2"]()))
    head = " | ".join(f"p{q}" for q in PERCENTILES)
    print(f"| train split | knowledge | docs | text p50 | caption p50 | knowledge p50 | total {head} | max | sectioned |")
    print("|---" * (8 + len(PERCENTILES)) + "|")
    totals: List[int] = []
    for dataset in YEAR:
        for source in KNOWLEDGE_SOURCES:
            out = lengths(args.data, dataset, source, tokenizer)
            totals.extend(out["total"])
            cells = " | ".join(str(percentile(out["total"], q)) for q in PERCENTILES)
            print(
                f"| {dataset} | {source} | {len(out['total'])} | {statistics.median(out['text']):.0f} | "
                f"{statistics.median(out['caption']):.0f} | {statistics.median(out['knowledge']):.0f} | {cells} | "
                f"{max(out['total'])} | {100 * sum(out['sectioned']) / len(out['sectioned']):.0f}% |"
            )
    print(f"\nall four: p90 = {percentile(totals, 90)}, p95 = {percentile(totals, 95)} sub-tokens")


if __name__ == "__main__":
    main()

"""Small corpora written for the tests in the real formats of ../shared/data (see its README), with none of its text.

`write_corpora(root)` lays them out as ../shared/data is laid out, so the same checks and the same project
workflows run on either. The tweets and sentences are synthetic (invented names, templates), deterministic:

- `twitter2015|twitter2017/{train,valid}.txt`: an `IMGID:` line, `token<TAB>tag` lines, a blank line between
  tweets, none after the last. Twitter-2015's types are PER LOC ORG OTHER and some of its entities start with
  `I-` (after `O`, or right after an entity of another type), as in the real files; Twitter-2017's are PER LOC ORG MISC.
- `captions/BLIP2_{15,17}_train_valid.txt`: `<imgid>.jpg :<caption>` for both splits, no newline after the last
  line; the last tweet of each valid split has no caption.
- `knowledge/chatgpt-pgim/twitter20{15,17}_{train,valid}.jsonl`: `{"idx", "imgid", "tokens", "knowledge"}`, one a
  tweet; the last Twitter-2015 tweet of each split was never answered (`"knowledge": null`).
- `knowledge/qwen2.5-coder-1.5b/twitter20{15,17}_{train,valid}.jsonl`: `{"imgid", "tokens", "cot": {noun, sentence,
  multimodal}, "truncated"}` one a tweet; `mnre_{train,dev}.jsonl`: `{"tokens", "cot": {sentence, noun},
  "truncated"}` one per distinct sentence.
- `mnre/{train,dev}.txt`: one Python dict literal a line (`repr`, so single quotes); a sentence appears on one
  line per head/tail pair, `None` included, and once apart from its other lines; two sentences share an image;
  train has one (sentence, head, tail) labelled twice with two labels.

`python tests/corpora.py DIR` writes them to DIR to read.
"""
import json
import random
import sys
from pathlib import Path
from typing import Dict, List, Tuple

PEOPLE = ["Ada Brightwater", "Ravi Okonkwo", "Mila Stroud", "Tobias Fenn", "Yara Delacroix", "Kofi Adjei",
          "Lena Marsh", "Iker Solano", "Noor Haddad", "Bram Visser", "Suki Tanabe", "Odette Lune"]
ORGS = ["Eastgate Rovers", "Tinfoil Labs", "Copperline Transit", "Kestrel Records", "Marigold Bank", "Northstar Athletic"]
PLACES = ["Port Avalon", "Lakemoor", "Brindle Bay", "Harrowgate", "Silverton", "Elmsworth"]
EVENTS = ["Glowfest", "Harbour Cup", "Pixel Expo", "Starlight Awards", "Maple Marathon"]
HANDLES = ["@brindlenews", "@kestrelfans", "@morningwire", "@lakemoorlive"]
EMOJI = ["😂", "🔥", "😍", "🙌"]
CAPTIONS = ["a man in a suit speaking at a podium", "a crowd of people at a concert at night",
            "two football players on a field", "a woman holding a trophy on a stage",
            "a city street with buses and people", "a dog sitting on a couch"]
# slots: P, P2 person, O org, L place, M misc; H handle, U link, E emoji (not entities)
TWEETS = [
    "RT H : P joins O ahead of the new season U",
    "P and P2 spotted in L last night E",
    "# M kicks off in L this weekend !",
    "O opens its first store in L # retail",
    "Can't wait to see P at the M E",
    "H : Storm warning for L tonight , stay safe",
    "lol my dog just stole my sandwich E",
    "P : \" Proud to play for O \" U",
    "Go L O ! What a win E",
]
KINDS = {"PER": "person", "LOC": "location", "ORG": "organization", "MISC": "other", "OTHER": "other"}
TYPES = {"P": ("PER", PEOPLE), "P2": ("PER", PEOPLE), "O": ("ORG", ORGS), "L": ("LOC", PLACES), "M": ("MISC", EVENTS)}
# MNRE: (template, [(head slot, tail slot, label)]); every other ordered pair of slots is a 'None' line
SENTENCES = [
    ("RT H : P signs a new deal with O U", [("P", "O", "/per/org/member_of")]),
    ("L 's mayor P opens the M today", [("P", "L", "/per/loc/place_of_residence"), ("P", "M", "/per/misc/present_in")]),
    ("O moves its offices to L", [("O", "L", "/org/loc/locate_at")]),
    ("P and P2 share the stage at the M E", [("P", "P2", "/per/per/peer")]),
    ("P wins the M in L", [("P", "M", "/per/misc/awarded"), ("M", "L", "/misc/loc/held_on")]),
]


def _link(rng: random.Random) -> str:
    return "http://t.co/" + "".join(rng.choice("abcdefghijkmnpqrstuvwxyzABCDEFGH23456789") for _ in range(10))


def _fill(rng: random.Random, template: str) -> Tuple[List[str], Dict[str, Tuple[int, int, str]]]:
    """The template's tokens with its slots filled, and {slot: (start, end, type)}."""
    tokens: List[str] = []
    spans: Dict[str, Tuple[int, int, str]] = {}
    for slot in template.split():
        if slot in TYPES:
            label, pool = TYPES[slot]
            name = rng.choice([n for n in pool if all(n != " ".join(tokens[s:e]) for s, e, _ in spans.values())])
            spans[slot] = (len(tokens), len(tokens) + len(name.split()), label)
            tokens.extend(name.split())
        else:
            tokens.append({"H": lambda: rng.choice(HANDLES), "U": lambda: _link(rng), "E": lambda: rng.choice(EMOJI)}
                          .get(slot, lambda: slot)())
    return tokens, spans


def _tweets(rng: random.Random, year: str, n: int, first_id: int) -> List[dict]:
    tweets = []
    for i in range(n):
        tokens, spans = _fill(rng, TWEETS[i % len(TWEETS)])
        tags = ["O"] * len(tokens)
        for k, (start, end, label) in enumerate(sorted(spans.values())):
            label = "OTHER" if year == "15" and label == "MISC" else label
            # Twitter-2015's quirk: an entity whose first tag is I-, after O (every fifth) or right after another entity
            stray = (i + k) % 5 == 0 or (k > 0 and start == sorted(spans.values())[k - 1][1])
            first = "I" if year == "15" and stray else "B"
            tags[start:end] = [f"{first}-{label}"] + [f"I-{label}"] * (end - start - 1)
        imgid = str(first_id + 37 * i) if year == "15" else f"{year}_0{1 + i % 9}_{first_id + i}"
        tweets.append({"imgid": imgid, "tokens": tokens, "tags": tags, "caption": rng.choice(CAPTIONS)})
    return tweets


def _jsonl(path: Path, rows: List[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def _names(tokens: List[str], spans) -> List[str]:
    return [" ".join(tokens[start:end]) for start, end, _ in sorted(spans)]


def _write_twitter(root: Path, year: str, sizes: Dict[str, int]) -> None:
    dataset = f"twitter20{year}"
    rng = random.Random(int(year))
    captions = []
    for split, n in sizes.items():
        tweets = _tweets(rng, year, n, first_id=70000 if split == "train" else 90000)
        path = root / dataset / f"{split}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        blocks = ["\n".join([f"IMGID:{t['imgid']}"] + [f"{w}\t{tag}" for w, tag in zip(t["tokens"], t["tags"])])
                  for t in tweets]
        path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
        captions += [f"{t['imgid']}.jpg :{t['caption']}" for t in (tweets[:-1] if split == "valid" else tweets)]
        chatgpt, qwen = [], []
        for i, t in enumerate(tweets):
            spans = {(s, e, tag[2:]) for s, e, tag in _entity_spans(t["tags"])}
            names = _names(t["tokens"], spans)
            listed = "".join(f"{k}. {name} ({KINDS[label]})" for k, (name, (_, _, label)) in
                             enumerate(zip(names, sorted(spans)), 1))
            answer = f"Named entities:{listed or 'None'}Reasoning:The tweet is about {' and '.join(names) or 'daily life'}."
            unanswered = year == "15" and i == len(tweets) - 1
            chatgpt.append({"idx": i, "imgid": t["imgid"], "tokens": t["tokens"], "knowledge": None if unanswered else answer})
            text = " ".join(t["tokens"])
            qwen.append({"imgid": t["imgid"], "tokens": t["tokens"], "cot": {
                "noun": f"The words {', '.join(repr(n) for n in names) or 'here'} name people, places or groups.",
                "sentence": f"The sentence \"{text}\" is a short post on social media.",
                "multimodal": f"The text and the image are related: the image shows {t['caption']}.",
            }, "truncated": ["noun"] if i % 7 == 3 else []})
        _jsonl(root / "knowledge/chatgpt-pgim" / f"{dataset}_{split}.jsonl", chatgpt)
        _jsonl(root / "knowledge/qwen2.5-coder-1.5b" / f"{dataset}_{split}.jsonl", qwen)
    (root / "captions").mkdir(parents=True, exist_ok=True)
    (root / "captions" / f"BLIP2_{year}_train_valid.txt").write_text("\n".join(captions), encoding="utf-8")


def _entity_spans(tags: List[str]) -> List[Tuple[int, int, str]]:
    """(start, end, first tag) of each entity, a stray I- opening one (seqeval's convention)."""
    spans: List[Tuple[int, int, str]] = []
    for i, tag in enumerate(tags):
        if tag != "O" and (tag.startswith("B-") or i == 0 or tags[i - 1][2:] != tag[2:]):
            spans.append((i, i + 1, tag))
        elif tag != "O":
            spans[-1] = (spans[-1][0], i + 1, spans[-1][2])
    return spans


def _write_mnre(root: Path) -> None:
    rng = random.Random(7)
    for split, n in (("train", 10), ("dev", 5)):
        lines, knowledge, apart, images = [], [], None, []
        for i in range(n):
            template, relations = SENTENCES[i % len(SENTENCES)]
            tokens, spans = _fill(rng, template)
            # two sentences of each split share an image, as a few MNRE images do
            images.append(images[-1] if i == 3 else f"twitter_stream_2019_0{1 + i % 9}_{10 + i}_{i % 24}_0_2_{100 + i}.jpg")
            named = {(h, t): label for h, t, label in relations}
            pairs = [(h, t, named.get((h, t), "None")) for h in spans for t in spans if h != t]
            if split == "train" and i == 1:  # the data's own disagreement: one pair with two labels
                pairs.append((relations[0][0], relations[0][1], "/per/loc/place_of_birth"))
            records = [repr({"token": tokens,
                             "h": {"name": " ".join(tokens[spans[h][0]:spans[h][1]]), "pos": list(spans[h][:2])},
                             "t": {"name": " ".join(tokens[spans[t][0]:spans[t][1]]), "pos": list(spans[t][:2])},
                             "img_id": images[-1], "relation": label}) for h, t, label in pairs]
            if i == 0:  # one line of this sentence comes later in the file, apart from the others
                apart = records.pop()
            lines += records
            knowledge.append({"tokens": tokens, "cot": {
                "sentence": f"The sentence \"{' '.join(tokens)}\" reports news about {', '.join(_names(tokens, spans.values()))}.",
                "noun": f"{_names(tokens, spans.values())[0]} is a name in the news.",
            }, "truncated": []})
        lines.append(apart)
        path = root / "mnre" / f"{split}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        _jsonl(root / "knowledge/qwen2.5-coder-1.5b" / f"mnre_{split}.jsonl", knowledge)


def write_corpora(root: Path) -> Path:
    """Write the synthetic corpora under `root`, laid out as ../shared/data; returns `root`."""
    root = Path(root)
    _write_twitter(root, "15", {"train": 16, "valid": 8})
    _write_twitter(root, "17", {"train": 24, "valid": 12})
    _write_mnre(root)
    return root


if __name__ == "__main__":
    print(write_corpora(Path(sys.argv[1])))

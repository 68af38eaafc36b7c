"""Write the demo corpus: synthetic tweets made for this project (no Twitter data), with entities and relations.

Run `python demo/make_corpus.py` to regenerate demo/data/{train,dev}.jsonl; the output is deterministic.
"""
import json
import random
from pathlib import Path

PEOPLE = ["Maya Okafor", "Lucas Brandt", "Priya Raman", "Tom Ashby", "Elena Voss", "Kwame Mensah", "Sofia Reyes",
          "Jonas Lindqvist", "Aiko Tanaka", "Daniel Hart", "Nadia Karim", "Oliver Quinn", "Chloe Martin",
          "Mateo Silva", "Grace Liu", "Samuel Adeyemi", "Hannah Becker", "Leo Moreau", "Zara Patel", "Finn Walsh"]
ORGS = ["Riverside FC", "Northwind Labs", "Bluewave Records", "Harbor City Council", "Apex Motors",
        "Greenfield University", "Solstice Media", "Ironbridge United", "Crescent Bank", "Lumen Health"]
PLACES = ["London", "Lagos", "Berlin", "Toronto", "Mumbai", "Melbourne", "Nairobi", "Lisbon", "Seattle", "Osaka",
          "Dublin", "Cape Town"]
EVENTS = ["Harbor Jazz Festival", "Nova Cup", "Summer Tech Summit", "City Marathon", "Golden Reel Awards",
          "Winter Games", "Open Data Week", "Spring Book Fair"]
HANDLES = ["@dailybuzz", "@sportsdesk", "@citynews", "@musicfeed", "@techwire", "@localpost"]

# (template, relations between slots); slots: P, P2 person, O org, L place, M misc; H a handle (not an entity)
TEMPLATES = [
    ("RT H : P just signed with O ! Huge news for the fans #transfer", [("P", "O", "/per/org/member_of")]),
    ("P scores twice as O beat rivals in L tonight", [("P", "O", "/per/org/member_of"), ("O", "L", "/org/loc/locate_at")]),
    ("Live from the M in L : P on stage now ! http://t.co/x7", [("P", "M", "/per/misc/present_in"), ("M", "L", "/misc/loc/held_on")]),
    ("P and P2 together again at the M # throwback", [("P", "P2", "/per/per/peer")]),
    ("O opens a new office in L , says CEO P", [("O", "L", "/org/loc/locate_at"), ("P", "O", "/per/org/member_of")]),
    ("Congrats to P , who grew up in L , for winning the M !", [("P", "L", "/per/loc/place_of_residence"), ("P", "M", "/per/misc/awarded")]),
    ("Traffic chaos in L as the M starts this morning", [("M", "L", "/misc/loc/held_on")]),
    ("H : O announces record profits , shares up 4 %", []),
    ("Can't believe P missed the M this year :(", [("P", "M", "/per/misc/present_in")]),
    ("Heading to L for the weekend , who else is going ? # travel", []),
    ("P joins O as head coach after three seasons in L", [("P", "O", "/per/org/member_of")]),
    ("new episode with P out now on O ! link in bio", [("P", "O", "/per/org/member_of")]),
    ("Rain all day in L . Perfect weather for staying in", []),
    ("P : \" Playing in L with O means everything \"", [("P", "O", "/per/org/member_of"), ("O", "L", "/org/loc/locate_at")]),
    ("Who wins the M ? P or P2 ? Vote now H", [("P", "P2", "/per/per/peer")]),
    ("lol my cat thinks she is the boss of this house", []),
]
TYPES = {"P": ("PER", PEOPLE), "P2": ("PER", PEOPLE), "O": ("ORG", ORGS), "L": ("LOC", PLACES), "M": ("MISC", EVENTS)}


def make_tweet(rng: random.Random, template: str, relations, index: int) -> dict:
    tokens, spans, chosen = [], {}, set()
    for slot in template.split():
        if slot == "H":
            tokens.append(rng.choice(HANDLES))
        elif slot in TYPES:
            label, pool = TYPES[slot]
            name = rng.choice([n for n in pool if n not in chosen])
            chosen.add(name)
            spans[slot] = (len(tokens), len(tokens) + len(name.split()), label)
            tokens.extend(name.split())
        else:
            tokens.append(slot)
    slots = list(spans)
    return {
        "id": f"demo-{index:04d}",
        "tokens": tokens,
        "entities": [{"start": s, "end": e, "label": label} for s, e, label in spans.values()],
        "relations": [{"head": slots.index(h), "tail": slots.index(t), "label": lab} for h, t, lab in relations],
    }


def main(out_dir: Path = Path(__file__).parent / "data", n_train: int = 160, n_dev: int = 40, seed: int = 0) -> None:
    rng = random.Random(seed)
    tweets = [make_tweet(rng, *TEMPLATES[i % len(TEMPLATES)], i) for i in range(n_train + n_dev)]
    rng.shuffle(tweets)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", tweets[:n_train]), ("dev", tweets[n_train:])):
        with (out_dir / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(t, ensure_ascii=False) + "\n" for t in part)


if __name__ == "__main__":
    main()

"""The workflows' last step: install the packaged pipeline, load it by name offline, and print what it finds.

python scripts/smoke.py PACKAGE_DIR PACKAGE_NAME OURS.json [BASELINE.json]
"""
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

from wasabi import msg

SAMPLE = "Maya Okafor scores twice as Riverside FC beat rivals in Lisbon tonight , next stop the Nova Cup"
LOAD = """
import json, sys, spacy
nlp = spacy.load(sys.argv[1])
doc = nlp(sys.argv[2])
assert "openai" not in sys.modules, "loading the pipeline imported openai"
print(json.dumps({"pipeline": nlp.pipe_names,
                  "entities": [(e.text, e.label_) for e in doc.ents],
                  "relations": [(doc[r["head"][0]:r["head"][1]].text, r["label"], doc[r["tail"][0]:r["tail"][1]].text,
                                 round(r["score"], 2)) for r in doc._.relations]}))
"""


def main(package_dir: str, name: str, ours: str, baseline: Optional[str] = None) -> None:
    wheel = next(Path(package_dir).glob(f"dist/{name}-*.whl"))  # the plugin's wheel lies beside it
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)], check=True)
    # a fresh process with the hub switched off: the pipeline must need nothing but the installed packages
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("OPENAI_API_KEY", None)
    out = subprocess.run([sys.executable, "-c", LOAD, name, SAMPLE], check=True, capture_output=True, text=True, env=env)
    found = json.loads(out.stdout)

    scores = {"distilled (ours)": json.loads(Path(ours).read_text())}
    if baseline is not None:
        scores["baseline"] = json.loads(Path(baseline).read_text())
    msg.divider("Evaluation (text only), same encoder, data and budget" if baseline is not None else "Evaluation (text only)")
    columns = [("ents P", "ents_p"), ("ents R", "ents_r"), ("ents F", "ents_f")]
    if any("rel_micro_f" in s for s in scores.values()):
        columns += [("rel P", "rel_micro_p"), ("rel R", "rel_micro_r"), ("rel F", "rel_micro_f")]
    rows = [(label, *(f"{s.get(key, 0) * 100:.1f}" for _, key in columns)) for label, s in scores.items()]
    msg.table(rows, header=("pipeline", *(name for name, _ in columns)), aligns=("l",) + ("r",) * len(columns))
    msg.good(f"Package written to {wheel.resolve()} and installed as '{name}'")
    msg.text(f"spacy.load('{name}') -> pipeline {found['pipeline']}, no LLM, image or knowledge")
    msg.text(f"Text: {SAMPLE}")
    msg.table(found["entities"] or [("(none)", "")], header=("entity", "label"))
    if found["relations"]:
        msg.table(found["relations"], header=("head", "relation", "tail", "score"))


if __name__ == "__main__":
    main(*sys.argv[1:])

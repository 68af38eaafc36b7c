"""The `few-labels` workflow of project.yml end to end: a small labelled JSONL, a larger unlabelled one and a dev
JSONL, a real OpenAI-compatible server on loopback, the tiny encoder and a few training steps, to the packaged
pipeline, loaded by name and run on text alone. Then `few_silver` true: a dry run of the workflow skips the steps
before the silver one (nothing changed) and reruns the rest, the LLM labels the unlabelled posts, and they train as
gold.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import spacy
from spacy.util import load_config

from llm_server import LLMServer, user_text
from spacy_cot_distill.data.docbin import read_docs
from spacy_cot_distill.data.silver import silver_spans
from spacy_cot_distill.data.spans import entities_missing
from workflows import SECRET, copy_project

N_GOLD, N_UNLABELLED, N_DEV = 10, 30, 10
LABELS = "PER,LOC,ORG,MISC"
LOAD = """
import json, sys, spacy
nlp = spacy.load(sys.argv[1])
docs = [nlp(text) for text in sys.argv[2:]]
assert "openai" not in sys.modules, "loading or running the pipeline imported openai"
print(json.dumps({"pipeline": nlp.pipe_names, "cot": [doc._.cot for doc in docs],
                  "entities": [[(e.start, e.end, e.label_) for e in doc.ents] for doc in docs]}))
"""


def write_jsonl(path: Path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf8")


def user_files(project: Path, data: Path):
    """The demo's tweets as a user's files: gold (tokens and entities), raw (tokens alone: their entities hidden,
    returned by text for the LLM to find) and dev."""
    train = [json.loads(line) for line in (project / "demo/data/train.jsonl").read_text(encoding="utf8").splitlines()]
    dev = [json.loads(line) for line in (project / "demo/data/dev.jsonl").read_text(encoding="utf8").splitlines()]
    write_jsonl(data / "gold.jsonl", [{k: r[k] for k in ("id", "tokens", "entities")} for r in train[:N_GOLD]])
    raw = train[N_GOLD:N_GOLD + N_UNLABELLED]
    write_jsonl(data / "raw.jsonl", [{k: r[k] for k in ("id", "tokens")} for r in raw])
    write_jsonl(data / "dev.jsonl", [{k: r[k] for k in ("id", "tokens", "entities")} for r in dev[:N_DEV]])
    hidden = {" ".join(r["tokens"]): [(e["start"], e["end"], e["label"]) for e in r["entities"]] for r in raw}
    return hidden, [" ".join(r["tokens"]) for r in dev[:3]]


def project_run(project: Path, env, name: str, *variables: str) -> str:
    """`spacy project run NAME` in `project`: its output, whitespace collapsed."""
    run = subprocess.run([sys.executable, "-m", "spacy", "project", "run", name, ".", *variables],
                         cwd=project, env=env, capture_output=True, text=True)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-5000:]
    return " ".join(out.split())


def test_few_labels_workflow_to_a_packaged_pipeline_then_with_silver(tiny_encoder, tmp_path):
    project = copy_project(tmp_path / "project")
    data = tmp_path / "data"
    hidden, texts = user_files(project, data)

    def silver_answer(messages, fmt):
        """A model that knows the hidden entities of the raw post it is asked about."""
        text = user_text(messages).split("Text: ", 1)[1].strip()
        tokens = text.split(" ")
        return json.dumps({"entities": [{"text": " ".join(tokens[s:e]), "label": label} for s, e, label in hidden[text]]})

    server = LLMServer().start()
    server.structured_answer = silver_answer
    env = {**os.environ, "OPENAI_API_KEY": SECRET, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "SPACY_CONFIG_OVERRIDES": "--training.batcher.size 100"}
    variables = ["--vars.few_train", str(data / "gold.jsonl"), "--vars.few_unlabelled", str(data / "raw.jsonl"),
                 "--vars.few_dev", str(data / "dev.jsonl"), "--vars.encoder", str(tiny_encoder),
                 "--vars.llm_model", "test-model", "--vars.llm_base_url", server.base_url, "--vars.few_labels", LABELS,
                 "--vars.few_steps", "4", "--vars.few_eval_frequency", "2",
                 "--vars.few_package", "cot_few_ci", "--vars.few_version", "0.0.1"]
    try:
        out = project_run(project, env, "few-labels", *variables)
        asked = server.counts["chat"]
        silver_on = [*variables, "--vars.few_silver", "true"]
        plan = project_run(project, env, "few-labels", *silver_on, "--dry")
        project_run(project, env, "few-silver", *silver_on)
        project_run(project, env, "few-train", *silver_on)
    finally:
        server.stop()
    corpus = project / "corpus/few"

    # the knowledge: every gold and raw post has both dimensions, the raw ones stay unlabelled
    gold, raw = read_docs(corpus / "train.spacy"), read_docs(corpus / "unlabelled.spacy")
    assert len(gold) == N_GOLD and len(raw) == N_UNLABELLED
    assert all(doc.ents for doc in gold) and all(entities_missing(doc) and not doc.ents for doc in raw)
    assert all(set(doc._.cot) == {"noun", "sentence"} for doc in gold + raw)
    assert 0 < asked <= 2 * (N_GOLD + N_UNLABELLED)  # each distinct prompt once, through the cache

    # the recipe: joint distillation, the raw posts as half of each batch's words, read on every epoch, no silver
    config = load_config(project / "training/few/cot_ner/model-best/config.cfg")
    assert config["paths"]["unlabelled"] == "corpus/few/unlabelled_train.spacy"
    assert config["corpora"]["train"]["unlabelled_share"] == 0.5
    assert config["training"]["max_epochs"] == -1 and config["training"]["max_steps"] == 4
    assert config["components"]["cot_ner"]["distill_from"] == "joint" and config["components"]["cot_ner"]["distill"]
    assert "few_silver is false: no silver labels" in out
    scores = json.loads((project / "metrics/few/cot_ner.json").read_text())
    assert {"ents_p", "ents_r", "ents_f", "ents_per_type"} <= set(scores)
    assert "installed as 'en_cot_few_ci'" in out and "Package written to" in out

    # the package: loaded by name in a fresh process, no key, no hub, no server; text in, entities out, no knowledge
    # asked for; it annotates as the trained pipeline does
    clean = {k: v for k, v in env.items() if k not in ("OPENAI_API_KEY", "SPACY_CONFIG_OVERRIDES")}
    load = subprocess.run([sys.executable, "-c", LOAD, "en_cot_few_ci", *texts], env=clean, cwd=tmp_path,
                          capture_output=True, text=True)
    assert load.returncode == 0, load.stderr[-3000:]
    found = json.loads(load.stdout)
    assert found["pipeline"] == ["cot_ner"] and found["cot"] == [{}] * len(texts)
    trained = spacy.load(project / "training/few/cot_ner/model-best")
    assert found["entities"] == [[[e.start, e.end, e.label_] for e in trained(text).ents] for text in texts]
    assert set(trained.get_pipe("cot_ner").labels) == set(LABELS.split(","))

    # few_silver true: conversion and knowledge skipped (nothing changed), silver and training run again (a dry run
    # cannot know that the later steps will: their inputs change only when training runs); one silver request per
    # raw post
    assert all(f"Skipping '{step}': nothing changed" in plan for step in ("few-gold", "few-dev", "few-unlabelled"))
    assert all(f"Skipping '{step}'" not in plan for step in ("few-silver", "few-train"))
    assert "scripts/few_silver.py true" in plan and "--corpora.train.silver_as_gold true" in plan
    assert server.counts["chat"] - asked == len(hidden)
    silver = read_docs(corpus / "unlabelled_train.spacy")
    assert all(entities_missing(doc) for doc in silver)  # silver apart from gold
    for doc in silver:
        assert set(hidden[doc.text.strip()]) <= {(s.start, s.end, s.label_) for s in silver_spans(doc) or []}, doc.text
    config = load_config(project / "training/few/cot_ner/model-best/config.cfg")
    assert config["corpora"]["train"]["silver_as_gold"] is True

    # the key came from the environment only: no file the runs wrote holds it (lock, cache, meta, configs, logs)
    leaks = [p for p in project.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert not leaks, leaks

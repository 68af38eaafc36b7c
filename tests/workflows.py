"""The data workflows of project.yml, run for real on a few Twitter-2017 tweets with a tiny encoder.

`all-llm` asks a real OpenAI-compatible server on loopback for knowledge and augmentations, trains the
distilled model and the baseline (a few steps, through SPACY_CONFIG_OVERRIDES), evaluates, packages and
smoke-tests the installed wheel; `import-knowledge` (the `all` workflow's knowledge step) reads a published file.
The default suite runs it on the synthetic corpora, the real-data suite on the real tweets.
"""
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import spacy
from spacy.tokens import DocBin

import spacy_cot_distill  # noqa: F401  (doc extensions)
from llm_server import LLMServer, user_text

ROOT = Path(__file__).resolve().parents[1]
SECRET = f"sk-test-{uuid.uuid4().hex}"


def copy_project(project: Path) -> Path:
    """A copy of the project's tracked files at `project`, to run its workflows in."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, project / name)
    return project


def first_tweets(src: Path, dst: Path, n: int) -> None:
    """The first `n` tweets of a Twitter CoNLL file (blocks separated by blank lines)."""
    blocks = src.read_text(encoding="utf8").split("\n\n")[:n]
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("\n\n".join(blocks) + "\n\n", encoding="utf8")


def small_data_dir(source: Path, data: Path) -> None:
    """`source`'s layout (../shared/data's) with 24 train and 12 valid tweets (captions and knowledge files whole)."""
    first_tweets(source / "twitter2017/train.txt", data / "twitter2017/train.txt", 24)
    first_tweets(source / "twitter2017/valid.txt", data / "twitter2017/valid.txt", 12)
    for name in ("captions/BLIP2_17_train_valid.txt", "knowledge/chatgpt-pgim/twitter2017_train.jsonl"):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / name, data / name)


def answer(messages) -> str:
    text = user_text(messages)
    if "Whether the sentence is possible in fact" in text:
        return "Yes."
    return f"Answer: {text.splitlines()[-1]}"


def check_all_llm_then_import_knowledge(source: Path, tmp_path: Path, encoder: Path) -> None:
    """`all-llm`, then `import-knowledge` of the ChatGPT file, in a copy of the project on 24 + 12 tweets of `source`."""
    project = copy_project(tmp_path / "project")
    data = tmp_path / "data"
    small_data_dir(source, data)
    server = LLMServer().start()
    server.answer = answer
    env = {**os.environ, "OPENAI_API_KEY": SECRET, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "SPACY_CONFIG_OVERRIDES": "--training.max_steps 3 --training.eval_frequency 3 --training.batcher.size 200"}
    variables = ["--vars.data_dir", str(data), "--vars.encoder", str(encoder), "--vars.llm_model", "test-model",
                 "--vars.llm_base_url", server.base_url, "--vars.version", "0.0.1"]
    try:
        run = subprocess.run([sys.executable, "-m", "spacy", "project", "run", "all-llm", ".", *variables],
                             cwd=project, env=env, capture_output=True, text=True)
    finally:
        server.stop()
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-5000:]
    corpus = project / "corpus/twitter2017"
    vocab = spacy.blank("en").vocab
    train = list(DocBin().from_disk(corpus / "train.spacy").get_docs(vocab))
    assert len(train) == 24 and all(set(doc._.cot) == {"noun", "sentence"} for doc in train)
    augmented = list(DocBin().from_disk(corpus / "augmented/train_aug.spacy").get_docs(vocab))
    kinds = {doc._.augmented_from["kind"] for doc in augmented}
    assert {"entity", "image"} <= kinds, kinds
    assert all(set(doc._.cot) == {"noun", "sentence"} for doc in augmented)
    assert server.counts["chat"] >= 2 * 24 + len(augmented)
    for name in ("cot_ner", "baseline"):
        scores = json.loads((project / f"metrics/twitter2017/{name}.json").read_text())
        assert {"ents_p", "ents_r", "ents_f", "ents_per_type"} <= set(scores), name
    assert "installed as 'en_cot_twitter2017'" in out and "Package written to" in out
    leaks = [p for p in project.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert not leaks, leaks

    # the `all` workflow's knowledge step: the published ChatGPT knowledge, no LLM
    run = subprocess.run([sys.executable, "-m", "spacy", "project", "run", "import-knowledge", ".", *variables,
                          "--vars.knowledge", "chatgpt-pgim", "--vars.knowledge_dim", "chatgpt"],
                         cwd=project, env=env, capture_output=True, text=True)
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    train = list(DocBin().from_disk(corpus / "train.spacy").get_docs(vocab))
    assert len(train) == 24 and all(set(doc._.cot) == {"chatgpt"} for doc in train)

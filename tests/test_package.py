"""`spacy package` of a trained cot_ner pipeline, installed into a fresh virtualenv and used offline."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tiny_models import TRAIN, make_tiny_bert, train_nlp

ROOT = Path(__file__).resolve().parents[1]


def run(*args, **kwargs):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, args))}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_packaged_pipeline_installs_in_a_fresh_venv_and_runs_offline(tmp_path):
    encoder = make_tiny_bert(tmp_path / "bert")
    nlp, _ = train_nlp(encoder)
    expected = [[(e.text, e.label_) for e in nlp(text).ents] for text, _ in TRAIN]
    nlp.to_disk(tmp_path / "model")
    shutil.rmtree(encoder)

    (tmp_path / "packages").mkdir()
    run(sys.executable, "-m", "spacy", "package", tmp_path / "model", tmp_path / "packages",
        "--name", "cot_test", "--version", "0.0.1", "--build", "wheel", "--force")
    meta = json.loads((tmp_path / "packages" / "en_cot_test-0.0.1" / "meta.json").read_text())
    assert any(req.startswith("spacy-cot-distill") for req in meta["requirements"]), meta["requirements"]
    # project.yml's package steps: the plugin's own wheel beside the pipeline's, as no index serves it
    dist = tmp_path / "packages" / "en_cot_test-0.0.1" / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, ROOT)
    assert {p.name.split("-")[0] for p in dist.glob("*.whl")} == {"en_cot_test", "spacy_cot_distill"}

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    # away from the checkout: its spacy_cot_distill.egg-info on sys.path (PYTHONPATH, or the cwd of
    # `python -m pip`) would pass for an installed spacy-cot-distill and pip would skip the wheel
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run(python, "-m", "pip", "install", "-q", "torch==2.13.0", env=clean, cwd=tmp_path)  # the CPU file on disk
    # the README's install line: the pipeline by name, the plugin found beside it
    run(python, "-m", "pip", "install", "-q", "--find-links", dist, "en_cot_test", env=clean, cwd=tmp_path)
    code = (
        "import json, sys, spacy\n"
        "nlp = spacy.load('en_cot_test')\n"
        "print(json.dumps([[(e.text, e.label_) for e in nlp(t).ents] for t in sys.argv[1:]]))\n"
        "assert 'openai' not in sys.modules, 'openai was imported'\n"
        "assert 'spacy_cot_distill' in sys.modules\n"
    )
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = run(python, "-c", code, *[text for text, _ in TRAIN], env=env, cwd=tmp_path)
    assert [[tuple(e) for e in doc] for doc in json.loads(out)] == expected
    # the HTML view takes the installed package by name
    run(venv / "bin" / "cot-distill", "show", "en_cot_test", "--text", TRAIN[0][0], "--out", tmp_path / "page.html",
        env=env, cwd=tmp_path)
    page = (tmp_path / "page.html").read_text(encoding="utf-8")
    assert all(text in page and label in page for text, label in expected[0])

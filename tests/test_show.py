import shutil
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from spacy_cot_distill.cli import app
from browser import CHROMIUM_FLAGS
from spacy_cot_distill.data import convert_jsonl

DEMO = Path(__file__).resolve().parents[1] / "demo" / "data" / "dev.jsonl"


def test_show_page_loads_in_chromium_with_entities_relations_and_knowledge(tmp_path):
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed for this test (.ci/run installs it)"
    corpus = tmp_path / "dev.spacy"
    convert_jsonl(DEMO, corpus)
    import spacy
    from spacy.tokens import DocBin

    docs = list(DocBin().from_disk(corpus).get_docs(spacy.blank("en").vocab))
    docs[0]._.cot = {"sentence": "Background <b>knowledge</b> & more"}
    DocBin(docs=docs, store_user_data=True).to_disk(corpus)
    page = tmp_path / "page.html"
    result = CliRunner().invoke(app, ["show", str(corpus), "--out", str(page), "--limit", "5"])
    assert result.exit_code == 0, result.output
    run = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    dom = run.stdout
    for doc in docs[:5]:
        for ent in doc.ents:
            assert ent.text in dom and ent.label_ in dom
    relation_labels = {rel["label"] for doc in docs[:5] for rel in doc._.relations}
    assert relation_labels and all(label in dom for label in relation_labels)
    assert "Background &lt;b&gt;knowledge&lt;/b&gt; &amp; more" in dom  # knowledge shown, escaped
    assert "CONSOLE" not in run.stderr, run.stderr  # no console messages, errors included


def test_show_refuses_text_with_a_docbin(tmp_path):
    corpus = tmp_path / "dev.spacy"
    convert_jsonl(DEMO, corpus)
    result = CliRunner().invoke(app, ["show", str(corpus), "--text", "hello"])
    assert result.exit_code == 1 and "give a pipeline" in result.output

"""Hostile data: image ids that lead out of --image-dir or name non-images, and markup in `show`'s page."""
import base64
import shutil
import subprocess

import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.vocab import Vocab
from typer.testing import CliRunner

import spacy_cot_distill  # noqa: F401  (doc extensions)
from browser import CHROMIUM_FLAGS
from llm_server import serve
from spacy_cot_distill.cli import app
from spacy_cot_distill.errors import InputError
from spacy_cot_distill.llm.prompts import image_data_url

SECRET = b"OPENAI_API_KEY=sk-secret-do-not-send\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def tweet(image_id, doc_id="t1"):
    doc = Doc(Vocab(), words=["Kobe", "wins"])
    doc._.doc_id, doc._.image_id, doc._.caption = doc_id, image_id, "a man with a ball"
    return doc


@pytest.fixture
def folders(tmp_path):
    """An image folder with one PNG, and a secret beside it."""
    images = tmp_path / "images"
    images.mkdir()
    (images / "ok.png").write_bytes(PNG)
    (tmp_path / "secret.env").write_bytes(SECRET)
    return images


def test_an_image_inside_the_folder_is_sent_with_its_type_from_its_bytes(folders):
    (folders / "named.jpg").write_bytes(PNG)  # the suffix says JPEG, the bytes say PNG
    assert image_data_url(tweet("ok.png"), folders) == f"data:image/png;base64,{base64.b64encode(PNG).decode()}"
    assert image_data_url(tweet("named.jpg"), folders).startswith("data:image/png;base64,")
    assert image_data_url(tweet("missing.jpg"), folders) is None  # no file: the caption goes instead


@pytest.mark.parametrize("image_id", ["../secret.env", "sub/../../secret.env", "ABSOLUTE", "link.png", "linked/x.png"])
def test_an_image_id_leading_out_of_the_folder_is_refused(folders, image_id):
    (folders / "link.png").symlink_to(folders.parent / "secret.env")
    (folders / "linked").symlink_to(folders.parent, target_is_directory=True)
    (folders.parent / "x.png").write_bytes(PNG)  # an image, but outside the folder
    if image_id == "ABSOLUTE":
        image_id = str(folders.parent / "secret.env")
    with pytest.raises(InputError) as err:
        image_data_url(tweet(image_id, doc_id="evil7"), folders)
    assert "doc 'evil7'" in str(err.value) and "outside --image-dir" in str(err.value)
    assert str(err.value).startswith(str(folders.parent))  # names the resolved path


def test_a_file_that_is_not_an_image_is_refused(folders):
    (folders / "notes.jpg").write_bytes(SECRET)
    with pytest.raises(InputError, match=r"notes\.jpg: the image of doc 't1' is not a JPEG, PNG, GIF or WebP file"):
        image_data_url(tweet("notes.jpg"), folders)


def test_generate_refuses_before_sending_anything(folders, tmp_path, monkeypatch):
    """The hostile id in a corpus stops `generate` with one line, and the endpoint never sees the file."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    corpus = tmp_path / "corpus.spacy"
    DocBin(docs=[tweet("ok.png", "t0"), tweet("../secret.env", "evil7")], store_user_data=True).to_disk(corpus)
    with serve() as server:
        result = CliRunner().invoke(app, [
            "generate", str(corpus), str(tmp_path / "out.spacy"), "--dims", "multimodal", "--model", "m",
            "--base-url", server.base_url, "--image-dir", str(folders), "--cache", str(tmp_path / "c.sqlite"),
            "--no-progress",
        ])
        assert result.exit_code == 1, result.output
        assert server.counts["chat"] == 0 and server.images == 0
    line = " ".join(result.output.split())
    assert "doc 'evil7' (image_id '../secret.env') is outside --image-dir" in line
    assert not (tmp_path / "out.spacy").exists()


HOSTILE = "<script>document.documentElement.setAttribute('data-pwned','{}')</script>"


def hostile_corpus(path):
    """A DocBin whose every string shown on the page carries a script, each with its own marker."""
    nlp = spacy.blank("en")
    doc = nlp.make_doc("Kobe joins the Lakers")
    doc.ents = [Span(doc, 0, 1, label="PER" + HOSTILE.format("ent")), Span(doc, 3, 4, label="ORG")]
    doc._.relations = [{"head": [0, 1], "tail": [3, 4], "label": "member_of" + HOSTILE.format("rel"), "score": 1.0}]
    doc._.doc_id = "id" + HOSTILE.format("id")
    doc._.caption = "photo" + HOSTILE.format("caption")
    doc._.cot = {"noun" + HOSTILE.format("dim"): "text" + HOSTILE.format("cot")}
    DocBin(docs=[doc], store_user_data=True).to_disk(path)
    return ("ent", "rel", "id", "caption", "dim", "cot")


def test_show_escapes_every_string_from_the_data(tmp_path):
    markers = hostile_corpus(tmp_path / "evil.spacy")
    page = tmp_path / "page.html"
    result = CliRunner().invoke(app, ["show", str(tmp_path / "evil.spacy"), "--out", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    for marker in markers:
        escaped = f"&lt;script&gt;document.documentElement.setAttribute(&#x27;data-pwned&#x27;,&#x27;{marker}&#x27;)"
        assert escaped in html


def test_no_script_from_the_data_runs_in_chromium(tmp_path):
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed for this test (.ci/run installs it)"
    hostile_corpus(tmp_path / "evil.spacy")
    page = tmp_path / "page.html"
    assert CliRunner().invoke(app, ["show", str(tmp_path / "evil.spacy"), "--out", str(page)]).exit_code == 0
    run = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "<html" in run.stdout and "data-pwned=" not in run.stdout  # no script set its marker
    assert "PER&lt;script&gt;" in run.stdout  # the label is there, as text

"""Writes: every output is written whole or not at all, never over its own input, and a path that cannot be
read or written is one line naming it (exit 1), not a traceback. The hostile files are built here."""
import errno
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.vocab import Vocab
from typer.testing import CliRunner

from spacy_cot_distill.cli import app
from spacy_cot_distill.files import write_file

TWEETS = "IMGID:1\nKawhi\tB-PER\nwins\tO\n\nIMGID:2\nBoston\tB-LOC\nwins\tO\n"
JSONL = '{"tokens": ["Kawhi", "wins"], "entities": [{"start": 0, "end": 1, "label": "PER"}]}\n'
MNRE = ("{'token': ['Kawhi', 'visits', 'Boston'], 'h': {'name': 'Kawhi', 'pos': [0, 1]}, "
        "'t': {'name': 'Boston', 'pos': [2, 3]}, 'img_id': 'x.jpg', 'relation': '/per/loc/place_of_residence'}\n")


def words(i: int):
    return ["Kawhi", "Leonard", "wins", "in", "Boston", str(i)]


def knowledge_line(i: int, text: str = "a player") -> str:
    return json.dumps({"imgid": f"t{i}", "tokens": words(i), "knowledge": text}) + "\n"


def docbin(path: Path, n: int = 3) -> bytes:
    vocab = Vocab()
    docs = []
    for i in range(n):
        doc = Doc(vocab, words=words(i))
        doc.ents = [Span(doc, 0, 2, label="PER"), Span(doc, 4, 5, label="LOC")]
        doc._.doc_id = f"t{i}"
        docs.append(doc)
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path.read_bytes()


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line(result, *needles) -> str:
    """The run failed with exit 1 and one line (no traceback) holding every needle."""
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len([line for line in lines if "✘" in line]) == 1, lines
    assert "Traceback" not in result.output
    line = next(line for line in lines if "✘" in line)
    assert all(needle in line for needle in needles), (line, needles)
    return line


def no_leftovers(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# -- an output path that is an input (not a DocBin being updated) is refused, the input kept

@pytest.mark.parametrize("kind,content,extra", [
    ("twitter", TWEETS, ()), ("jsonl", JSONL, ()), ("mnre", MNRE, ()),
])
def test_convert_refuses_to_write_over_its_input(tmp_path, kind, content, extra):
    source = tmp_path / f"x.{kind}"
    source.write_text(content, encoding="utf-8")
    result = invoke("convert", kind, source, source, *extra)
    one_line(result, str(source), "is also an input", "write the output to another path")
    assert source.read_text(encoding="utf-8") == content


def test_convert_refuses_to_write_over_its_captions_or_knowledge(tmp_path):
    source, captions, knowledge = tmp_path / "x.txt", tmp_path / "captions.txt", tmp_path / "k.jsonl"
    source.write_text(TWEETS, encoding="utf-8")
    captions.write_text("1.jpg :a player\n", encoding="utf-8")
    knowledge.write_text('{"imgid": "1", "tokens": ["Kawhi", "wins"], "knowledge": "a player"}\n', encoding="utf-8")
    one_line(invoke("convert", "twitter", source, captions, "--captions", captions), str(captions), "is also an input")
    one_line(invoke("convert", "twitter", source, knowledge, "--knowledge", knowledge), str(knowledge), "is also an input")
    assert captions.read_text(encoding="utf-8") == "1.jpg :a player\n"
    assert knowledge.read_text(encoding="utf-8").startswith('{"imgid": "1"')


def test_other_commands_refuse_to_write_over_their_input(tmp_path):
    corpus = tmp_path / "train.spacy"
    before = docbin(corpus)
    knowledge = tmp_path / "k.jsonl"
    knowledge.write_text(knowledge_line(0), encoding="utf-8")
    one_line(invoke("import-knowledge", corpus, knowledge, knowledge), str(knowledge), "is also an input")
    one_line(invoke("show", corpus, "--out", corpus), str(corpus), "is also an input")
    # augment's output holds the new docs only: written over its input it would drop the training docs
    one_line(invoke("augment", corpus, corpus, "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--no-progress"),
             str(corpus), "is also an input")
    assert corpus.read_bytes() == before
    assert knowledge.read_text(encoding="utf-8") == knowledge_line(0)


def test_import_knowledge_may_update_its_input_docbin(tmp_path):
    corpus = tmp_path / "w.spacy"
    docbin(corpus)
    knowledge = tmp_path / "k.jsonl"
    knowledge.write_text(knowledge_line(1), encoding="utf-8")
    result = invoke("import-knowledge", corpus, knowledge, corpus)
    assert result.exit_code == 0, result.output
    docs = list(DocBin().from_disk(corpus).get_docs(Vocab()))
    assert [d._.cot for d in docs] == [{}, {"external": "a player"}, {}]
    no_leftovers(tmp_path)


# -- killed or out of space while writing: the old file stays, whole

def run_limited(args, cwd: Path, max_bytes: int, kill: bool) -> subprocess.CompletedProcess:
    """Run the CLI where no file may grow past `max_bytes`: the write fails midway, as on a full disk.

    Python ignores SIGXFSZ, so the write fails with EFBIG (as it would with ENOSPC); with `kill` the
    default action is restored and the kernel kills the process in the middle of the write.
    """
    code = "import signal; signal.signal(signal.SIGXFSZ, signal.SIG_DFL)\n" if kill else ""
    code += "from spacy_cot_distill.cli import app; app()"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes)),
    )


def test_import_knowledge_killed_while_writing_keeps_the_old_docbin(tmp_path):
    corpus = tmp_path / "w.spacy"
    before = docbin(corpus, n=40)
    knowledge = tmp_path / "k.jsonl"
    knowledge.write_text("".join(knowledge_line(i, f"player number {i}") for i in range(40)), encoding="utf-8")
    run = run_limited(["import-knowledge", corpus, knowledge, corpus], tmp_path, len(before) // 2, kill=True)
    assert run.returncode == -signal.SIGXFSZ, (run.returncode, run.stderr[-2000:])  # killed midway
    assert corpus.read_bytes() == before


def test_convert_out_of_space_is_one_line_and_writes_nothing(tmp_path):
    source = tmp_path / "x.jsonl"
    source.write_text(JSONL * 200, encoding="utf-8")
    out = tmp_path / "out" / "x.spacy"
    run = run_limited(["convert", "jsonl", source, out], tmp_path, 256, kill=False)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    lines = [line for line in (run.stdout + run.stderr).splitlines() if "✘" in line]
    assert len(lines) == 1 and str(out) in lines[0] and "nothing was written" in lines[0], lines
    assert not out.exists()
    no_leftovers(out.parent)


@pytest.fixture
def disk_full(monkeypatch):
    """Every file write fails as on a full disk once its data are written (the last step before it is whole)."""
    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.fixture
def pipeline(tmp_path) -> Path:
    path = tmp_path / "pipeline"
    spacy.blank("en").to_disk(path)
    return path


def commands(tmp_path: Path, pipeline: Path, out: Path):
    """Each writing command, writing `out`."""
    corpus = tmp_path / "in.spacy"
    docbin(corpus)
    source = tmp_path / "x.jsonl"
    source.write_text(JSONL, encoding="utf-8")
    knowledge = tmp_path / "k.jsonl"
    knowledge.write_text(knowledge_line(0), encoding="utf-8")
    return {
        "convert": ["convert", "jsonl", source, out],
        "import-knowledge": ["import-knowledge", corpus, knowledge, out],
        "show": ["show", corpus, "--out", out],
        "evaluate": ["evaluate", pipeline, corpus, "--output", out],
        "silver": ["silver", corpus, out, "--labels", "PER,LOC,ORG,MISC", "--from-knowledge", "noun"],
    }


COMMANDS = ["convert", "import-knowledge", "show", "evaluate", "silver"]


@pytest.mark.parametrize("command", COMMANDS)
def test_full_disk_is_one_line_and_keeps_the_old_file(tmp_path, pipeline, disk_full, command):
    out = tmp_path / "out.file"
    out.write_bytes(b"the previous output")
    line = one_line(invoke(*commands(tmp_path, pipeline, out)[command]), str(out), "No space left on device",
                    "the disk is full")
    assert line.endswith("nothing was written")
    assert out.read_bytes() == b"the previous output"
    no_leftovers(tmp_path)


@pytest.mark.parametrize("command", COMMANDS)
def test_output_folder_that_cannot_be_created_is_one_line(tmp_path, pipeline, command):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "sub" / "out.file"
    one_line(invoke(*commands(tmp_path, pipeline, out)[command]), str(out), f"cannot create its folder {out.parent}")
    assert blocker.read_text() == "not a folder"


# -- a missing or unreadable input of show / evaluate: one line naming it

def test_show_and_evaluate_name_a_missing_or_unreadable_path(tmp_path, pipeline):
    corpus = tmp_path / "gold.spacy"
    docbin(corpus)
    missing = tmp_path / "missing.spacy"
    folder = tmp_path / "folder.spacy"
    folder.mkdir()
    garbage = tmp_path / "garbage.spacy"
    garbage.write_bytes(os.urandom(64))
    page = tmp_path / "page.html"
    one_line(invoke("show", missing, "--out", page), str(missing), "no such file")
    one_line(invoke("show", folder, "--out", page), str(folder), "is not a file")
    one_line(invoke("show", garbage, "--out", page), str(garbage), "not a .spacy DocBin")
    one_line(invoke("show", tmp_path / "no_pipeline", "--text", "hi", "--out", page), "no_pipeline", "no such pipeline")
    one_line(invoke("evaluate", tmp_path / "no_pipeline", corpus), "no_pipeline", "no such pipeline")
    one_line(invoke("evaluate", pipeline, missing), str(missing), "no such file")
    one_line(invoke("evaluate", pipeline, garbage), str(garbage), "not a .spacy DocBin")
    assert not page.exists()
    assert invoke("evaluate", pipeline, corpus, "--output", tmp_path / "scores.json").exit_code == 0
    assert (tmp_path / "scores.json").read_text().startswith("{")


def test_write_file_leaves_nothing_on_an_interrupt(tmp_path, monkeypatch):
    path = tmp_path / "out.json"
    path.write_text("old")

    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_file(path, "new")
    assert path.read_text() == "old"
    no_leftovers(tmp_path)

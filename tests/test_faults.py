"""The fault matrix (issue 28): every command with each fault that applies to it (a bad model path, a folder as
the output, a read-only output folder, an unreadable input) prints one line naming the path, exits 1 and
leaves no traceback. In-process (typer's CliRunner). Tests run as root, which ignores file modes, so the
read-only folder and the unreadable file are stand-ins that fail as the kernel would (EROFS, EACCES)."""
import builtins
import errno
import io
import os
import shutil
from pathlib import Path

import pytest
from spacy.tokens import DocBin
from typer.testing import CliRunner

from llm_helpers import API_KEY
from spacy_cot_distill.cli import app
from test_writes import JSONL, MNRE, TWEETS, docbin, knowledge_line, one_line

WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _inside(path, folder: Path) -> bool:
    if isinstance(path, int):
        return False
    return Path(os.path.abspath(os.fsdecode(path))).is_relative_to(folder)


def _fail(code: int, path) -> None:
    raise OSError(code, os.strerror(code), os.fsdecode(path))


def _guard(monkeypatch, refuses) -> None:
    """Make os.open, open and the path-changing os calls fail where `refuses(path, writing)` gives an errno."""
    os_open, io_open = os.open, io.open

    def guarded_os_open(path, flags, *args, **kwargs):
        code = refuses(path, bool(flags & WRITES))
        if code:
            _fail(code, path)
        return os_open(path, flags, *args, **kwargs)

    def guarded_open(file, mode="r", *args, **kwargs):
        code = refuses(file, any(c in mode for c in "wax+"))
        if code:
            _fail(code, file)
        return io_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_os_open)
    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr(builtins, "open", guarded_open)
    for name in ("mkdir", "rmdir", "unlink", "remove"):
        def one(path, *args, _real=getattr(os, name), **kwargs):
            code = refuses(path, True)
            if code:
                _fail(code, path)
            return _real(path, *args, **kwargs)
        monkeypatch.setattr(os, name, one)
    for name in ("rename", "replace"):
        def two(src, dst, *args, _real=getattr(os, name), **kwargs):
            code = refuses(src, True) or refuses(dst, True)
            if code:
                _fail(code, dst)
            return _real(src, dst, *args, **kwargs)
        monkeypatch.setattr(os, name, two)


@pytest.fixture
def read_only(tmp_path, monkeypatch) -> Path:
    """A folder on a read-only file system: reading works, every write, create, rename or delete in it is EROFS."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    (folder / "old.txt").write_text("kept")
    _guard(monkeypatch, lambda path, writing: errno.EROFS if writing and _inside(path, folder) else 0)
    return folder


@pytest.fixture
def unreadable(tmp_path, monkeypatch):
    """Make the given files unreadable (EACCES, as for a user without the permission)."""
    files = set()
    _guard(monkeypatch, lambda path, writing: errno.EACCES if not isinstance(path, int)
           and os.path.abspath(os.fsdecode(path)) in files else 0)
    return lambda path: files.add(os.path.abspath(path)) or path


@pytest.fixture
def inputs(tmp_path, pipeline):
    """One input of each kind the commands read."""
    paths = {"model": pipeline, "docbin": tmp_path / "in.spacy", "text": tmp_path / "in.txt",
             "tweets": tmp_path / "tweets.txt", "mnre": tmp_path / "mnre.txt", "jsonl": tmp_path / "in.jsonl",
             "knowledge": tmp_path / "k.jsonl", "cache": tmp_path / "source.sqlite"}
    docbin(paths["docbin"])
    paths["text"].write_text("Obama said Apple is in London\n", encoding="utf-8")
    paths["tweets"].write_text(TWEETS, encoding="utf-8")
    paths["mnre"].write_text(MNRE, encoding="utf-8")
    paths["jsonl"].write_text(JSONL, encoding="utf-8")
    paths["knowledge"].write_text(knowledge_line(0), encoding="utf-8")
    return paths


LLM = ["--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--no-progress", "--max-retries", "0"]

# command -> (arguments given the inputs, the model and the output; the input the command reads first)
COMMANDS = {
    "annotate": (lambda p, model, out: ["annotate", model, p["text"], out, "--no-progress"], "text"),
    "annotate --ray": (lambda p, model, out: ["annotate", model, p["text"], out, "--ray", "--no-progress"], "text"),
    "quantize": (lambda p, model, out: ["quantize", model, out], None),
    "evaluate": (lambda p, model, out: ["evaluate", model, p["docbin"], "--output", out], "docbin"),
    "show": (lambda p, model, out: ["show", model, "--text", "Obama", "--out", out], None),
    "show docbin": (lambda p, model, out: ["show", p["docbin"], "--out", out], "docbin"),
    "teach": (lambda p, model, out: ["teach", model, p["docbin"], out], "docbin"),
    "silver --from-teacher": (lambda p, model, out: ["silver", p["docbin"], out, "--from-teacher", model], "docbin"),
    "silver --from-knowledge": (lambda p, model, out: ["silver", p["docbin"], out, "--labels", "PER,LOC,ORG,MISC",
                                                       "--from-knowledge", "noun"], "docbin"),
    "silver --model": (lambda p, model, out: ["silver", p["docbin"], out, "--labels", "PER,LOC", *LLM], "docbin"),
    "convert twitter": (lambda p, model, out: ["convert", "twitter", p["tweets"], out], "tweets"),
    "convert mnre": (lambda p, model, out: ["convert", "mnre", p["mnre"], out], "mnre"),
    "convert jsonl": (lambda p, model, out: ["convert", "jsonl", p["jsonl"], out], "jsonl"),
    "import-knowledge": (lambda p, model, out: ["import-knowledge", p["docbin"], p["knowledge"], out], "docbin"),
    "generate": (lambda p, model, out: ["generate", p["docbin"], out, "--dims", "noun", *LLM], "docbin"),
    "augment": (lambda p, model, out: ["augment", p["docbin"], out, "--kinds", "style", *LLM], "docbin"),
    "cache merge": (lambda p, model, out: ["cache", "merge", out, p["cache"]], None),
}
WITH_MODEL = ["annotate", "annotate --ray", "quantize", "evaluate", "show", "teach", "silver --from-teacher"]
READERS = [name for name, (_, source) in COMMANDS.items() if source is not None]


def run(name, inputs, out, model=None):
    args, _ = COMMANDS[name]
    return CliRunner().invoke(app, [str(a) for a in args(inputs, model or inputs["model"], out)])


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


@pytest.mark.parametrize("name", WITH_MODEL)
def test_a_bad_model_path_is_one_line(name, inputs, tmp_path):
    out = tmp_path / ("int8" if name == "quantize" else "out.file")
    missing = tmp_path / "no_model"
    one_line(run(name, inputs, out, missing), str(missing), "no such pipeline")
    assert not out.exists()
    if name == "annotate --ray":
        return  # a broken pipeline fails in the Ray actors, not before Ray starts
    # a pipeline whose component file is cut short: the line names that component
    broken = Path(shutil.copytree(inputs["model"], tmp_path / "broken"))
    weights = broken / "cot_ner" / "model"
    weights.write_bytes(weights.read_bytes()[:1000])
    one_line(run(name, inputs, out, broken), f"{broken / 'cot_ner'}: cannot load the pipeline", "Unpack failed")
    assert not out.exists()


@pytest.mark.parametrize("name", [name for name in COMMANDS if name != "quantize"])
def test_a_folder_as_the_output_is_one_line(name, inputs, tmp_path):
    out = tmp_path / "folder"
    out.mkdir()
    (out / "mine.txt").write_text("kept")
    one_line(run(name, inputs, out), str(out), "is a folder")
    assert (out / "mine.txt").read_text() == "kept"


def test_quantize_into_a_folder_of_other_files_is_one_line(inputs, tmp_path):
    out = tmp_path / "folder"
    out.mkdir()
    (out / "mine.txt").write_text("kept")
    one_line(run("quantize", inputs, out), str(out), "is not an earlier output of `cot-distill quantize`", "--force")
    assert (out / "mine.txt").read_text() == "kept"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_read_only_output_folder_is_one_line(name, inputs, read_only):
    out = read_only / ("int8" if name == "quantize" else "out.file")
    one_line(run(name, inputs, out), str(out), "read-only")
    assert [p.name for p in read_only.iterdir()] == ["old.txt"]


@pytest.mark.parametrize("name", READERS)
def test_an_unreadable_input_is_one_line(name, inputs, tmp_path, unreadable):
    source = unreadable(inputs[COMMANDS[name][1]])
    out = tmp_path / "out.file"
    one_line(run(name, inputs, out), str(source), "Permission denied")
    assert not out.exists()


def test_an_unreadable_cache_to_merge_is_one_line(inputs, tmp_path):
    # SQLite opens its files itself (no stand-in reaches it): a file that is not a cache
    inputs["cache"].write_bytes(os.urandom(4096))
    one_line(run("cache merge", inputs, tmp_path / "out.sqlite"), str(inputs["cache"]))


def test_a_gpu_that_is_not_there_is_one_line(inputs, tmp_path):
    for args in (["annotate", inputs["model"], inputs["text"], tmp_path / "out.jsonl", "--gpu-id", "0"],
                 ["teach", inputs["model"], inputs["docbin"], tmp_path / "out.spacy", "--gpu-id", "0"],
                 ["silver", inputs["docbin"], tmp_path / "out.spacy", "--from-teacher", inputs["model"], "--gpu-id", "0"]):
        one_line(CliRunner().invoke(app, [str(a) for a in args]), "GPU 0", "--gpu-id -1")


def test_a_garbage_docbin_to_annotate_is_one_line(inputs, tmp_path):
    garbage = tmp_path / "garbage.spacy"
    garbage.write_bytes(os.urandom(256))
    one_line(run("annotate", {**inputs, "text": garbage}, tmp_path / "out.jsonl"), str(garbage), "not a .spacy DocBin")
    assert DocBin().from_disk(inputs["docbin"])  # the fixture's own docbin still reads

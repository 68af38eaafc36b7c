"""Streaming annotation: run a pipeline over a corpus of any size, one JSON line out per doc in.

Input (chosen by the file's suffix):
- `.jsonl`: one `{"id": ..., "text": "..."}` a line (`id` optional: the line number);
- `.spacy`: a DocBin; each doc's text, its id `doc._.doc_id` or its 1-based position;
- anything else: plain text, a doc a line, its id the line number.
Blank lines are skipped and counted. Output, a line per doc in input order:

    {"id": "t1", "text": "Obama said Apple is in London",
     "entities": [{"start": 0, "end": 5, "label": "PER", "text": "Obama"}, ...],
     "relations": [{"head": [0, 5], "tail": [11, 16], "label": "/per/org/member_of", "score": 0.9731}]}

Offsets are characters, end exclusive; relation scores are rounded to 4 places (batches cut
differently, as Ray cuts them, can move a score's last place; --n-process cuts them as one process does).
"""
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from .errors import InputError

FORMATS = ("jsonl", "text", "spacy")
ON_ERROR = ("skip", "fail")
SCORE_DIGITS = 4


def input_format(path: Union[str, Path]) -> str:
    """The input format of `path` by its suffix: "jsonl", "spacy" or "text"."""
    suffix = Path(str(path)).suffix.lower()
    return {".jsonl": "jsonl", ".spacy": "spacy"}.get(suffix, "text")


def parse_line(line: str, fmt: str) -> Optional[Dict[str, Any]]:
    """One input line as {"id", "text"} ("id" absent when the line gives none), None for a blank line.

    line (str): The line, without its newline.
    fmt (str): "jsonl" or "text".
    RAISES (ValueError): The line is not valid for `fmt`; the message says why.
    """
    if not line.strip():
        return None
    if fmt == "text":
        return {"text": line}
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON: {err.msg} (column {err.colno})") from None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise ValueError('expected a JSON object with a string "text", e.g. {"id": "t1", "text": "..."}')
    return {"id": record["id"], "text": record["text"]} if "id" in record else {"text": record["text"]}


def read_records(path: Path, fmt: str) -> Iterator[Tuple[int, Union[Dict[str, Any], ValueError, None]]]:
    """Yield (line or record number, {"id", "text"} | the line's error | None for a blank line), streaming."""
    if fmt == "spacy":
        from spacy.tokens import DocBin

        vocab = spacy.blank("xx").vocab
        for number, doc in enumerate(DocBin().from_disk(path).get_docs(vocab), start=1):
            doc_id = doc._.doc_id
            yield number, {"id": number if doc_id is None else doc_id, "text": doc.text}
        return
    with Path(path).open("rb") as file:
        for lineno, raw in enumerate(file, start=1):
            try:
                record = parse_line(raw.decode("utf-8").rstrip("\r\n"), fmt)
            except UnicodeDecodeError as err:
                yield lineno, ValueError(f"not valid UTF-8 ({err.reason} at byte {err.start})")
                continue
            except ValueError as err:
                yield lineno, err
                continue
            if record is not None and "id" not in record:
                record["id"] = lineno
            yield lineno, record


def annotation(doc: Doc) -> Dict[str, Any]:
    """The text, entities and relations of a processed doc, as written after the id (character offsets)."""
    relations = []
    for rel in doc._.relations:
        head, tail = doc[rel["head"][0]:rel["head"][1]], doc[rel["tail"][0]:rel["tail"][1]]
        relations.append({
            "head": [head.start_char, head.end_char], "tail": [tail.start_char, tail.end_char],
            "label": rel["label"], "score": round(float(rel["score"]), SCORE_DIGITS),
        })
    entities = [{"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text} for e in doc.ents]
    return {"text": doc.text, "entities": entities, "relations": relations}


def output_line(doc_id: Any, doc: Doc) -> str:
    """The output line of one doc, newline included."""
    return json.dumps({"id": doc_id, **annotation(doc)}, ensure_ascii=False) + "\n"


def complete_lines(path: Path) -> int:
    """Count the complete lines of an interrupted output and cut off a torn last line (a kill mid-write)."""
    if not path.exists():
        return 0
    count, end = 0, 0
    with path.open("rb") as file:
        position = 0
        for raw in file:
            position += len(raw)
            if raw.endswith(b"\n"):
                count, end = count + 1, position
    if end != path.stat().st_size:
        with path.open("r+b") as file:
            file.truncate(end)
    return count


def load_pipeline(model: Union[str, Path], gpu_id: int = -1) -> Language:
    """Load a pipeline by path or package name, on GPU `gpu_id` (-1: CPU)."""
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    return spacy.load(model)


@dataclass
class AnnotateStats:
    """What a run did: docs written, docs resumed past, blank lines, and the bad lines skipped with their errors."""

    written: int = 0
    resumed: int = 0
    blank: int = 0
    skipped: List[InputError] = field(default_factory=list)


def report(error: InputError, on_error: str, stats: AnnotateStats, warn: Callable[[str], None]) -> None:
    """Fail on a bad line, or warn and count it as skipped."""
    if on_error == "fail":
        raise error
    stats.skipped.append(error)
    warn(f"⚠ skipped {error}")


def annotate(
    model: Union[str, Path, Language],
    input_path: Path,
    output_path: Path,
    *,
    batch_size: int = 64,
    n_process: int = 1,
    gpu_id: int = -1,
    on_error: str = "skip",
    resume: bool = False,
    progress: bool = True,
) -> AnnotateStats:
    """Annotate `input_path` with `model` and append a JSON line per doc to `output_path`, streaming.

    model (str | Path | Language): A pipeline directory, an installed package name, or a loaded pipeline.
    input_path (Path): JSONL, plain text or .spacy, by suffix (see the module docstring).
    output_path (Path): JSONL written line by line and flushed, so a kill loses at most the docs in flight.
    batch_size (int): Docs per batch of `nlp.pipe`.
    n_process (int): Processes of `nlp.pipe` (spaCy's multiprocessing); the output order is the input order.
    gpu_id (int): GPU to run on, -1 for CPU.
    on_error (str): "skip" a bad input line (warned and counted) or "fail" the run on it.
    resume (bool): Keep the complete lines of an existing output and continue after them; else start afresh.
    progress (bool): Show a progress bar with docs/s on stderr.
    RETURNS (AnnotateStats): What the run wrote and skipped.
    """
    from tqdm import tqdm

    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, not {on_error!r}")
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.is_file():
        raise InputError(input_path, None, "no such file")
    if output_path.resolve() == input_path.resolve():
        raise InputError(output_path, None, "the output is the input: write the annotations to another file")
    nlp = model if isinstance(model, Language) else load_pipeline(model, gpu_id)
    fmt = input_format(input_path)
    stats = AnnotateStats()
    output_path.parent.mkdir(parents=True, exist_ok=True)
    if resume:
        stats.resumed = complete_lines(output_path)
    elif output_path.exists():
        output_path.unlink()
    bar = tqdm(desc="annotate", unit="doc", disable=not progress, file=sys.stderr, initial=stats.resumed)

    def warn(line: str) -> None:
        bar.write(line, file=sys.stderr)

    def records() -> Iterator[Tuple[str, Any]]:
        good = 0
        for number, record in read_records(input_path, fmt):
            if record is None:
                stats.blank += 1
            elif isinstance(record, ValueError):
                report(InputError(input_path, number, str(record)), on_error, stats, warn)
            else:
                good += 1
                if good > stats.resumed:
                    yield record["text"], record["id"]

    with bar, output_path.open("a", encoding="utf-8") as out:
        for doc, doc_id in nlp.pipe(records(), as_tuples=True, batch_size=batch_size, n_process=n_process):
            out.write(output_line(doc_id, doc))
            out.flush()
            stats.written += 1
            bar.update(1)
    return stats

"""Streaming annotation: run a pipeline over a corpus of any size, one JSON line out per doc in.

Input (chosen by the file's suffix):
- `.jsonl`: one `{"id": ..., "text": "..."}` a line (`id` optional: the line number);
- `.spacy`: a DocBin; each doc's text, its id `doc._.doc_id` or its 1-based position;
- anything else: plain text, a doc a line, its id the line number.
Lines end at "\n" only (`read_lines`, the one reader of the format, which Ray uses too): a text may hold
U+2028, U+0085 or a form feed. Blank lines are skipped and counted. Output, a line per doc in input order:

    {"id": "t1", "text": "Obama said Apple is in London",
     "entities": [{"start": 0, "end": 5, "label": "PER", "text": "Obama"}, ...],
     "relations": [{"head": [0, 5], "tail": [11, 16], "label": "/per/org/member_of", "score": 0.9731}]}

Offsets are characters, end exclusive; relation scores are rounded to 4 places (batches cut
differently, as Ray cuts them, can move a score's last place; --n-process cuts them as one process does).
"""
import contextlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from .errors import InputError
from .files import WriteError, check_writable, refuse_overwrite

FORMATS = ("jsonl", "text", "spacy")
ON_ERROR = ("skip", "fail")
SCORE_DIGITS = 4


def input_format(path: Union[str, Path]) -> str:
    """The input format of `path` by its suffix: "jsonl", "spacy" or "text"."""
    suffix = Path(str(path)).suffix.lower()
    return {".jsonl": "jsonl", ".spacy": "spacy"}.get(suffix, "text")


def _not_json(constant: str) -> None:
    raise ValueError(f"not valid JSON: {constant} is not a JSON number")


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
        # NaN and Infinity are not JSON: an id read as one could only be written back as invalid JSON
        record = json.loads(line, parse_constant=_not_json)
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON: {err.msg} (column {err.colno})") from None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise ValueError('expected a JSON object with a string "text", e.g. {"id": "t1", "text": "..."}')
    return {"id": record["id"], "text": record["text"]} if "id" in record else {"text": record["text"]}


Record = Union[Dict[str, Any], ValueError, None]


def read_lines(lines: Iterable[bytes], fmt: str) -> Iterator[Tuple[int, Record]]:
    """The reader of the line formats, shared by the single process and Ray: yield (line number, {"id", "text"} |
    the line's error | None for a blank line), a record without an id taking its line number.

    lines (Iterable[bytes]): The lines as a binary file yields them: split at b"\n" only, never at U+2028,
        U+0085 or a form feed, which a text may hold.
    fmt (str): "jsonl" or "text".
    """
    for lineno, raw in enumerate(lines, start=1):
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


def read_records(path: Path, fmt: str) -> Iterator[Tuple[int, Record]]:
    """Yield (line or record number, {"id", "text"} | the line's error | None for a blank line), streaming.

    RAISES (InputError): `path` is missing, a folder, unreadable or (.spacy) not a DocBin.
    """
    path = Path(path)
    if fmt == "spacy":
        from .data.docbin import stream_docs

        for number, doc in enumerate(stream_docs(path), start=1):
            doc_id = doc._.doc_id
            yield number, {"id": number if doc_id is None else doc_id, "text": doc.text}
        return
    if not path.is_file():
        raise InputError(path, None, "is not a file" if path.exists() else "no such file")
    try:
        file = path.open("rb")
    except OSError as err:
        raise InputError(path, None, f"cannot read it ({err.strerror or err}): check its permissions") from None
    with file:
        yield from read_lines(file, fmt)


def too_long(text: str, max_length: int) -> Optional[ValueError]:
    """The error of a text over the pipeline's `nlp.max_length` (spaCy refuses it), else None."""
    if len(text) <= max_length:
        return None
    return ValueError(f"{len(text):,} characters, over the pipeline's max_length ({max_length:,}): split the text, "
                      "or raise nlp.max_length if the memory allows")


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


def kept_lines(output_path: Path, expected: Iterator[Tuple[Any, str]]) -> int:
    """Check the complete lines of an interrupted output against the input and count them; cut off a torn last
    line (a kill mid-write) once they all match.

    expected (Iterator[Tuple[Any, str]]): The input's (id, text) in order, of the docs the output should hold.
    RAISES (InputError): A line that is not this run's output of this input: not JSON, another id or text, or
        more lines than the input has docs. The output is left as it is.
    """
    if not output_path.exists():
        return 0
    count, end, position = 0, 0, 0
    with output_path.open("rb") as file:
        for raw in file:
            position += len(raw)
            if not raw.endswith(b"\n"):
                break
            try:
                line = json.loads(raw, parse_constant=_not_json)
                found = (line["id"], line["text"])
            except (ValueError, TypeError, KeyError):
                found = None
            want = next(expected, None)
            if found is None or found != want:
                what = ("is not an annotate output line" if found is None else
                        "has more lines than the input has docs" if want is None else
                        f"holds id {found[0]!r} where the input's next doc is id {want[0]!r}" if found[0] != want[0]
                        else f"holds another text for id {found[0]!r} than the input")
                raise InputError(output_path, count + 1, f"{what}, so it is not an earlier run of this input: run "
                                 "without --resume to start over (the output is replaced), or write to another file")
            count, end = count + 1, position
    if end != output_path.stat().st_size:
        with output_path.open("r+b") as file:
            file.truncate(end)
    return count


def load_pipeline(model: Union[str, Path], gpu_id: int = -1) -> Language:
    """Load a pipeline by path or package name, on GPU `gpu_id` (-1: CPU).

    RAISES (InputError): No GPU `gpu_id`, or a pipeline that cannot be found or read (naming the file that broke).
    """
    if gpu_id >= 0:
        try:
            spacy.require_gpu(gpu_id)
        except ValueError as err:
            raise InputError(model, None, f"cannot run on GPU {gpu_id} ({err}): give --gpu-id -1 for the CPU") from None
    try:
        return spacy.load(model)
    except (OSError, ValueError) as err:
        if not Path(model).exists():
            raise InputError(model, None, "no such pipeline: give a trained pipeline's directory or an installed "
                             "package name") from None
        raise InputError(_broken_part(err) or model, None, f"cannot load the pipeline ({type(err).__name__}: {err}): "
                         "give a directory `spacy train` or `cot-distill quantize` wrote, whole") from None


def _broken_part(err: BaseException) -> Optional[Path]:
    """The deepest file or folder (a component's) that `from_disk` was reading when `err` was raised: spaCy's and
    thinc's `from_disk` name it `path`."""
    found = None
    traceback = err.__traceback__
    while traceback is not None:
        path = traceback.tb_frame.f_locals.get("path")
        if isinstance(path, Path) and path.exists():
            found = path
        traceback = traceback.tb_next
    return found


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
    resume (bool): Keep the complete lines of an existing output, once checked to be this input's docs in order
        (`kept_lines`), and continue after them; else start afresh.
    progress (bool): Show a progress bar with docs/s on stderr.
    RETURNS (AnnotateStats): What the run wrote and skipped.
    RAISES (InputError): A missing or unreadable input or pipeline, an output that is the input or cannot be written,
        an output --resume may not keep, a bad line with on_error="fail" (a WriteError: a write that failed).
    """
    from tqdm import tqdm

    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, not {on_error!r}")
    input_path, output_path = Path(input_path), Path(output_path)
    fmt = input_format(input_path)
    next(read_records(input_path, fmt), None)  # a missing, unreadable or broken input fails before the model loads
    refuse_overwrite(output_path, input_path)  # hard links included
    check_writable(output_path)
    nlp = model if isinstance(model, Language) else load_pipeline(model, gpu_id)
    stats = AnnotateStats()

    def checked() -> Iterator[Tuple[int, Record]]:
        for number, record in read_records(input_path, fmt):
            yield number, (too_long(record["text"], nlp.max_length) or record) if isinstance(record, dict) else record

    try:
        if resume:
            good = ((r["id"], r["text"]) for _, r in checked() if isinstance(r, dict))
            stats.resumed = kept_lines(output_path, good)
        else:
            output_path.unlink(missing_ok=True)
        out = output_path.open("a", encoding="utf-8")
    except OSError as err:
        raise WriteError(output_path, err) from None
    bar = tqdm(desc="annotate", unit="doc", disable=not progress, file=sys.stderr, initial=stats.resumed)

    def warn(line: str) -> None:
        bar.write(line, file=sys.stderr)

    def records() -> Iterator[Tuple[str, Any]]:
        good = 0
        for number, record in checked():
            if record is None:
                stats.blank += 1
            elif isinstance(record, ValueError):
                report(InputError(input_path, number, str(record)), on_error, stats, warn)
            else:
                good += 1
                if good > stats.resumed:
                    yield record["text"], record["id"]

    try:
        with bar:
            for doc, doc_id in nlp.pipe(records(), as_tuples=True, batch_size=batch_size, n_process=n_process):
                try:
                    out.write(output_line(doc_id, doc))
                    out.flush()
                except OSError as err:
                    raise WriteError(output_path, err, outcome=f"the {stats.resumed + stats.written} complete lines "
                                     "before it are kept: make room and run again with --resume") from None
                stats.written += 1
                bar.update(1)
    finally:
        with contextlib.suppress(OSError):  # the line that failed to write fails again on close
            out.close()
    return stats

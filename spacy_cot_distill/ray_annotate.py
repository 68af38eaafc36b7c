"""`annotate --ray`: the corpus as a Ray Dataset, mapped in batches through one loaded pipeline per actor.

Ray reads the input's bytes (`read_binary_files`: a file, a folder of files or an `s3://` path that every
node can read; a `.spacy` DocBin is read by the driver and handed over with `from_items`) and splits them
into records with `annotate.read_lines`, the reader of the single-process run, so both read the same lines
and ids and report the same bad lines. Each of `workers` actors loads the pipeline once and annotates its
batches, and the driver streams the results back in input order (`preserve_order`) into OUTPUT, the same
JSON lines as a single-process run (a relation score can differ in its last place: batches cut elsewhere
pad differently). OUTPUT is written whole or not at all (`files.open_atomic`), so a Ray run has no --resume.
"""
import io
import json
import sys
from pathlib import Path
from typing import Any, Dict, List

import numpy

from .annotate import (AnnotateStats, Record, annotation, input_format, load_pipeline, read_lines, read_records, report,
                       too_long)
from .errors import InputError
from .files import check_writable, open_atomic, refuse_overwrite


def _row(path: str, number: int, record: Record) -> Dict[str, Any]:
    """A record as a row of the Ray Dataset: its status ("ok", "blank" or "error"), its id as JSON, and its text
    or error message."""
    if isinstance(record, dict):
        return {"path": path, "number": number, "status": "ok",
                "id": json.dumps(record["id"], ensure_ascii=False), "text": record["text"]}
    return {"path": path, "number": number, "status": "blank" if record is None else "error",
            "id": "", "text": "" if record is None else str(record)}


def split_lines(fmt: str):
    """A Ray `flat_map` function: a file's bytes (a row of `read_binary_files`) to a row per line."""
    def split(file: Dict[str, Any]) -> List[Dict[str, Any]]:
        return [_row(file["path"], number, record)
                for number, record in read_lines(io.BytesIO(file["bytes"]), fmt)]

    return split


class PipelineActor:
    """A Ray Data callable class: one loaded pipeline, annotating the batches of records it is given.

    model (str): Pipeline directory or package name, present on every node.
    batch_size (int): Docs per batch of `nlp.pipe`.
    use_gpu (bool): Run on the GPU Ray gave this actor.
    """

    def __init__(self, model: str, batch_size: int, use_gpu: bool):
        import spacy_cot_distill  # noqa: F401  (doc extensions in the worker process)

        self.nlp = load_pipeline(model, 0 if use_gpu else -1)
        self.batch_size = batch_size

    def __call__(self, batch: Dict[str, numpy.ndarray]) -> Dict[str, numpy.ndarray]:
        """The batch's rows with "body": the annotation as JSON of each "ok" row (a text over the pipeline's
        max_length becomes an "error" row, as in a single-process run)."""
        status, texts = list(batch["status"]), list(batch["text"])
        for i, text in enumerate(texts):
            error = too_long(str(text), self.nlp.max_length) if status[i] == "ok" else None
            if error is not None:
                status[i], texts[i] = "error", str(error)
        docs = iter(self.nlp.pipe([str(t) for s, t in zip(status, texts) if s == "ok"], batch_size=self.batch_size))
        bodies = [json.dumps(annotation(next(docs)), ensure_ascii=False) if s == "ok" else "" for s in status]
        return {
            "path": batch["path"], "number": batch["number"], "id": batch["id"],
            "status": numpy.array(status, dtype=object), "text": numpy.array(texts, dtype=object),
            "body": numpy.array(bodies, dtype=object),
        }


def ray_annotate(
    model: str,
    input_path: str,
    output_path: Path,
    *,
    workers: int = 2,
    batch_size: int = 64,
    gpu_id: int = -1,
    cpus_per_worker: float = 1.0,
    on_error: str = "skip",
    progress: bool = True,
) -> AnnotateStats:
    """Annotate `input_path` on Ray with `workers` actors and write OUTPUT in input order.

    model (str): Pipeline directory or package name, present on every node.
    input_path (str): JSONL or plain text (a file, folder or URI Ray's `read_binary_files` reads), or a .spacy DocBin.
    output_path (Path): The JSONL to write, as `annotate` writes it.
    workers (int): Actors, each with one loaded pipeline (`map_batches(concurrency=workers)`).
    batch_size (int): Lines per Ray batch, and docs per `nlp.pipe` batch.
    gpu_id (int): -1 for CPU; else each actor asks Ray for one GPU.
    cpus_per_worker (float): CPUs each actor reserves.
    on_error (str): "skip" a bad line (warned, counted) or "fail" the run.
    progress (bool): Show a progress bar with docs/s.
    RETURNS (AnnotateStats): What the run wrote and skipped.
    RAISES (InputError): A missing input or pipeline, OUTPUT that is the input or cannot be written, no GPU.
    """
    import ray
    import spacy
    from tqdm import tqdm

    fmt = input_format(input_path)
    local = "://" not in input_path
    if local and not Path(input_path).exists():
        raise InputError(input_path, None, "no such file or folder")
    if local and Path(input_path).is_file():
        next(read_records(Path(input_path), fmt), None)  # unreadable or broken: one line before Ray starts
    if not Path(model).exists() and not spacy.util.is_package(model):
        raise InputError(model, None, "no such pipeline: give a trained pipeline's directory or an installed package name")
    if local:
        refuse_overwrite(output_path, input_path)  # hard links included
    check_writable(output_path)
    started = not ray.is_initialized()
    if started:
        ray.init()  # RAY_ADDRESS, else a local instance
    try:
        if gpu_id >= 0 and ray.cluster_resources().get("GPU", 0) < 1:
            raise InputError(model, None, f"--gpu-id {gpu_id}: the Ray cluster has no GPU: give --gpu-id -1 for CPUs")
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        dataset: Any
        if fmt == "spacy":
            dataset = ray.data.from_items([_row(input_path, n, r) for n, r in read_records(Path(input_path), fmt)])
        else:
            # reading is I/O: it must not wait for the CPUs the actors hold (2 actors on 2 cores starved it)
            dataset = ray.data.read_binary_files(input_path, include_paths=True, num_cpus=0)
            dataset = dataset.flat_map(split_lines(fmt), num_cpus=0)
        dataset = dataset.map_batches(
            PipelineActor,
            fn_constructor_kwargs={"model": model, "batch_size": batch_size, "use_gpu": gpu_id >= 0},
            batch_size=batch_size,
            concurrency=workers,
            num_cpus=cpus_per_worker,
            num_gpus=1 if gpu_id >= 0 else 0,
        )
        return _write_in_order(dataset, output_path, on_error, tqdm(desc="annotate (ray)", unit="doc",
                                                                    disable=not progress, file=sys.stderr))
    finally:
        if started:
            ray.shutdown()


def _write_in_order(dataset: Any, output_path: Path, on_error: str, bar: Any) -> AnnotateStats:
    stats = AnnotateStats()
    with bar, open_atomic(output_path) as out:
        for row in dataset.iter_rows():
            if row["status"] == "blank":
                stats.blank += 1
            elif row["status"] == "error":
                report(InputError(row["path"], int(row["number"]), row["text"]), on_error,
                       stats, lambda line: bar.write(line, file=sys.stderr))
            else:
                line = {"id": json.loads(row["id"]), **json.loads(row["body"])}
                out.write((json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8"))
                stats.written += 1
                bar.update(1)
    return stats

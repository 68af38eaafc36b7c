"""`annotate --ray`: the corpus as a Ray Dataset, mapped in batches through one loaded pipeline per actor.

Ray reads the input (`read_text`: a file, a folder of files or an `s3://` path that every node can
read; a `.spacy` DocBin is read by the driver and handed over with `from_items`), each of `workers`
actors loads the pipeline once and annotates its batches, and the driver streams the results back in
input order (`preserve_order`) into OUTPUT, the same JSON lines as a single-process run (a relation
score can differ in its last place: batches cut elsewhere pad differently).
OUTPUT is written whole or not at all (a `.part` file renamed at the end), so a Ray run has no --resume.
"""
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy

from .annotate import AnnotateStats, annotation, input_format, load_pipeline, parse_line, read_records, report
from .errors import InputError


class PipelineActor:
    """A Ray Data callable class: one loaded pipeline, annotating the batches of input lines it is given.

    model (str): Pipeline directory or package name, present on every node.
    fmt (str): "jsonl" or "text": how to read a line.
    batch_size (int): Docs per batch of `nlp.pipe`.
    use_gpu (bool): Run on the GPU Ray gave this actor.
    """

    def __init__(self, model: str, fmt: str, batch_size: int, use_gpu: bool):
        import spacy_cot_distill  # noqa: F401  (doc extensions in the worker process)

        self.nlp = load_pipeline(model, 0 if use_gpu else -1)
        self.fmt = fmt
        self.batch_size = batch_size

    def __call__(self, batch: Dict[str, numpy.ndarray]) -> Dict[str, numpy.ndarray]:
        """Per line: status ("ok", "blank" or "error"), the id as JSON ("" when the line gives none), and
        the annotation as JSON or the error message."""
        parsed: List[Union[Dict[str, Any], ValueError, None]] = []
        for line in batch["text"]:
            try:
                parsed.append(parse_line(str(line), self.fmt))
            except ValueError as err:
                parsed.append(err)
        docs = iter(self.nlp.pipe([r["text"] for r in parsed if isinstance(r, dict)], batch_size=self.batch_size))
        status, ids, bodies = [], [], []
        for record in parsed:
            if isinstance(record, dict):
                status.append("ok")
                ids.append(json.dumps(record["id"], ensure_ascii=False) if "id" in record else "")
                bodies.append(json.dumps(annotation(next(docs)), ensure_ascii=False))
            else:
                status.append("blank" if record is None else "error")
                ids.append("")
                bodies.append("" if record is None else str(record))
        return {
            "path": batch["path"],
            "status": numpy.array(status, dtype=object),
            "id": numpy.array(ids, dtype=object),
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
    input_path (str): JSONL or plain text (a file, folder or URI Ray's `read_text` reads), or a .spacy DocBin.
    output_path (Path): The JSONL to write, as `annotate` writes it.
    workers (int): Actors, each with one loaded pipeline (`map_batches(concurrency=workers)`).
    batch_size (int): Lines per Ray batch, and docs per `nlp.pipe` batch.
    gpu_id (int): -1 for CPU; else each actor asks Ray for one GPU.
    cpus_per_worker (float): CPUs each actor reserves.
    on_error (str): "skip" a bad line (warned, counted) or "fail" the run.
    progress (bool): Show a progress bar with docs/s.
    RETURNS (AnnotateStats): What the run wrote and skipped.
    """
    import ray
    from tqdm import tqdm

    fmt = input_format(input_path)
    started = not ray.is_initialized()
    if started:
        ray.init()  # RAY_ADDRESS, else a local instance
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        dataset: Any
        if fmt == "spacy":
            rows = [{"path": input_path, "text": json.dumps(record, ensure_ascii=False)}
                    for _, record in read_records(Path(input_path), "spacy")]
            dataset, fmt = ray.data.from_items(rows), "jsonl"
        else:
            # reading is I/O: it must not wait for the CPUs the actors hold (2 actors on 2 cores starved it)
            dataset = ray.data.read_text(input_path, drop_empty_lines=False, include_paths=True, num_cpus=0)
        dataset = dataset.map_batches(
            PipelineActor,
            fn_constructor_kwargs={"model": model, "fmt": fmt, "batch_size": batch_size, "use_gpu": gpu_id >= 0},
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
    numbers: Dict[str, int] = {}
    output_path.parent.mkdir(parents=True, exist_ok=True)
    partial = output_path.with_name(output_path.name + ".part")
    try:
        with bar, partial.open("w", encoding="utf-8") as out:
            for row in dataset.iter_rows():
                number = numbers[row["path"]] = numbers.get(row["path"], 0) + 1
                if row["status"] == "blank":
                    stats.blank += 1
                elif row["status"] == "error":
                    report(InputError(row["path"], number, row["body"]), on_error,
                           stats, lambda line: bar.write(line, file=sys.stderr))
                else:
                    doc_id: Optional[Any] = json.loads(row["id"]) if row["id"] else number
                    out.write(json.dumps({"id": doc_id, **json.loads(row["body"])}, ensure_ascii=False) + "\n")
                    stats.written += 1
                    bar.update(1)
        os.replace(partial, output_path)
    finally:
        partial.unlink(missing_ok=True)
    return stats

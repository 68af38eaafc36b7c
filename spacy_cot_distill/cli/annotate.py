from pathlib import Path

import typer
from wasabi import msg

from ._app import app
from ._util import input_errors


@app.command("annotate")
def annotate_cli(
    model: str = typer.Argument(..., help="A trained pipeline (directory or package name)"),
    input_path: str = typer.Argument(..., help="JSONL ({\"id\", \"text\"} a line), .spacy, or plain text (a doc a line)"),
    output: Path = typer.Argument(..., help="JSONL to write: id, text, entities, relations a line, in input order"),
    batch_size: int = typer.Option(64, "--batch-size", "-b", min=1, help="Docs per batch"),
    n_process: int = typer.Option(1, "--n-process", "-n", min=1, help="Processes (spaCy's nlp.pipe multiprocessing)"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
    on_error: str = typer.Option("skip", "--on-error", help="A bad input line: 'skip' it (warned, counted) or 'fail'"),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run of this input after the complete lines of OUTPUT (checked against the input)"),
    ray: bool = typer.Option(False, "--ray", help="Run on Ray ($RAY_ADDRESS, or a local instance): one pipeline per worker"),
    workers: int = typer.Option(2, "--workers", min=1, help="With --ray: Ray actors, each holding one loaded pipeline"),
    cpus_per_worker: float = typer.Option(1.0, "--cpus-per-worker", min=0.0, help="With --ray: CPUs each actor reserves"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar with docs/s"),
):
    """Run a pipeline over a corpus of any size, streaming, and write a JSON line per doc."""
    from ..annotate import ON_ERROR, annotate

    if on_error not in ON_ERROR:
        msg.fail(f"--on-error must be one of {', '.join(ON_ERROR)}", exits=1)
    with input_errors():
        if ray:
            if resume:
                msg.fail("--resume is for single-machine runs: a Ray run writes OUTPUT whole again", exits=1)
            if n_process != 1:
                msg.fail("--n-process is for single-machine runs: give --workers with --ray", exits=1)
            from ..ray_annotate import ray_annotate

            stats = ray_annotate(model, input_path, output, workers=workers, batch_size=batch_size, gpu_id=gpu_id,
                                 cpus_per_worker=cpus_per_worker, on_error=on_error, progress=progress)
        else:
            stats = annotate(model, Path(input_path), output, batch_size=batch_size, n_process=n_process,
                             gpu_id=gpu_id, on_error=on_error, resume=resume, progress=progress)
    resumed = f" after {stats.resumed} already there" if stats.resumed else ""
    msg.good(f"Wrote {stats.written} docs to {output}{resumed}")
    if stats.blank:
        msg.info(f"{stats.blank} blank lines skipped")
    if stats.skipped:
        msg.warn(f"{len(stats.skipped)} bad lines skipped (listed above), first: {stats.skipped[0]}")

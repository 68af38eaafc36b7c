from pathlib import Path
from typing import Optional

import typer

from ._app import app
from ..annotate import load_pipeline
from ._util import input_errors


@app.command("evaluate")
def evaluate_cli(
    model: str = typer.Argument(..., help="A trained pipeline (directory or package name)"),
    data_path: Path = typer.Argument(..., help="Gold .spacy DocBin"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the scores to this JSON file"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
):
    """Score a pipeline on gold docs (text only): P/R/F per entity type and relation label."""
    import srsly

    from ..evaluate import evaluate, print_scores
    from ..files import refuse_overwrite, write_file

    with input_errors():
        if output is not None:
            refuse_overwrite(output, model, data_path)
        scores = evaluate(load_pipeline(model, gpu_id), data_path)
        print_scores(scores)
        if output is not None:
            write_file(output, srsly.json_dumps(scores, indent=2))

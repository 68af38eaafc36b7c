from pathlib import Path
from typing import Optional

import typer

from ._app import app


@app.command("evaluate")
def evaluate_cli(
    model: str = typer.Argument(..., help="A trained pipeline (directory or package name)"),
    data_path: Path = typer.Argument(..., help="Gold .spacy DocBin"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the scores to this JSON file"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
):
    """Score a pipeline on gold docs (text only): P/R/F per entity type and relation label."""
    from ..evaluate import evaluate, print_scores

    scores = evaluate(model, data_path, gpu_id=gpu_id)
    print_scores(scores)
    if output is not None:
        import srsly

        output.parent.mkdir(parents=True, exist_ok=True)
        srsly.write_json(output, scores)

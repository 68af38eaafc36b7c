from pathlib import Path

import typer
from wasabi import msg

from ._app import app
from ._util import fail, input_errors


@app.command("quantize")
def quantize_cli(
    model: str = typer.Argument(..., help="A trained pipeline (directory or package name)"),
    output: Path = typer.Argument(..., help="Directory to write the int8 pipeline to: a new or empty one, or an earlier output of quantize (replaced whole)"),
    force: bool = typer.Option(False, "--force", help="Replace OUT even if it is something else (never the input, nor a folder holding it)"),
):
    """Write an int8 copy of a pipeline: cot_ner/cot_rel Linear layers with int8 weights and per-token int8
    activations, for CPU inference."""
    from ..annotate import load_pipeline
    from ..quantize import check_output, describe_int8, quantize_pipeline, save_pipeline

    with input_errors():
        check_output(output, model, force)
        nlp = load_pipeline(model)
        try:
            names = quantize_pipeline(nlp)
        except ValueError as err:
            fail(str(err))
        describe_int8(nlp.meta)
        save_pipeline(nlp, output)
    msg.good(f"Wrote the int8 pipeline ({', '.join(names)} quantised) to {output}")

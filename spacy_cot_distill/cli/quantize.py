from pathlib import Path

import typer
from wasabi import msg

from ._app import app


@app.command("quantize")
def quantize_cli(
    model: str = typer.Argument(..., help="A trained pipeline (directory or package name)"),
    output: Path = typer.Argument(..., help="Directory to write the int8 pipeline to (replaced whole)"),
):
    """Write an int8 copy of a pipeline: cot_ner/cot_rel Linear layers dynamically quantised, for CPU inference."""
    import shutil
    import tempfile

    import spacy

    from ..quantize import quantize_pipeline

    nlp = spacy.load(model)
    try:
        names = quantize_pipeline(nlp)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    nlp.meta["description"] = (nlp.meta.get("description") or "") + " (int8: Linear layers dynamically quantised)"
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent) as tmp:  # whole or not at all
        nlp.to_disk(Path(tmp) / "pipeline")
        if output.exists():
            shutil.rmtree(output)
        (Path(tmp) / "pipeline").rename(output)
    msg.good(f"Wrote the int8 pipeline ({', '.join(names)} quantised) to {output}")

from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from ._app import app
from ..annotate import load_pipeline
from ._util import fail, input_errors


@app.command("teach")
def teach_cli(
    model: str = typer.Argument(..., help="A trained cot_ner pipeline: configs/cot_ner_teacher.cfg (or joint training)"),
    input_path: Path = typer.Argument(..., help="Training .spacy DocBin, with the knowledge the teacher reads"),
    output_path: Path = typer.Argument(..., help="Output .spacy DocBin: the docs with their teacher distributions (may be the input: replaced whole)"),
    component: Optional[str] = typer.Option(None, "--component", help="The cot_ner component's name (default: the pipeline's one cot_ner)"),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="T of the distributions (default: the component's); a student at another T re-tempers a softmax head's, a CRF head's must match"),
    batch_size: int = typer.Option(64, "--batch-size", "-b", min=1, help="Docs per forward pass"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
):
    """Store a trained teacher's per-token distributions on training docs (two-stage distillation), for a student
    trained with distill_from = "stored"."""
    from ..teach import find_teacher, teach

    if temperature is not None and temperature <= 0:
        fail(f"--temperature must be positive, not {temperature}")
    with input_errors():
        nlp = load_pipeline(model, gpu_id)
        try:
            pipe = find_teacher(nlp, component)
        except ValueError as err:
            fail(f"{model}: {err}")
        summary = teach(pipe, input_path, output_path, temperature=temperature, batch_size=batch_size)
    summary.print()
    msg.good(f"Wrote {output_path}")

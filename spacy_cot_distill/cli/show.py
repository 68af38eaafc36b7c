from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from ._app import app
from ..annotate import load_pipeline
from ._util import input_errors


@app.command("show")
def show_cli(
    source: str = typer.Argument(..., help="A trained pipeline (directory or package name) or a .spacy DocBin"),
    text: Optional[List[str]] = typer.Option(None, "--text", help="Text to run the pipeline on (repeatable)"),
    out: Path = typer.Option(Path("page.html"), "--out", help="HTML file to write"),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many docs of a DocBin"),
):
    """Render entities, relation arcs and CoT knowledge as an HTML page (displaCy)."""
    import itertools

    from ..data.docbin import read_docs
    from ..display import render_page
    from ..files import refuse_overwrite, write_file

    with input_errors():
        refuse_overwrite(out, source)
        if source.endswith(".spacy"):
            if text:
                msg.fail("--text runs a pipeline: give a pipeline, not a DocBin", exits=1)
            docs = iter(read_docs(source))
        else:
            if not text:
                msg.fail("give --text to run the pipeline on", exits=1)
            docs = load_pipeline(source).pipe(text)
        write_file(out, render_page(itertools.islice(docs, limit), title=source))
    msg.good(f"Wrote {out}")

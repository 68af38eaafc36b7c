from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from ._app import app


@app.command("show")
def show_cli(
    source: str = typer.Argument(..., help="A trained pipeline (directory or package name) or a .spacy DocBin"),
    text: Optional[List[str]] = typer.Option(None, "--text", help="Text to run the pipeline on (repeatable)"),
    out: Path = typer.Option(Path("page.html"), "--out", help="HTML file to write"),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many docs of a DocBin"),
):
    """Render entities, relation arcs and CoT knowledge as an HTML page (displaCy)."""
    import itertools

    import spacy
    from spacy.tokens import DocBin

    from ..display import render_page

    if source.endswith(".spacy"):
        if text:
            msg.fail("--text runs a pipeline: give a pipeline, not a DocBin", exits=1)
        docs = DocBin().from_disk(source).get_docs(spacy.blank("en").vocab)
    else:
        if not text:
            msg.fail("give --text to run the pipeline on", exits=1)
        docs = spacy.load(source).pipe(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_page(itertools.islice(docs, limit), title=source), encoding="utf-8")
    msg.good(f"Wrote {out}")

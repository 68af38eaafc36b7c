from pathlib import Path

import typer

from ..data.docbin import read_docs, write_docs
from ..data.knowledge import attach_knowledge, read_knowledge
from ..data.summary import ConversionSummary
from ..files import refuse_overwrite
from ._app import app
from ._util import input_errors


@app.command("import-knowledge")
def import_knowledge_cli(
    input_path: Path = typer.Argument(..., help="Input .spacy DocBin"),
    knowledge_path: Path = typer.Argument(..., help="Knowledge JSONL ('cot' objects or 'knowledge' strings)"),
    output_path: Path = typer.Argument(..., help="Output .spacy DocBin (may be the input: it is replaced whole)"),
    knowledge_dim: str = typer.Option("external", "--knowledge-dim", help="Dimension name for 'knowledge' strings"),
):
    """Put an existing knowledge file into doc._.cot, matched by doc id (or tokens), without any LLM call."""
    summary = ConversionSummary()
    with input_errors():
        refuse_overwrite(output_path, knowledge_path)
        docs = list(attach_knowledge(read_docs(input_path), read_knowledge(knowledge_path, knowledge_dim), summary))
        summary.add_docs(docs)
        write_docs(output_path, docs)
    summary.print()

from pathlib import Path
from typing import Optional

import typer

from ..data.convert import convert_jsonl, convert_mnre, convert_twitter
from ._app import app
from ._util import input_errors

convert_app = typer.Typer(help="Convert a labelled corpus to a .spacy DocBin.", no_args_is_help=True)
app.add_typer(convert_app, name="convert")

KNOWLEDGE_HELP = "Knowledge JSONL ('cot' objects or 'knowledge' strings) to put into doc._.cot"


@convert_app.command("twitter")
def twitter_cli(
    input_path: Path = typer.Argument(..., help="Twitter-2015/2017 CoNLL file (IMGID lines, token<TAB>tag)"),
    output_path: Path = typer.Argument(..., help="Output .spacy file"),
    captions: Optional[Path] = typer.Option(None, "--captions", help="BLIP-2 caption file '<imgid>.jpg :<caption>'"),
    knowledge: Optional[Path] = typer.Option(None, "--knowledge", help=KNOWLEDGE_HELP),
    knowledge_dim: str = typer.Option("external", "--knowledge-dim", help="Dimension name for 'knowledge' strings"),
    unlabelled: bool = typer.Option(
        False, "--unlabelled", help="Hide the gold: every entity tag missing (training data the teacher labels)"
    ),
):
    """Twitter-2015/2017 multimodal NER to a DocBin with entities, image ids, captions, knowledge."""
    with input_errors():
        convert_twitter(input_path, output_path, captions, knowledge, knowledge_dim, unlabelled).print()


@convert_app.command("mnre")
def mnre_cli(
    input_path: Path = typer.Argument(..., help="MNRE text file (one Python dict literal a line)"),
    output_path: Path = typer.Argument(..., help="Output .spacy file"),
    knowledge: Optional[Path] = typer.Option(None, "--knowledge", help=KNOWLEDGE_HELP),
    knowledge_dim: str = typer.Option("external", "--knowledge-dim", help="Dimension name for 'knowledge' strings"),
):
    """MNRE relations to a DocBin, one doc per sentence, its pairs in doc._.relations."""
    with input_errors():
        convert_mnre(input_path, output_path, knowledge, knowledge_dim).print()


@convert_app.command("jsonl")
def jsonl_cli(
    input_path: Path = typer.Argument(..., help="JSONL in the generic format (see the README)"),
    output_path: Path = typer.Argument(..., help="Output .spacy file"),
    lang: str = typer.Option("en", "--lang", help="Language of the tokenizer for 'text' records"),
    missing_as_empty: bool = typer.Option(
        False, "--missing-as-empty",
        help="Read a line without 'entities' or 'relations' as annotated with none (all O), as 0.1.0 did, "
             "not as unlabelled",
    ),
    unlabelled: bool = typer.Option(
        False, "--unlabelled",
        help="The file holds raw posts only: refuse a line with 'entities' or 'relations' (before any LLM is asked "
             "about it)",
    ),
):
    """Your own data (text or tokens, entities, relations, knowledge) to a DocBin.

    A line without an 'entities' key is unlabelled (every entity tag missing); one without 'relations' is
    not annotated for relations.
    """
    if unlabelled and missing_as_empty:
        raise typer.BadParameter("--unlabelled and --missing-as-empty contradict each other: give one of them")
    with input_errors():
        convert_jsonl(input_path, output_path, lang, missing_as_empty, unlabelled).print()

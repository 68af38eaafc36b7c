import typer

app = typer.Typer(
    name="cot-distill",
    help="Distil an LLM's chain-of-thought into a small, fast spaCy pipeline.",
    no_args_is_help=True,
    add_completion=False,
)

"""Shared CLI behaviour: input errors become a clear message and exit code 1."""
import contextlib

import typer

from ..errors import InputError


@contextlib.contextmanager
def input_errors():
    """Print an InputError as one unwrapped line naming the file and line, and exit 1."""
    try:
        yield
    except InputError as err:
        typer.secho(f"✘ {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None

"""Shared CLI behaviour: input errors become a clear message and exit code 1; the LLM options of generate and augment."""
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


# the options `generate` and `augment` both take, defined once
MODEL = typer.Option(..., "--model", help="Model name on the server")
BASE_URL = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL or OpenAI)")
CONCURRENCY = typer.Option(8, "--concurrency", min=1, help="Requests in flight")
MAX_TOKENS = typer.Option(256, "--max-tokens", min=1, help="Completion tokens per answer")
TIMEOUT = typer.Option(60.0, "--timeout", min=0.1, help="Seconds per request")
MAX_RETRIES = typer.Option(5, "--max-retries", min=0, help="Retries per request (429, 5xx, timeouts, drops, malformed bodies)")
MAX_OUTAGE = typer.Option(5.0, "--max-outage", min=0.0, help="Stop when every connection has been refused, dropped or timed out for this many seconds")
MAX_FAILED = typer.Option(0.01, "--max-failed", min=0.0, max=1.0, help="Exit 1 when a larger share of requests failed")

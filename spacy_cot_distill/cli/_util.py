"""Shared CLI behaviour: input errors become a clear message and exit code 1; the LLM options of generate and augment."""
import contextlib
from pathlib import Path
from typing import List, NoReturn, Optional

import typer

from ..errors import InputError
from ..llm.client import LLMSettings


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `message` as one unwrapped line (wasabi wraps at 80 columns: a long path would break) and exit."""
    typer.secho(f"✘ {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def input_errors():
    """Print an InputError as one unwrapped line naming the file and line, and exit 1."""
    try:
        yield
    except InputError as err:
        fail(str(err))


# the options `generate` and `augment` both take, defined once
MODEL = typer.Option(..., "--model", help="Model name on the server")
BASE_URL = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL or OpenAI)")
CONCURRENCY = typer.Option(8, "--concurrency", min=1, help="Requests in flight")
MAX_TOKENS = typer.Option(256, "--max-tokens", min=1, help="Completion tokens per answer")
TIMEOUT = typer.Option(60.0, "--timeout", min=0.1, help="Seconds per request")
MAX_RETRIES = typer.Option(5, "--max-retries", min=0, help="Retries per request (429, 5xx, timeouts, drops, malformed bodies)")
MAX_OUTAGE = typer.Option(5.0, "--max-outage", min=0.0, help="Stop when every connection has been refused, dropped or timed out for this many seconds")
MAX_FAILED = typer.Option(0.01, "--max-failed", min=0.0, max=1.0, help="Exit 1 when a larger share of requests failed")


def llm_settings(model: str, base_url: Optional[str], concurrency: int, max_tokens: int, temperature: float,
                 timeout: float, max_retries: int, max_outage: float) -> LLMSettings:
    """The LLMSettings of the LLM options above (and the command's own --temperature)."""
    return LLMSettings(model=model, base_url=base_url, max_tokens=max_tokens, temperature=temperature,
                       timeout=timeout, max_retries=max_retries, concurrency=concurrency, max_outage=max_outage)


def cache_path(cache: Optional[Path], output_path: Path) -> Path:
    """The --cache given, else llm_cache.sqlite next to the output."""
    return cache or output_path.parent / "llm_cache.sqlite"


def names(value: str) -> List[str]:
    """The names of a comma-separated option (--dims, --kinds); at least one."""
    found = [name.strip() for name in value.split(",") if name.strip()]
    if not found:
        raise typer.BadParameter("name at least one, e.g. noun,sentence")
    return found

from pathlib import Path
from typing import Optional, Tuple

import typer
from wasabi import msg

from ..llm.generate import generate_docbin
from ._app import app
from ._util import (BASE_URL, CONCURRENCY, MAX_FAILED, MAX_OUTAGE, MAX_RETRIES, MAX_TOKENS, MODEL, TIMEOUT, cache_path,
                    fail, llm_settings, names)


def _shard(value: Optional[str]) -> Optional[Tuple[int, int]]:
    if value is None:
        return None
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        raise typer.BadParameter(f"expected I/N, e.g. 2/8, got {value!r}") from None
    if not 1 <= index <= count:
        raise typer.BadParameter(f"shard {value} does not exist: use 1 <= I <= N")
    return index, count


@app.command("generate")
def generate_cli(
    input_path: Path = typer.Argument(..., help="Input .spacy DocBin"),
    output_path: Path = typer.Argument(..., help="Output .spacy DocBin with doc._.cot filled"),
    dims: str = typer.Option("noun,sentence,multimodal", "--dims", help="Comma-separated CoT dimensions"),
    model: str = MODEL,
    base_url: Optional[str] = BASE_URL,
    cache: Optional[Path] = typer.Option(None, "--cache", help="Response cache (SQLite); default: llm_cache.sqlite next to the output"),
    concurrency: int = CONCURRENCY,
    max_tokens: int = MAX_TOKENS,
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, max=2.0, help="Sampling temperature"),
    timeout: float = TIMEOUT,
    max_retries: int = MAX_RETRIES,
    max_outage: float = MAX_OUTAGE,
    max_failed: float = MAX_FAILED,
    task: str = typer.Option("ner", "--task", help="ner: one prompt per doc; rel: one per relation pair (answers in each relation's 'cot')"),
    template_dir: Optional[Path] = typer.Option(None, "--template-dir", help="Your prompt templates (system.jinja, ner/<dim>.jinja, rel/<dim>.jinja)"),
    image_dir: Optional[Path] = typer.Option(None, "--image-dir", help="Send doc._.image_id files from here as images (vision models), else the caption"),
    shard: Optional[str] = typer.Option(None, "--shard", help="Run shard I/N of the docs (every N-th doc from the I-th)"),
    batch_api: bool = typer.Option(False, "--batch-api", help="Use the Batch API (files + batches) instead of live requests"),
    poll_interval: float = typer.Option(30.0, "--poll-interval", min=0.01, help="Seconds between batch status checks"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print requests, cached answers and estimated tokens; ask nothing"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar"),
):
    """Ask an LLM for chain-of-thought per doc and dimension into doc._.cot (API key from $OPENAI_API_KEY)."""
    settings = llm_settings(model, base_url, concurrency, max_tokens, temperature, timeout, max_retries, max_outage)
    cache = cache_path(cache, output_path)
    try:
        result = generate_docbin(
            input_path, output_path, names(dims), settings, cache, template_dir=template_dir, task=task,
            image_dir=image_dir, shard=_shard(shard), batch_api=batch_api, poll_interval=poll_interval,
            dry_run=dry_run, progress=progress,
        )
    except KeyboardInterrupt:
        msg.fail(f"Interrupted. Every answer received so far is in {cache}: run the same command to resume.", exits=130)  # type: ignore[call-overload]  # 130: Ctrl-C
    except (ValueError, RuntimeError) as err:  # bad input (InputError), templates, options, a missing API key
        fail(str(err))
    result.print()
    if not dry_run:
        msg.good(f"Wrote {output_path}")
        if result.failed_share > max_failed:
            msg.fail(f"More than {max_failed:.1%} of the requests failed: run again to retry them.", exits=1)

from pathlib import Path
from typing import List, Optional, Tuple

import typer
from spacy.tokens import DocBin
from wasabi import msg

from ..data.knowledge import attach_knowledge, read_knowledge
from ..data.summary import ConversionSummary
from ..llm.cache import ResponseCache
from ..llm.client import LLMSettings
from ..llm.generate import generate_docbin, read_docs
from ._app import app
from ._util import BASE_URL, CONCURRENCY, MAX_FAILED, MAX_RETRIES, MAX_TOKENS, MODEL, TIMEOUT, input_errors

cache_app = typer.Typer(help="Manage the LLM response cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


def _dims(value: str) -> List[str]:
    dims = [dim.strip() for dim in value.split(",") if dim.strip()]
    if not dims:
        raise typer.BadParameter("name at least one dimension, e.g. noun,sentence")
    return dims


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
    temperature: float = typer.Option(0.0, "--temperature", help="Sampling temperature"),
    timeout: float = TIMEOUT,
    max_retries: int = MAX_RETRIES,
    max_failed: float = MAX_FAILED,
    task: str = typer.Option("ner", "--task", help="ner: one prompt per doc; rel: one per relation pair (answers in each relation's 'cot')"),
    template_dir: Optional[Path] = typer.Option(None, "--template-dir", help="Your prompt templates (system.jinja, ner/<dim>.jinja, rel/<dim>.jinja)"),
    image_dir: Optional[Path] = typer.Option(None, "--image-dir", help="Send doc._.image_id files from here as images (vision models), else the caption"),
    shard: Optional[str] = typer.Option(None, "--shard", help="Run shard I/N of the docs (every N-th doc from the I-th)"),
    batch_api: bool = typer.Option(False, "--batch-api", help="Use the Batch API (files + batches) instead of live requests"),
    poll_interval: float = typer.Option(30.0, "--poll-interval", help="Seconds between batch status checks"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print requests, cached answers and estimated tokens; ask nothing"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar"),
):
    """Ask an LLM for chain-of-thought per doc and dimension into doc._.cot (API key from $OPENAI_API_KEY)."""
    settings = LLMSettings(model=model, base_url=base_url, max_tokens=max_tokens, temperature=temperature,
                           timeout=timeout, max_retries=max_retries, concurrency=concurrency)
    cache = cache or output_path.parent / "llm_cache.sqlite"
    try:
        result = generate_docbin(
            input_path, output_path, _dims(dims), settings, cache, template_dir=template_dir, task=task,
            image_dir=image_dir, shard=_shard(shard), batch_api=batch_api, poll_interval=poll_interval,
            dry_run=dry_run, progress=progress,
        )
    except KeyboardInterrupt:
        msg.fail(f"Interrupted. Every answer received so far is in {cache}: run the same command to resume.", exits=130)  # type: ignore[call-overload]  # 130: Ctrl-C
    except (ValueError, RuntimeError) as err:  # bad input (InputError), templates, options, a missing API key
        msg.fail(str(err), exits=1)
    result.print()
    if not dry_run:
        msg.good(f"Wrote {output_path}")
        if result.failed_share > max_failed:
            msg.fail(f"More than {max_failed:.1%} of the requests failed: run again to retry them.", exits=1)


@app.command("import-knowledge")
def import_knowledge_cli(
    input_path: Path = typer.Argument(..., help="Input .spacy DocBin"),
    knowledge_path: Path = typer.Argument(..., help="Knowledge JSONL ('cot' objects or 'knowledge' strings)"),
    output_path: Path = typer.Argument(..., help="Output .spacy DocBin"),
    knowledge_dim: str = typer.Option("external", "--knowledge-dim", help="Dimension name for 'knowledge' strings"),
):
    """Put an existing knowledge file into doc._.cot, matched by doc id (or tokens), without any LLM call."""
    summary = ConversionSummary()
    with input_errors():
        docs = list(attach_knowledge(read_docs(input_path), read_knowledge(knowledge_path, knowledge_dim), summary))
    summary.add_docs(docs)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=docs, store_user_data=True).to_disk(output_path)
    summary.print()


@cache_app.command("merge")
def cache_merge_cli(
    target: Path = typer.Argument(..., help="Cache to merge into (created if missing)"),
    sources: List[Path] = typer.Argument(..., help="Caches to merge from, e.g. those of --shard runs"),
):
    """Merge response caches (e.g. of shards run on several machines) into one."""
    with ResponseCache(target) as cache:
        for source in sources:
            try:
                added = cache.merge(source)
            except FileNotFoundError as err:
                msg.fail(str(err), exits=1)
            msg.text(f"{source}: {added} new answers")
        msg.good(f"{target}: {len(cache)} answers")

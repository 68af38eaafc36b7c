from pathlib import Path
from typing import Optional

import srsly
import typer
from spacy.tokens import DocBin
from wasabi import msg

from ..augment.augment import augment_docbin, print_summaries
from ..llm.cache import ResponseCache
from ..llm.client import LLMSettings
from ..llm.generate import generate
from ..llm.prompts import PromptTemplates
from ._app import app
from ._util import input_errors
from .generate import _dims


@app.command("augment")
def augment_cli(
    input_path: Path = typer.Argument(..., help="Input .spacy DocBin (training docs only)"),
    output_path: Path = typer.Argument(..., help="Output .spacy DocBin holding only the new docs"),
    kinds: str = typer.Option("style,entity,image", "--kinds", help="Comma-separated augmentation kinds"),
    per_doc: int = typer.Option(1, "--per-doc", min=1, help="New docs to try per doc (or relation pair) and kind"),
    seed: int = typer.Option(0, "--seed", help="Seed of the entity swaps; draw n sends seed + n as the request seed"),
    model: str = typer.Option(..., "--model", help="Model name on the server"),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL or OpenAI)"),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Response cache (SQLite), shared with `generate`; default: llm_cache.sqlite next to the output"),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="Requests in flight"),
    max_tokens: int = typer.Option(256, "--max-tokens", min=1, help="Completion tokens per answer"),
    temperature: float = typer.Option(0.7, "--temperature", help="Sampling temperature of rewrites and captions (the yes/no check uses 0)"),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds per request"),
    max_retries: int = typer.Option(5, "--max-retries", min=0, help="Retries per request (429, 5xx, timeouts, drops, malformed bodies)"),
    max_failed: float = typer.Option(0.01, "--max-failed", min=0.0, max=1.0, help="Exit 1 when a larger share of requests failed"),
    task: str = typer.Option("ner", "--task", help="ner: one sample per doc; rel: one per relation pair"),
    template_dir: Optional[Path] = typer.Option(None, "--template-dir", help="Your prompt templates (system.jinja, ner/<kind>.jinja, rel/<kind>.jinja)"),
    lang: str = typer.Option("en", "--lang", help="Language whose tokenizer splits the rewrites (the pipeline's)"),
    pool_path: Optional[Path] = typer.Option(None, "--pool", help="DocBin whose entities the swaps draw from (default: the input), e.g. the whole training set"),
    dims: Optional[str] = typer.Option(None, "--dims", help="Also generate these knowledge dims for the new docs (default: none, doc._.cot stays empty)"),
    summary_path: Optional[Path] = typer.Option(None, "--summary", help="Write the summary per kind as JSON here"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar"),
):
    """Make new training docs with an LLM: style rewrites, plausible entity swaps, imagined captions."""
    settings = LLMSettings(model=model, base_url=base_url, max_tokens=max_tokens, temperature=temperature,
                           timeout=timeout, max_retries=max_retries, concurrency=concurrency)
    cache = cache or output_path.parent / "llm_cache.sqlite"
    with input_errors():
        try:
            docs, summaries = augment_docbin(
                input_path, output_path, _dims(kinds), settings, cache, per_doc=per_doc, seed=seed,
                template_dir=template_dir, task=task, lang=lang, pool_path=pool_path, progress=progress,
            )
            if dims:
                with ResponseCache(cache) as responses:
                    report = generate(docs, _dims(dims), settings, responses,
                                      templates=PromptTemplates(template_dir), task=task, progress=progress)
                DocBin(docs=docs, store_user_data=True).to_disk(output_path)
                report.print()
        except KeyboardInterrupt:
            msg.fail(f"Interrupted. Every answer received so far is in {cache}: run the same command to resume.", exits=130)
        except (ValueError, RuntimeError) as err:
            msg.fail(str(err), exits=1)
    print_summaries(summaries)
    if summary_path is not None:
        srsly.write_json(summary_path, {kind: s.as_dict() for kind, s in summaries.items()})
    msg.good(f"Wrote {len(docs)} new docs to {output_path}")
    requests = sum(s.requests for s in summaries.values())
    failed = sum(len(s.failures) for s in summaries.values())
    if requests and failed / requests > max_failed:
        msg.fail(f"More than {max_failed:.1%} of the requests failed: run again to retry them.", exits=1)

from pathlib import Path
from typing import Optional

import srsly
import typer
from wasabi import msg

from ..augment.augment import augment_docbin, print_summaries
from ..data.docbin import write_docs
from ..files import write_file
from ..llm.cache import ResponseCache
from ..llm.generate import generate
from ..llm.prompts import PromptTemplates
from ._app import app
from ._util import (BASE_URL, CONCURRENCY, MAX_FAILED, MAX_OUTAGE, MAX_RETRIES, MAX_TOKENS, MODEL, TIMEOUT, cache_path,
                    fail, input_errors, llm_settings, names)


@app.command("augment")
def augment_cli(
    input_path: Path = typer.Argument(..., help="Input .spacy DocBin (training docs only)"),
    output_path: Path = typer.Argument(..., help="Output .spacy DocBin holding only the new docs"),
    kinds: str = typer.Option("style,entity,image", "--kinds", help="Comma-separated augmentation kinds"),
    per_doc: int = typer.Option(1, "--per-doc", min=1, help="New docs to try per doc (or relation pair) and kind"),
    seed: int = typer.Option(0, "--seed", help="Seed of the entity swaps; draw n sends seed + n as the request seed"),
    model: str = MODEL,
    base_url: Optional[str] = BASE_URL,
    cache: Optional[Path] = typer.Option(None, "--cache", help="Response cache (SQLite), shared with `generate`; default: llm_cache.sqlite next to the output"),
    concurrency: int = CONCURRENCY,
    max_tokens: int = MAX_TOKENS,
    temperature: float = typer.Option(0.7, "--temperature", min=0.0, max=2.0, help="Sampling temperature of rewrites and captions (the yes/no check uses 0)"),
    timeout: float = TIMEOUT,
    max_retries: int = MAX_RETRIES,
    max_outage: float = MAX_OUTAGE,
    max_failed: float = MAX_FAILED,
    task: str = typer.Option("ner", "--task", help="ner: one sample per doc; rel: one per relation pair"),
    template_dir: Optional[Path] = typer.Option(None, "--template-dir", help="Your prompt templates (system.jinja, ner/<kind>.jinja, rel/<kind>.jinja)"),
    lang: str = typer.Option("en", "--lang", help="Language whose tokenizer splits the rewrites (the pipeline's)"),
    pool_path: Optional[Path] = typer.Option(None, "--pool", help="DocBin whose entities the swaps draw from (default: the input), e.g. the whole training set"),
    dims: Optional[str] = typer.Option(None, "--dims", help="Also generate these knowledge dims for the new docs (default: none, doc._.cot stays empty)"),
    summary_path: Optional[Path] = typer.Option(None, "--summary", help="Write the summary per kind as JSON here"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar"),
):
    """Make new training docs with an LLM: style rewrites, plausible entity swaps, imagined captions."""
    settings = llm_settings(model, base_url, concurrency, max_tokens, temperature, timeout, max_retries, max_outage)
    cache = cache_path(cache, output_path)
    requests = failed = 0  # of the knowledge step (--dims)
    with input_errors():
        try:
            docs, summaries = augment_docbin(
                input_path, output_path, names(kinds), settings, cache, per_doc=per_doc, seed=seed,
                template_dir=template_dir, task=task, lang=lang, pool_path=pool_path, progress=progress,
            )
            if dims:
                with ResponseCache(cache) as responses:
                    report = generate(docs, names(dims), settings, responses,
                                      templates=PromptTemplates(template_dir), task=task, progress=progress)
                write_docs(output_path, docs)
                report.print()
                requests, failed = report.requests, len(report.failures)
        except KeyboardInterrupt:
            msg.fail(f"Interrupted. Every answer received so far is in {cache}: run the same command to resume.", exits=130)  # type: ignore[call-overload]  # 130: Ctrl-C
        except (ValueError, RuntimeError) as err:
            fail(str(err))
    print_summaries(summaries)
    if summary_path is not None:
        with input_errors():
            write_file(summary_path, srsly.json_dumps({kind: s.as_dict() for kind, s in summaries.items()}, indent=2))
    msg.good(f"Wrote {len(docs)} new docs to {output_path}")
    requests += sum(s.requests for s in summaries.values())
    failed += sum(len(s.failures) for s in summaries.values())
    if requests and failed / requests > max_failed:
        msg.fail(f"More than {max_failed:.1%} of the requests failed: run again to retry them.", exits=1)

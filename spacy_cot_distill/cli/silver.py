from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from ._app import app
from ._util import (BASE_URL, CONCURRENCY, MAX_FAILED, MAX_OUTAGE, MAX_RETRIES, TIMEOUT, cache_path, fail, input_errors,
                    llm_settings, names)


@app.command("silver")
def silver_cli(
    input_path: Path = typer.Argument(..., help="Input .spacy DocBin (gold, unlabelled or both)"),
    output_path: Path = typer.Argument(..., help="Output .spacy DocBin with silver entities in doc.spans['silver_ents'] (gold doc.ents untouched)"),
    labels: str = typer.Option(..., "--labels", help="Comma-separated entity labels, e.g. PER,LOC,ORG,MISC"),
    from_knowledge: Optional[str] = typer.Option(None, "--from-knowledge", help="Read the entity lists ('Named entities: 1. X (type) ...') in doc._.cot[DIM] through the Twitter type map: no LLM call"),
    model: Optional[str] = typer.Option(None, "--model", help="Ask this model on the server for the entities (structured output, else a plain JSON prompt)"),
    base_url: Optional[str] = BASE_URL,
    cache: Optional[Path] = typer.Option(None, "--cache", help="Response cache (SQLite), shared with `generate`; default: llm_cache.sqlite next to the output"),
    concurrency: int = CONCURRENCY,
    max_tokens: int = typer.Option(512, "--max-tokens", min=1, help="Completion tokens per answer (a tweet's entity list in JSON)"),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, max=2.0, help="Sampling temperature"),
    timeout: float = TIMEOUT,
    max_retries: int = MAX_RETRIES,
    max_outage: float = MAX_OUTAGE,
    max_failed: float = MAX_FAILED,
    template_dir: Optional[Path] = typer.Option(None, "--template-dir", help="Your prompt templates (silver.jinja: text, labels, json_format)"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar"),
):
    """Label entities as silver, apart from gold: from an LLM (--model) or from the entity lists knowledge answers
    already hold (--from-knowledge). Every mention of a named entity is labelled; names matching no tokens are
    counted as misses."""
    if (from_knowledge is None) == (model is None):
        fail("give --model (ask an LLM) or --from-knowledge DIM (read the entity lists in doc._.cot[DIM]), one of them")
    label_names = names(labels)
    if from_knowledge is not None:
        from ..data.entity_lists import silver_docbin_from_lists

        with input_errors():
            try:
                summary = silver_docbin_from_lists(input_path, output_path, from_knowledge, label_names)
            except ValueError as err:  # the labels the type map needs (an InputError is printed above)
                fail(str(err))
        summary.print()
        msg.good(f"Wrote {output_path}")
        return
    from ..llm.silver import silver_docbin_from_llm

    assert model is not None
    settings = llm_settings(model, base_url, concurrency, max_tokens, temperature, timeout, max_retries, max_outage)
    responses = cache_path(cache, output_path)
    try:
        report, summary, mode = silver_docbin_from_llm(input_path, output_path, label_names, settings, responses,
                                                       template_dir=template_dir, progress=progress)
    except KeyboardInterrupt:
        msg.fail(f"Interrupted. Every answer received so far is in {responses}: run the same command to resume.", exits=130)  # type: ignore[call-overload]  # 130: Ctrl-C
    except (ValueError, RuntimeError) as err:  # bad input (InputError), templates, labels, a missing API key
        fail(str(err))
    report.print()
    msg.info(f"Asked with {mode}")
    summary.print()
    msg.good(f"Wrote {output_path}")
    if report.failed_share > max_failed:
        msg.fail(f"More than {max_failed:.1%} of the requests failed: run again to retry them.", exits=1)

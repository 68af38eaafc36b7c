from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from ..errors import InputError
from ._app import app
from ._util import (BASE_URL, CONCURRENCY, MAX_FAILED, MAX_OUTAGE, MAX_RETRIES, TIMEOUT, cache_path, fail, input_errors,
                    llm_settings, names)


@app.command("silver")
def silver_cli(
    input_path: Path = typer.Argument(..., help="Input .spacy DocBin (gold, unlabelled or both)"),
    output_path: Path = typer.Argument(..., help="Output .spacy DocBin with silver entities in doc.spans['silver_ents'] (gold doc.ents untouched)"),
    labels: Optional[str] = typer.Option(None, "--labels", help="Comma-separated entity labels, e.g. PER,LOC,ORG,MISC (with --from-teacher: the teacher's labels to keep, default all)"),
    from_knowledge: Optional[str] = typer.Option(None, "--from-knowledge", help="Read the entity lists ('Named entities: 1. X (type) ...') in doc._.cot[DIM] through the Twitter type map: no LLM call"),
    model: Optional[str] = typer.Option(None, "--model", help="Ask this model on the server for the entities (structured output, else a plain JSON prompt)"),
    from_teacher: Optional[str] = typer.Option(None, "--from-teacher", help="A trained cot_ner pipeline (directory or package) whose teacher view labels each doc reading its knowledge: no LLM call"),
    component: Optional[str] = typer.Option(None, "--component", help="With --from-teacher: the cot_ner component's name (default: the pipeline's one cot_ner)"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="With --from-teacher: GPU id, or -1 for CPU"),
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
    """Label entities as silver, apart from gold: from an LLM (--model), from the entity lists knowledge answers
    already hold (--from-knowledge), or from a trained cot_ner's teacher view reading each doc's knowledge
    (--from-teacher). Every mention of a name an LLM gives is labelled; names matching no tokens are counted as
    misses."""
    if sum(source is not None for source in (from_knowledge, model, from_teacher)) != 1:
        fail("give one of --model (ask an LLM), --from-knowledge DIM (read the entity lists in doc._.cot[DIM]) and "
             "--from-teacher PIPELINE (a trained cot_ner's teacher view)")
    if from_teacher is not None:
        from ..annotate import load_pipeline
        from ..teach import find_teacher, teacher_silver

        with input_errors():
            nlp = load_pipeline(from_teacher, gpu_id)
            try:
                pipe = find_teacher(nlp, component)
                labelled = teacher_silver(pipe, input_path, output_path, names(labels) if labels else None)
            except InputError:  # the input's own one line, by input_errors
                raise
            except ValueError as err:  # no trained teacher, or labels it does not predict
                fail(f"{from_teacher}: {err}")
        labelled.print()
        msg.good(f"Wrote {output_path}")
        return
    if labels is None:
        fail("give --labels, e.g. --labels PER,LOC,ORG,MISC: the entity labels to ask for or map onto")
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

"""The OpenAI Batch API: upload requests as JSONL, create a batch, poll, and put the answers into the cache.

Every submitted batch is recorded in the cache before polling starts, so a run that dies while a batch
is in flight collects that batch on its next run instead of paying for the requests again.
"""
import asyncio
import io
import json
import os
from typing import Dict, List, Sequence

from wasabi import msg

from .cache import ResponseCache, has_content
from .client import (Answer, LLMSettings, LLMStopped, MalformedResponse, check_completion, empty_answer, make_client,
                     stop_message)
from .prompts import Message

ENDPOINT = "/v1/chat/completions"
MAX_REQUESTS = 50_000  # the Batch API's limit per batch
FINISHED = ("completed", "failed", "expired", "cancelled")


def request_lines(todo: Dict[str, List[Message]], settings: LLMSettings) -> bytes:
    """The batch input file: one request a line, its cache key as custom_id."""
    lines = (
        json.dumps({"custom_id": key, "method": "POST", "url": ENDPOINT, "body": settings.body(messages)})
        for key, messages in todo.items()
    )
    return ("\n".join(lines) + "\n").encode("utf8")


async def _collect(client, batch_id: str, keys: List[str], settings: LLMSettings, cache: ResponseCache,
                   poll_interval: float) -> Dict[str, str]:
    """Wait for a batch to finish, cache its answers, and return the errors of the keys it did not answer."""
    batch = await client.batches.retrieve(batch_id)
    while batch.status not in FINISHED:
        await asyncio.sleep(poll_interval)
        batch = await client.batches.retrieve(batch_id)
    errors = {key: f"batch {batch_id} ended {batch.status} without an answer" for key in keys}
    for file_id in (batch.output_file_id, batch.error_file_id):
        if not file_id:
            continue
        content = await client.files.content(file_id)
        for line in content.text.splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            key, response = record.get("custom_id"), record.get("response") or {}
            try:
                if response.get("status_code") != 200:
                    raise MalformedResponse(f"status {response.get('status_code')}: {record.get('error')}")
                body = check_completion(response.get("body"))
                if not has_content(body):
                    raise MalformedResponse(empty_answer(body))
                cache.put(key, settings.model, body)
                errors.pop(key, None)
            except MalformedResponse as err:
                errors[key] = f"batch {batch_id}: {err}"
    cache.finish_batch(batch_id)
    return errors


async def run_batches(todo: Dict[str, List[Message]], settings: LLMSettings, cache: ResponseCache,
                      poll_interval: float = 30.0) -> Dict[str, str]:
    """Collect batches earlier runs left in flight, submit the uncached rest, wait; return errors by key."""
    wanted = set(todo)
    async with make_client(settings) as client:
        pending = cache.pending_batches()
        if pending:
            msg.info(f"Collecting {len(pending)} batch job(s) submitted by an earlier run")
        errors: Dict[str, str] = {}
        for batch_id, keys in pending.items():
            errors.update(await _collect(client, batch_id, keys, settings, cache, poll_interval))
        answered = cache.cached_keys(todo)
        todo = {key: messages for key, messages in todo.items() if key not in answered}
        items = list(todo.items())
        submitted = []
        for i in range(0, len(items), MAX_REQUESTS):
            chunk = dict(items[i : i + MAX_REQUESTS])
            upload = await client.files.create(
                file=("requests.jsonl", io.BytesIO(request_lines(chunk, settings))), purpose="batch"
            )
            batch = await client.batches.create(input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h")
            cache.add_batch(batch.id, list(chunk))
            submitted.append((batch.id, list(chunk)))
            msg.info(f"Submitted batch {batch.id} with {len(chunk)} requests")
        for batch_id, keys in submitted:
            errors.update(await _collect(client, batch_id, keys, settings, cache, poll_interval))
    answered = cache.cached_keys(errors)
    return {key: error for key, error in errors.items() if key in wanted and key not in answered}


async def _run_batches_or_stop(todo: Dict[str, List[Message]], settings: LLMSettings, cache: ResponseCache,
                               poll_interval: float) -> Dict[str, str]:
    """`run_batches`, with an answer that retrying cannot fix (wrong key, unknown model) or no connection as LLMStopped."""
    import openai

    try:
        return await run_batches(todo, settings, cache, poll_interval)
    except (openai.APIStatusError, openai.APIConnectionError) as err:
        url = settings.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        reason = stop_message(err, settings, url) or f"the Batch API at {url} failed ({type(err).__name__}: {err})."
        raise LLMStopped(f"{reason} Batches already submitted are in {cache.path}: the next run collects them.") from None


def complete_batch(
    prompts: Sequence[List[Message]], settings: LLMSettings, cache: ResponseCache, poll_interval: float = 30.0
) -> List[Answer]:
    """Answer every prompt like `client.complete`, sending the uncached ones as Batch API jobs."""
    keys = [settings.key(messages) for messages in prompts]
    cached = cache.cached_keys(keys)
    todo = {key: messages for key, messages in zip(keys, prompts) if key not in cached}
    errors = asyncio.run(_run_batches_or_stop(todo, settings, cache, poll_interval)) if todo else {}
    found = cache.get_many(keys)
    return [Answer(key, found.get(key), None if key in found else errors.get(key, "no answer"), key in cached) for key in keys]

"""The OpenAI Batch API: upload requests as JSONL, create a batch, poll, and put the answers into the cache.

Every submitted batch is recorded in the cache before polling starts, so a run that dies while a batch
is in flight collects that batch on its next run instead of paying for the requests again. The requests are
read once, a group at a time, into a batch input file on disk that is submitted as soon as one more request
would take it past the Batch API's limits (MAX_REQUESTS requests, MAX_BATCH_BYTES): every batch is submitted
before the first is waited for, and no number of requests takes more memory than a group.
"""
import asyncio
import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Awaitable, BinaryIO, Callable, Dict, Iterable, List, Sequence, Set, Tuple

from spacy.util import minibatch
from wasabi import msg

from .cache import ResponseCache, has_content
from .client import (Answer, LLMSettings, LLMStopped, MalformedResponse, check_completion, empty_answer, make_client,
                     stop_message)
from .prompts import Message

ENDPOINT = "/v1/chat/completions"
# the Batch API's limits per input file: requests, and bytes (200 MB)
MAX_REQUESTS = 50_000
MAX_BATCH_BYTES = 200_000_000
LOOKUP = 10_000  # requests looked up in the cache at a time
FINISHED = ("completed", "failed", "expired", "cancelled")


def request_line(key: str, messages: List[Message], settings: LLMSettings) -> bytes:
    """One line of a batch input file: the request, its cache key as custom_id."""
    line = {"custom_id": key, "method": "POST", "url": ENDPOINT, "body": settings.body(messages)}
    return (json.dumps(line) + "\n").encode("utf8")


@dataclass
class BatchOutcome:
    """What a run's batch jobs left: the error of each prompt they did not answer, and which prompts they asked."""

    errors: Dict[str, str] = field(default_factory=dict)
    # the keys as 32 bytes (bytes.fromhex), not 64-character strings: one for every prompt of the corpus
    asked: Set[bytes] = field(default_factory=set)

    def answers(self, keys: Sequence[str], cache: ResponseCache) -> List[Answer]:
        """One Answer per key, from the cache: `cached` unless a batch of this run asked it."""
        found = cache.get_many(keys)
        return [Answer(key, found.get(key), None if key in found else self.errors.get(key, "no answer"),
                       key in found and bytes.fromhex(key) not in self.asked) for key in keys]


class _InputFile:
    """The batch input file being filled, on disk: submitted when one more line would pass a limit."""

    def __init__(self, client: Callable[[], Awaitable[Any]], cache: ResponseCache, file: BinaryIO):
        self.client = client
        self.cache = cache
        self.file = file
        self.keys: List[str] = []
        self.submitted: List[str] = []  # batch ids

    async def add(self, key: str, line: bytes, messages: List[Message]) -> None:
        if len(line) > MAX_BATCH_BYTES:
            start = str(messages[-1]["content"])[:60]
            raise ValueError(f"A request of {len(line)} bytes (prompt {start!r}...) is larger than a Batch API input "
                             f"file may be ({MAX_BATCH_BYTES} bytes): shorten the prompt (or its image), or run "
                             "without --batch-api. Batches already submitted are collected by the next run.")
        if len(self.keys) == MAX_REQUESTS or self.file.tell() + len(line) > MAX_BATCH_BYTES:
            await self.submit()
        self.file.write(line)
        self.keys.append(key)

    async def submit(self) -> None:
        """Upload the file as it is, create its batch and record it in the cache; start an empty file."""
        if not self.keys:
            return
        size = self.file.tell()
        self.file.seek(0)
        client = await self.client()
        upload = await client.files.create(file=("requests.jsonl", self.file), purpose="batch")
        batch = await client.batches.create(input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h")
        self.cache.add_batch(batch.id, self.keys)
        self.submitted.append(batch.id)
        msg.info(f"Submitted batch {batch.id} with {len(self.keys)} requests ({size / 1e6:.1f} MB)")
        self.keys = []
        self.file.seek(0)
        self.file.truncate()


async def _collect(client, batch_id: str, settings: LLMSettings, cache: ResponseCache,
                   poll_interval: float) -> Dict[str, str]:
    """Wait for a batch to finish, cache its answers, and return the errors of the keys it did not answer."""
    batch = await client.batches.retrieve(batch_id)
    while batch.status not in FINISHED:
        await asyncio.sleep(poll_interval)
        batch = await client.batches.retrieve(batch_id)
    errors = {key: f"batch {batch_id} ended {batch.status} without an answer" for key in cache.batch_keys(batch_id)}
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


async def run_batches(todo: Iterable[Tuple[str, List[Message]]], settings: LLMSettings, cache: ResponseCache,
                      poll_interval: float = 30.0) -> BatchOutcome:
    """Collect the batches earlier runs left in flight; submit the prompts of `todo` (key and messages, read once;
    a key met again is sent once) that the cache lacks, in batches within the limits; wait for all of them.

    The client is made only when there is a batch to collect or a prompt to send, as `client.complete` does.
    """
    outcome = BatchOutcome()
    async with contextlib.AsyncExitStack() as stack:
        clients: list = []

        async def client():
            if not clients:
                clients.append(await stack.enter_async_context(make_client(settings)))
            return clients[0]

        pending = list(cache.pending_batches())
        if pending:
            msg.info(f"Collecting {len(pending)} batch job(s) submitted by an earlier run")
        for batch_id in pending:
            errors = await _collect(await client(), batch_id, settings, cache, poll_interval)
            outcome.errors.update(errors)
            # what they answered is cached now; what they did not is sent again below
            outcome.asked.update(bytes.fromhex(key) for key in cache.batch_keys(batch_id) if key not in errors)
        with tempfile.TemporaryFile() as spool:
            batches = _InputFile(client, cache, spool)
            for group in minibatch(todo, LOOKUP):
                new = {key: messages for key, messages in group if bytes.fromhex(key) not in outcome.asked}
                answered = cache.cached_keys(new)
                for key, messages in new.items():
                    if key not in answered:
                        outcome.asked.add(bytes.fromhex(key))
                        await batches.add(key, request_line(key, messages, settings), messages)
            await batches.submit()
        for batch_id in batches.submitted:
            outcome.errors.update(await _collect(await client(), batch_id, settings, cache, poll_interval))
    answered = cache.cached_keys(outcome.errors)
    outcome.errors = {key: error for key, error in outcome.errors.items() if key not in answered}
    return outcome


def complete_batch(todo: Iterable[Tuple[str, List[Message]]], settings: LLMSettings, cache: ResponseCache,
                   poll_interval: float = 30.0) -> BatchOutcome:
    """`run_batches`, with an answer that retrying cannot fix (wrong key, unknown model) or no connection as LLMStopped."""
    import openai

    try:
        return asyncio.run(run_batches(todo, settings, cache, poll_interval))
    except (openai.APIStatusError, openai.APIConnectionError) as err:
        url = settings.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        reason = stop_message(err, settings, url) or f"the Batch API at {url} failed ({type(err).__name__}: {err})."
        raise LLMStopped(f"{reason} Batches already submitted are in {cache.path}: the next run collects them.") from None

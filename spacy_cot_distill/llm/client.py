"""Ask an OpenAI-compatible server many chat prompts at once, through the response cache.

`complete` is the entry point for any code that needs LLM answers (generation, augmentation):
it returns one `Answer` per prompt, asking the server only for prompts the cache lacks.
`openai` is imported here, inside the functions, so importing the package never loads it.
"""
import asyncio
import json
import os
import random
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from tqdm import tqdm

from .cache import ResponseCache, request_key
from .prompts import Message

API_KEY_ENV = "OPENAI_API_KEY"


@dataclass
class LLMSettings:
    """Which model to ask, where, and how hard to try."""

    model: str
    base_url: Optional[str] = None  # None: OPENAI_BASE_URL, else OpenAI's endpoint
    max_tokens: int = 256
    temperature: float = 0.0
    timeout: float = 60.0  # seconds per request
    max_retries: int = 5  # per request, for every retried fault
    concurrency: int = 8  # requests in flight
    backoff_base: float = 0.5  # seconds; doubled per retry of a malformed body
    extra_params: Dict[str, Any] = field(default_factory=dict)  # more chat.completions parameters (e.g. seed)

    @property
    def params(self) -> Dict[str, Any]:
        """The generation parameters that, with model and messages, identify an answer in the cache."""
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, **self.extra_params}

    def key(self, messages: List[Message]) -> str:
        return request_key(self.model, self.params, messages)

    def body(self, messages: List[Message]) -> Dict[str, Any]:
        """The chat.completions request body (also the body of a batch job line)."""
        return {"model": self.model, "messages": messages, **self.params}


class MalformedResponse(ValueError):
    """A response body that is not a chat completion."""


@dataclass
class Answer:
    """The outcome of one prompt: the raw response body, or the error that remained after all retries."""

    key: str
    response: Optional[Dict[str, Any]] = None
    error: Optional[str] = None
    cached: bool = False

    @property
    def text(self) -> Optional[str]:
        if self.response is None:
            return None
        return (self.response["choices"][0]["message"].get("content") or "").strip()

    @property
    def finish_reason(self) -> Optional[str]:
        return None if self.response is None else self.response["choices"][0].get("finish_reason")

    @property
    def usage(self) -> Dict[str, int]:
        usage = (self.response or {}).get("usage") or {}
        return {name: usage.get(name) or 0 for name in ("prompt_tokens", "completion_tokens")}


def check_completion(body: Any) -> Dict[str, Any]:
    """Return `body` if it is a chat completion with a message, else raise MalformedResponse."""
    try:
        message = body["choices"][0]["message"]
    except (TypeError, KeyError, IndexError):
        raise MalformedResponse(f"not a chat completion: {str(body)[:200]!r}") from None
    if not isinstance(message, dict) or not isinstance(message.get("content") or "", str):
        raise MalformedResponse(f"no message content: {str(body)[:200]!r}")
    return body


def backoff_delay(attempt: int, base: float, cap: float = 8.0) -> float:
    """Exponential backoff with up to 25% jitter, as the openai client does for its own retries."""
    return min(base * 2**attempt, cap) * (1 - 0.25 * random.random())


def make_client(settings: LLMSettings):
    """An AsyncOpenAI client whose own retries cover 429 (Retry-After), 5xx, timeouts and dropped connections."""
    import openai

    if not os.environ.get(API_KEY_ENV):
        raise RuntimeError(f"Set {API_KEY_ENV} in the environment (any non-empty value for a local server without keys).")
    return openai.AsyncOpenAI(base_url=settings.base_url, timeout=settings.timeout, max_retries=settings.max_retries)


async def ask(client, settings: LLMSettings, messages: List[Message]) -> Dict[str, Any]:
    """One chat completion as its raw JSON body; a malformed body is asked again (the client does not retry it)."""
    for attempt in range(settings.max_retries + 1):
        raw = await client.chat.completions.with_raw_response.create(**settings.body(messages))
        try:
            return check_completion(json.loads(raw.text))
        except (ValueError, MalformedResponse) as err:
            if attempt == settings.max_retries:
                raise MalformedResponse(f"malformed response body after {attempt + 1} tries: {err}") from None
        await asyncio.sleep(backoff_delay(attempt, settings.backoff_base))
    raise AssertionError("unreachable")


def describe_error(err: Exception) -> str:
    status = getattr(err, "status_code", None)
    return f"{type(err).__name__}" + (f" {status}" if status else "") + f": {str(err)[:200]}"


async def complete_async(
    prompts: Sequence[List[Message]], settings: LLMSettings, cache: ResponseCache, progress: bool = True
) -> List[Answer]:
    """Answer every prompt, from the cache where it can; each new answer is cached the moment it arrives."""
    import openai

    keys = [settings.key(messages) for messages in prompts]
    found = cache.get_many(keys)
    answers = {key: Answer(key, response, cached=True) for key, response in found.items()}
    todo = {key: messages for key, messages in zip(keys, prompts) if key not in answers}
    if todo:
        queue: asyncio.Queue = asyncio.Queue()
        for item in todo.items():
            queue.put_nowait(item)
        bar = tqdm(total=len(todo), desc="LLM requests", unit="req", disable=not progress)

        async def worker(client) -> None:
            while not queue.empty():
                key, messages = queue.get_nowait()
                try:
                    response = await ask(client, settings, messages)
                except (openai.OpenAIError, MalformedResponse) as err:
                    answers[key] = Answer(key, error=describe_error(err))
                else:
                    cache.put(key, settings.model, response)
                    answers[key] = Answer(key, response)
                bar.update(1)

        async with make_client(settings) as client:
            try:
                await asyncio.gather(*(worker(client) for _ in range(min(settings.concurrency, len(todo)))))
            finally:
                bar.close()
    return [answers[key] for key in keys]


def complete(
    prompts: Sequence[List[Message]], settings: LLMSettings, cache: ResponseCache, progress: bool = True
) -> List[Answer]:
    """Answer every prompt (a list of chat messages each) through the cache and at most `concurrency` requests."""
    return asyncio.run(complete_async(prompts, settings, cache, progress))

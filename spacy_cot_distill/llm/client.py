"""Ask an OpenAI-compatible server many chat prompts at once, through the response cache.

`complete` is the entry point for any code that needs LLM answers (generation, augmentation):
it returns one `Answer` per prompt, asking the server only for prompts the cache lacks.
`openai` is imported here, inside the functions, so importing the package never loads it.

Faults are retried here, not by the openai client, so that the run sees every try: an answer that no
retry can fix (401, 403, 404, 400) stops the whole run at once, and so does an endpoint that has refused
or dropped every connection for `max_outage` seconds.
"""
import asyncio
import email.utils
import json
import os
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

from tqdm import tqdm
from wasabi import msg

from .cache import CLAIM_RENEW, ResponseCache, has_content, request_key
from .prompts import Message

API_KEY_ENV = "OPENAI_API_KEY"
# a 400 with one of these codes is about one prompt (too long, filtered, a bad image), not about every request
PROMPT_FAULT_CODES = {"context_length_exceeded", "content_filter", "content_policy_violation", "invalid_image",
                      "invalid_image_url", "invalid_image_format", "image_parse_error", "image_too_large"}
RETRIED_STATUS = {408, 409, 429}  # and every 5xx, as the openai client retries them
OUTAGE_TRIES = 3  # failed connections in a row (no answer between) before an outage can stop the run
WAIT_POLL = 0.5  # seconds between looks at prompts another run is asking


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
    backoff_base: float = 0.5  # seconds; doubled per retry
    max_outage: float = 5.0  # seconds of refused, dropped or timed-out connections, with no answer, before the run stops
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


class LLMStopped(RuntimeError):
    """The run stopped asking: an answer that retrying cannot fix, or an endpoint that is down.

    `error` is the HTTP error that stopped it, if one did (callers that can ask otherwise read it, e.g. a server
    that refuses `response_format`).
    """

    def __init__(self, message: str, error: Optional[Exception] = None):
        super().__init__(message)
        self.error = error


@dataclass
class Answer:
    """The outcome of one prompt: the raw response body, or the error that remained after all retries.

    An empty answer has its response (for finish_reason and usage) and an error: it is not cached.
    """

    key: str
    response: Optional[Dict[str, Any]] = None
    error: Optional[str] = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.response is not None and self.error is None

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


def empty_answer(response: Dict[str, Any]) -> str:
    """The error of an answer without text."""
    reason = response["choices"][0].get("finish_reason")
    hint = ": raise --max-tokens (a reasoning model may spend them all before answering)" if reason == "length" else ""
    return f"empty answer (finish_reason {reason}){hint}"


def backoff_delay(attempt: int, base: float, cap: float = 8.0) -> float:
    """Exponential backoff with up to 25% jitter, as the openai client does for its own retries."""
    return min(base * 2**attempt, cap) * (1 - 0.25 * random.random())


def retry_after(headers: Any) -> Optional[float]:
    """The wait a 429 or 503 asks for (Retry-After-Ms, Retry-After in seconds or as a date), if sensible."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if not value:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            date = email.utils.parsedate_tz(value)
            if date is None:
                continue
            seconds = email.utils.mktime_tz(date) - time.time()
        if 0 <= seconds <= 60:
            return seconds
    return None


def make_client(settings: LLMSettings, max_retries: Optional[int] = None):
    """An AsyncOpenAI client; `max_retries` (default: the settings') are the client's own retries of 429,
    5xx, timeouts and dropped connections."""
    import openai

    if not os.environ.get(API_KEY_ENV):
        raise RuntimeError(f"Set {API_KEY_ENV} in the environment (any non-empty value for a local server without keys).")
    return openai.AsyncOpenAI(base_url=settings.base_url, timeout=settings.timeout,
                              max_retries=settings.max_retries if max_retries is None else max_retries)


def stop_message(err: Exception, settings: LLMSettings, url: str) -> Optional[str]:
    """What to fix, for an HTTP error that every request would get (None for one worth retrying or per prompt)."""
    status = getattr(err, "status_code", None)
    body = getattr(err, "body", None)
    said = str(body.get("message") if isinstance(body, dict) and body.get("message") else err)[:200]
    key = os.environ.get(API_KEY_ENV)
    if key:  # some servers quote the key they refused
        said = said.replace(key, "***")
    where = f"{status} from {url}"
    if status == 401:
        return f"{where}: the API key in {API_KEY_ENV} was refused; set a valid key."
    if status == 403:
        return f"{where}: no access ({said}); use a key with access to model {settings.model!r} or another --model."
    if status == 404:
        return (f"{where}: model {settings.model!r} or the chat completions endpoint is unknown there ({said}); "
                "check --model and --base-url (it usually ends in /v1).")
    if status in (400, 422) and getattr(err, "code", None) not in PROMPT_FAULT_CODES:
        return (f"{where}: the server refused the request ({said}); check --model, --max-tokens, --temperature "
                "and your --template-dir.")
    return None


def describe_error(err: Exception) -> str:
    status = getattr(err, "status_code", None)
    return f"{type(err).__name__}" + (f" {status}" if status else "") + f": {str(err)[:200]}"


@dataclass
class _Run:
    """What the workers of one `complete` call share: the stop reason and the state of the connection."""

    settings: LLMSettings
    cache: ResponseCache
    url: str
    stop: Optional[Exception] = None
    healthy_at: float = field(default_factory=time.monotonic)  # the last HTTP answer (or the start)
    failed_in_a_row: int = 0

    def stopped(self, reason: str, error: Optional[Exception] = None) -> LLMStopped:
        return LLMStopped(f"{reason} The answers received so far are in {self.cache.path}: run the same command "
                          "again after the fix.", error)

    def reached(self) -> None:
        """The server answered (with an answer or an HTTP error): it is up."""
        self.healthy_at = time.monotonic()
        self.failed_in_a_row = 0

    def connection_failed(self, err: Exception) -> None:
        """Count a refused, dropped or timed-out try; raise LLMStopped once the endpoint looks down."""
        self.failed_in_a_row += 1
        down = time.monotonic() - self.healthy_at
        if self.failed_in_a_row >= OUTAGE_TRIES and down >= self.settings.max_outage:
            raise self.stopped(f"No answer from {self.url} for {down:.0f} s ({self.failed_in_a_row} tries in a row "
                               f"failed, last: {describe_error(err)}): start the server or fix --base-url "
                               "(raise --max-outage for a flaky network, --timeout for a slow server).")


async def ask(client, messages: List[Message], run: _Run) -> Dict[str, Any]:
    """One chat completion as its raw JSON body, retried up to max_retries times (429, 408, 409, 5xx,
    refused, dropped or timed-out connections, malformed bodies); raises LLMStopped when the run must stop."""
    import openai

    settings = run.settings
    for attempt in range(settings.max_retries + 1):
        if run.stop is not None:
            raise run.stop
        last = attempt == settings.max_retries
        delay = backoff_delay(attempt, settings.backoff_base)
        try:
            raw = await client.chat.completions.with_raw_response.create(**settings.body(messages))
            body = check_completion(json.loads(raw.text))
        except openai.APIStatusError as err:
            run.reached()
            reason = stop_message(err, settings, run.url)
            if reason is not None:
                raise run.stopped(reason, err) from None
            if last or not (err.status_code in RETRIED_STATUS or err.status_code >= 500):
                raise
            delay = retry_after(err.response.headers) or delay
        except openai.APIConnectionError as err:  # refused, dropped, timed out
            run.connection_failed(err)
            if last:
                raise
        except ValueError as err:  # a malformed body (not JSON, or not a chat completion)
            run.reached()
            if last:
                raise MalformedResponse(f"malformed response body after {attempt + 1} tries: {err}") from None
        else:
            run.reached()
            return body
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def complete_async(
    prompts: Sequence[List[Message]], settings: LLMSettings, cache: ResponseCache, progress: bool = True
) -> List[Answer]:
    """Answer every prompt, from the cache where it can; each new answer is cached the moment it arrives.

    Each prompt is claimed in the cache before it is asked: a prompt another live run is asking is not sent
    again but waited for, and asked here only if that run gives it up.
    """
    import openai

    keys = [settings.key(messages) for messages in prompts]
    answers = {key: Answer(key, response, cached=True) for key, response in cache.get_many(keys).items()}
    todo = {key: messages for key, messages in zip(keys, prompts) if key not in answers}
    if not todo:
        return [answers[key] for key in keys]
    queue: Deque[Tuple[str, List[Message]]] = deque(todo.items())
    waiting: Dict[str, str] = {}  # key -> the run that holds its claim
    bar = tqdm(total=len(todo), desc="LLM requests", unit="req", disable=not progress)

    async def worker(client, run: _Run) -> None:
        while queue and run.stop is None:
            key, messages = queue.popleft()
            try:
                found, holder = cache.claim(key)
                if found is not None or holder is not None:
                    if found is not None:  # another run answered it meanwhile
                        answers[key] = Answer(key, found, cached=True)
                        bar.update(1)
                    else:
                        waiting[key] = holder or ""
                    continue
                try:
                    response = await ask(client, messages, run)
                except (openai.OpenAIError, MalformedResponse) as err:
                    cache.release(key)
                    answers[key] = Answer(key, error=describe_error(err))
                else:
                    if has_content(response):
                        cache.put(key, settings.model, response)
                        answers[key] = Answer(key, response)
                    else:  # paid, but no answer: not cached, so the next run asks again
                        cache.release(key)
                        answers[key] = Answer(key, response, error=empty_answer(response))
                bar.update(1)
            except Exception as err:  # LLMStopped, a cache that cannot be written: every worker stops
                run.stop = run.stop or err

    async def renew_claims() -> None:
        while True:
            await asyncio.sleep(CLAIM_RENEW)
            cache.renew_claims()

    async with make_client(settings, max_retries=0) as client:
        run = _Run(settings, cache, str(client.base_url).rstrip("/"))
        renewer = asyncio.ensure_future(renew_claims())
        announced = False
        try:
            while True:
                await asyncio.gather(*(worker(client, run) for _ in range(min(settings.concurrency, len(queue)))))
                if run.stop is not None:
                    raise run.stop
                if not waiting:
                    break
                if not announced:
                    holders = ", ".join(sorted(set(waiting.values())))
                    msg.info(f"{len(waiting)} prompts are being asked by another run ({holders}): waiting for its answers")
                    announced = True
                while waiting and not queue:
                    await asyncio.sleep(WAIT_POLL)
                    found = cache.get_many(waiting)
                    for key in list(waiting):
                        if key in found:
                            answers[key] = Answer(key, found[key], cached=True)
                            bar.update(1)
                            del waiting[key]
                        elif cache.claim_holder(key) is None:  # given up or abandoned: ask it here
                            queue.append((key, todo[key]))
                            del waiting[key]
        finally:
            renewer.cancel()
            bar.close()
            cache.release_all()
    return [answers[key] for key in keys]


def complete(
    prompts: Sequence[List[Message]], settings: LLMSettings, cache: ResponseCache, progress: bool = True
) -> List[Answer]:
    """Answer every prompt (a list of chat messages each) through the cache and at most `concurrency` requests."""
    return asyncio.run(complete_async(prompts, settings, cache, progress))

"""Generic, fast, cached LLM calls through the ``openai`` SDK (3.x) against OpenAI or any compatible server.

This module knows nothing about spreadsheets or judges: callers hand it ``Call`` objects (chat messages and
an optional JSON schema) and get one ``Result`` per call, never an exception for a failed row.

Why it does its own work instead of leaning on the SDK:

* **Retries are ours** (the client gets ``max_retries=0``): bounded, full jitter, ``Retry-After`` honoured,
  and they also cover what the SDK does not retry — a 200 with a broken JSON body (a raw
  ``json.JSONDecodeError`` in SDK 3.x), an empty ``choices`` list and replies that do not parse.
* **Timeouts** default to 60 s per request, not the SDK's 600 s.
* **Concurrency** is a pool of ``settings.concurrency`` workers pulling from the calls iterator, so memory
  stays flat however many rows there are (no coroutine per row is built up front).
* **Structured output degrades gracefully**: strict ``json_schema`` first, then ``json_object``, then the
  schema described in the system instruction; the level a server supports is learned once per run.
* **Caching and resumability**: the cache is checked before any request and written on success only, and
  ``on_result`` sees each result as soon as it exists, so Ctrl-C loses nothing already finished.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import math
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import openai
from openai.types.chat import ChatCompletion

from sheetsync.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
PLACEHOLDER_API_KEY = "sk-no-key-required"  # local servers ignore the key, but the SDK insists on one

#: Price table, USD per 1M tokens ``(input, output)``. Approximate list prices (early 2025) that change often:
#: the user's config should override or extend it. Dated snapshots match by prefix
#: (``gpt-4.1-mini-2025-04-14`` → ``gpt-4.1-mini``). Models not listed (e.g. local ones) have no cost estimate.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "o4-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
}

BACKOFF_BASE = 1.0  # seconds; full jitter draws from [0, min(BACKOFF_CAP, BACKOFF_BASE * 2**n)]
BACKOFF_CAP = 30.0
MAX_RETRY_AFTER = 120.0  # a longer Retry-After means "quota exhausted": report it instead of stalling the run
RETRYABLE_STATUS = frozenset({408, 409, 429})  # plus every status >= 500

# Structured-output levels, from most to least enforced.
LEVEL_JSON_SCHEMA, LEVEL_JSON_OBJECT, LEVEL_INSTRUCTIONS = 0, 1, 2
LEVEL_NAMES = ("json_schema", "json_object", "instructions")
_FORMAT_HINTS = ("response_format", "json_schema", "json_object", "structured output", "grammar")


# ---------------------------------------------------------------------------------------------------------
# Public data types


@dataclass(frozen=True)
class LLMSettings:
    """Where and how to call the model. ``api_key`` is kept out of reprs and cache keys on purpose."""

    model: str = "gpt-4.1-mini"
    base_url: str | None = None  # None → OPENAI_BASE_URL, else OpenAI
    api_key: str | None = field(default=None, repr=False)  # None → OPENAI_API_KEY
    timeout: float = 60.0  # per request, seconds
    max_retries: int = 4  # retries after the first attempt
    concurrency: int = 8
    temperature: float | None = 0.0  # None → not sent (some reasoning models reject it)
    max_tokens: int | None = None  # None → not sent (portable: Ollama knows only max_tokens)
    seed: int | None = None


@dataclass(frozen=True)
class Call:
    """One request: the caller's row id, the chat messages, and the JSON schema of the expected answer."""

    key: str
    messages: list[dict[str, Any]]
    schema: dict[str, Any] | None  # None → free text in Result.text
    schema_name: str = "answer"


@dataclass(slots=True)
class Result:
    """The outcome of one call. Exactly one of ``value``/``text`` (success) or ``error`` describes it.

    ``value`` is the parsed object for schema calls; ``text`` is the raw reply (kept for logs).
    For cache hits, ``latency`` is 0, ``attempts`` is 0 and the token counts are those of the original call.
    """

    key: str
    value: dict[str, Any] | None
    text: str | None
    error: str | None
    latency: float
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    attempts: int
    cache_key: str

    @property
    def ok(self) -> bool:
        return self.error is None


class Cache(Protocol):
    """Where successful answers are kept, keyed by ``cache_key``. The caller's store implements this."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, value: dict[str, Any]) -> None: ...


def cached_result(call: Call, key: str, hit: dict[str, Any]) -> Result:
    """A cache hit as a Result: latency 0, attempts 0, and the token counts of the original call."""
    return Result(
        key=call.key,
        value=hit.get("value"),
        text=hit.get("text"),
        error=None,
        latency=0.0,
        prompt_tokens=int(hit.get("prompt_tokens") or 0),
        completion_tokens=int(hit.get("completion_tokens") or 0),
        cached=True,
        attempts=0,
        cache_key=key,
    )


class MemoryCache:
    """A dict-backed ``Cache`` for tests, benchmarks and ``--no-cache`` runs."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.data.get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.data[key] = value

    def __len__(self) -> int:
        return len(self.data)


@dataclass
class RunSummary:
    """Results in input order plus totals. Token totals count only requests made in this run (not cache hits)."""

    results: list[Result]
    total: int
    calls_made: int  # rows that needed the API (not served from the cache)
    requests: int  # HTTP requests sent, including retries and format fallbacks
    cache_hits: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    wall_time: float
    format_level: str  # the structured-output level the run ended on
    format_refusals: int = 0  # response_format refusals seen (at most a couple per run: the level is shared)

    def estimated_cost(
        self, model: str, prices: dict[str, tuple[float, float]] | None = None
    ) -> float | None:
        return estimate_cost(self.prompt_tokens, self.completion_tokens, model, prices)


OnResult = Callable[[Result], None] | Callable[[Result], Awaitable[None]]


# ---------------------------------------------------------------------------------------------------------
# Cache keys, estimates


def resolve_base_url(settings: LLMSettings) -> str:
    """The URL requests go to: explicit setting, else ``OPENAI_BASE_URL``, else OpenAI."""
    return settings.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL


_SECRET_PARAM = re.compile(r"key|token|secret|sig|pass|auth", re.I)


def normalise_base_url(url: str) -> str:
    """Lower-case scheme and host, drop credentials, secret-looking query params and the trailing slash."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    netloc = f"{host}:{parts.port}" if parts.port else host
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query) if not _SECRET_PARAM.search(k)))
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), query, ""))


def cache_key(settings: LLMSettings, call: Call) -> str:
    """sha256 of everything that determines the answer: server, model, messages, schema, sampling params.

    Deliberately excluded: the API key (a secret, and irrelevant to the answer), timeout, concurrency and
    retries (they change how we ask, not what comes back), and the row's own ``key``.
    """
    material = {
        "v": 1,
        "base_url": normalise_base_url(resolve_base_url(settings)),
        "model": settings.model,
        "messages": call.messages,
        "schema": call.schema,
        "schema_name": call.schema_name if call.schema is not None else None,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        "seed": settings.seed,
    }
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """A cheap, offline token ESTIMATE (about 4 characters per token plus per-message overhead).

    Exact counts need the model's tokenizer (tiktoken downloads its files on first use, so it is not
    usable offline); this is only meant for ``--dry-run`` budgets and is labelled approximate.
    """
    chars = sum(len(_content_text(m.get("content"))) for m in messages)
    return math.ceil(chars / 4) + 4 * len(messages) + 3


def price_table(overrides: dict[str, tuple[float, float]] | None) -> dict[str, tuple[float, float]]:
    """The default prices with the workspace's ``[prices]`` on top (theirs win, others stay priced)."""
    return {**DEFAULT_PRICES, **(overrides or {})}


def estimate_cost(
    prompt_tokens: int,
    completion_tokens: int,
    model: str,
    prices: dict[str, tuple[float, float]] | None = None,
) -> float | None:
    """USD cost from a per-1M-token ``(input, output)`` price table; ``None`` when the model is not priced.

    ``prices`` replaces ``DEFAULT_PRICES`` entirely (merge them yourself to extend it). Exact model names win,
    else the longest table entry that is a ``name-`` prefix of the model (dated snapshots).
    """
    table = DEFAULT_PRICES if prices is None else prices
    price = table.get(model)
    if price is None:
        prefixes = [name for name in table if model.startswith(name + "-")]
        if not prefixes:
            return None
        price = table[max(prefixes, key=len)]
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


# ---------------------------------------------------------------------------------------------------------
# Reply parsing

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.S)
_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)


class ReplyParseError(ValueError):
    """The reply held no JSON object we could read."""


def _balanced_objects(text: str) -> Iterable[str]:
    """Yield each balanced ``{...}`` substring, scanning from every ``{`` and respecting JSON strings."""
    start = text.find("{")
    while start != -1:
        depth, in_string, escaped = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_string:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    yield text[start : i + 1]
                    break
        start = text.find("{", start + 1)


def parse_json_reply(text: str) -> dict[str, Any]:
    """Tolerantly read a JSON object from a model reply.

    Handles what local models and unconstrained fallbacks produce: ``<think>`` blocks, ```` ```json ````
    fences and prose around the object. Takes the first balanced ``{...}`` that parses.
    """
    text = _THINK.sub("", text).strip()
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            pass
        else:
            if isinstance(value, dict):
                return value
        for chunk in _balanced_objects(candidate):
            try:
                value = json.loads(chunk)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    raise ReplyParseError("no JSON object found")


def schema_errors(value: dict[str, Any], schema: dict[str, Any], validators: dict[str, Any]) -> str | None:
    """First JSON-schema violation, or None. Validators are cached per schema for the run."""
    import jsonschema  # lazy: only schema calls need it

    token = json.dumps(schema, sort_keys=True)
    validator = validators.get(token)
    if validator is None:
        validator = jsonschema.validators.validator_for(schema)(schema)
        validators[token] = validator
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    return None if error is None else error.message


# ---------------------------------------------------------------------------------------------------------
# The runner


class _RunState:
    """Per-run shared state: the structured-output level learned from the server, validators, counters."""

    def __init__(self) -> None:
        self.level = LEVEL_JSON_SCHEMA
        self.format_refusals = 0
        self.validators: dict[str, Any] = {}

    def downgrade(self, to_level: int) -> None:
        if to_level > self.level:
            log.info(
                "server refused response_format %s; using %s from now on",
                LEVEL_NAMES[self.level],
                LEVEL_NAMES[to_level],
            )
            self.level = to_level


class RetryableFailure(Exception):
    """A failed attempt worth retrying; ``delay`` is the server's Retry-After when it sent one."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class FinalFailure(Exception):
    """A failed attempt that retrying will not fix."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def schema_instruction(schema: dict[str, Any]) -> str:
    """Text appended to the system message when the server cannot enforce the schema itself."""
    return (
        "Reply with a single JSON object and nothing else (no prose, no code fences). "
        "It must match this JSON schema, with the keys in this order:\n"
        + json.dumps(schema, ensure_ascii=False)
    )


def _messages_for(call: Call, level: int) -> list[dict[str, Any]]:
    """Messages to send; below strict json_schema the schema goes into the (first) system message.

    Appending to the system message rather than adding a trailing one keeps instructions out of the
    untrusted user turn and suits chat templates that allow a single leading system message.
    """
    if call.schema is None or level == LEVEL_JSON_SCHEMA:
        return call.messages
    instruction = schema_instruction(call.schema)
    messages = [dict(m) for m in call.messages]
    for m in messages:
        if m.get("role") in ("system", "developer") and isinstance(m.get("content"), str):
            m["content"] = f"{m['content'].rstrip()}\n\n{instruction}"
            return messages
    return [{"role": "system", "content": instruction}, *messages]


def request_body(settings: LLMSettings, call: Call, level: int) -> dict[str, Any]:
    """The chat-completions body for a call at a structured-output level (shared with the Batch API path)."""
    kwargs: dict[str, Any] = {"model": settings.model, "messages": _messages_for(call, level)}
    if call.schema is not None and level == LEVEL_JSON_SCHEMA:
        kwargs["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": call.schema_name, "schema": call.schema, "strict": True},
        }
    elif call.schema is not None and level == LEVEL_JSON_OBJECT:
        kwargs["response_format"] = {"type": "json_object"}
    if settings.temperature is not None:
        kwargs["temperature"] = settings.temperature
    if settings.max_tokens is not None:
        kwargs["max_tokens"] = settings.max_tokens
    if settings.seed is not None:
        kwargs["seed"] = settings.seed
    return kwargs


def _retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` (preferred) or ``retry-after`` (seconds or HTTP date); None if absent."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _status_reason(e: openai.APIStatusError) -> str:
    body = e.body
    message = body.get("message") if isinstance(body, dict) else None
    if not message:
        message = body if isinstance(body, str) else e.message
    return f"HTTP {e.status_code}: {str(message)[:300]}"


def _is_format_refusal(e: openai.APIStatusError) -> bool:
    if e.status_code not in (400, 422):
        return False
    body = e.body
    param = body.get("param") if isinstance(body, dict) else None
    text = f"{param} {body} {e.message}".lower()
    return param == "response_format" or any(hint in text for hint in _FORMAT_HINTS)


def reply_content(response: Any) -> tuple[str, str | None, int, int]:
    """(content, finish_reason, prompt_tokens, completion_tokens) — or RetryableFailure for a malformed completion."""
    choices = getattr(response, "choices", None)
    if not choices:
        raise RetryableFailure("malformed response: no choices")
    choice = choices[0]
    message = getattr(choice, "message", None)
    content = getattr(message, "content", None)
    usage = getattr(response, "usage", None)
    prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    if content is None:
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise FinalFailure(f"model refused: {str(refusal)[:200]}")
        raise RetryableFailure("malformed response: empty message content")
    return content, getattr(choice, "finish_reason", None), prompt_tokens, completion_tokens


async def _create(client: Any, body: dict[str, Any]) -> Any:
    """POST /chat/completions and parse the reply into a ``ChatCompletion``.

    For a real ``AsyncOpenAI`` (or Azure) client this uses the SDK's documented generic ``client.post``
    rather than ``chat.completions.create``: ``create`` first runs a TypedDict transform over every
    message and the schema, which costs about a third of the SDK's per-call CPU and does nothing for a
    body that is already plain JSON. Auth, base URL, Azure deployment routing, timeout and response
    parsing are the same. Any other (injected, duck-typed) client is called through ``chat.completions.create``.
    """
    if isinstance(client, openai.AsyncOpenAI):
        return await client.post("/chat/completions", cast_to=ChatCompletion, body=body)
    return await client.chat.completions.create(**body)


class _Runner:
    def __init__(
        self,
        settings: LLMSettings,
        client: Any,
        cache: Cache | None,
        on_result: OnResult | None,
        sleep: Callable[[float], Awaitable[Any]],
        rng: Any,
    ) -> None:
        self.settings = settings
        self.client = client
        self.cache = cache
        self.on_result = on_result
        self.stopped = False
        self.sleep = sleep
        self.rng = rng
        self.state = _RunState()

    async def process(self, call: Call) -> Result:
        key = cache_key(self.settings, call)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return cached_result(call, key, hit)
        result = await self.call_api(call, key)
        if result.error is None and self.cache is not None:
            self.cache.put(
                key,
                {
                    "value": result.value,
                    "text": result.text,
                    "prompt_tokens": result.prompt_tokens,
                    "completion_tokens": result.completion_tokens,
                    "model": self.settings.model,
                    "created_at": time.time(),
                },
            )
        return result

    async def call_api(self, call: Call, key: str) -> Result:
        """Attempt, classify, back off, repeat; the loop always ends in a Result."""
        settings, state = self.settings, self.state
        started = time.perf_counter()
        level = state.level
        tentative = False  # downgraded for this row on a vague 400; promoted to the run only if it then works
        attempts = failures = prompt_tokens = completion_tokens = 0

        def finished(value: dict[str, Any] | None, text: str | None, error: str | None) -> Result:
            return Result(
                key=call.key, value=value, text=text, error=error, latency=time.perf_counter() - started,
                prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cached=False,
                attempts=attempts, cache_key=key,
            )

        while True:
            level = max(level, state.level)
            attempts += 1
            try:
                response = await _create(self.client, request_body(settings, call, level))
                content, finish_reason, p_tok, c_tok = reply_content(response)
                prompt_tokens += p_tok
                completion_tokens += c_tok
                value = self.parse(call, content, finish_reason)
            except openai.APIStatusError as e:
                if call.schema is not None and level < LEVEL_INSTRUCTIONS and e.status_code in (400, 422):
                    # Format fallback; does not count against the retry budget (at most two steps).
                    if _is_format_refusal(e):
                        state.format_refusals += 1
                        state.downgrade(level + 1)
                    else:
                        tentative = True
                    log.debug(
                        "row %s: HTTP %s with %s; falling back", call.key, e.status_code, LEVEL_NAMES[level]
                    )
                    level += 1
                    continue
                reason = _status_reason(e)
                retryable = e.status_code in RETRYABLE_STATUS or e.status_code >= 500
                if e.response is not None and e.response.headers.get("x-should-retry") in ("true", "false"):
                    retryable = e.response.headers["x-should-retry"] == "true"
                delay = _retry_after(e.response.headers if e.response is not None else None)
                if delay is not None and delay > MAX_RETRY_AFTER:
                    reason += f" (Retry-After {delay:.0f}s exceeds {MAX_RETRY_AFTER:.0f}s: quota exhausted?)"
                    retryable = False
                outcome: RetryableFailure | FinalFailure = RetryableFailure(reason, delay) if retryable else FinalFailure(reason)
            except openai.APITimeoutError:
                outcome = RetryableFailure(f"timeout after {settings.timeout:g}s")
            except openai.APIConnectionError as e:
                outcome = RetryableFailure(f"connection error: {e.__cause__ or e}")
            except json.JSONDecodeError as e:
                outcome = RetryableFailure(f"malformed response body: {e}")
            except (RetryableFailure, FinalFailure) as e:
                outcome = e
            except openai.OpenAIError as e:
                outcome = FinalFailure(f"{type(e).__name__}: {e}")
            except Exception as e:  # a row must end as a Result, whatever the client raised
                log.warning("row %s: unexpected %s", call.key, type(e).__name__, exc_info=True)
                outcome = FinalFailure(f"unexpected {type(e).__name__}: {str(e)[:200]}")
            else:
                if tentative:
                    state.downgrade(level)
                return finished(value, content, None)
            if isinstance(outcome, RetryableFailure) and failures < settings.max_retries:
                delay = outcome.delay
                if delay is None:
                    delay = self.rng.random() * min(BACKOFF_CAP, BACKOFF_BASE * 2**failures)
                failures += 1
                log.debug("row %s: %s; retry %d in %.2fs", call.key, outcome.reason, failures, delay)
                await self.sleep(delay)
                continue
            reason = outcome.reason if attempts == 1 else f"{outcome.reason} (after {attempts} attempts)"
            return finished(None, None, reason)

    def parse(self, call: Call, content: str, finish_reason: str | None) -> dict[str, Any] | None:
        if call.schema is None:
            return None
        try:
            value = parse_json_reply(content)
        except ReplyParseError:
            snippet = content[:200]
            if finish_reason == "length":
                raise FinalFailure(f"unparsable reply (truncated: finish_reason=length): {snippet}") from None
            raise RetryableFailure(f"unparsable reply: {snippet}") from None
        problem = schema_errors(value, call.schema, self.state.validators)
        if problem is not None:
            raise RetryableFailure(f"reply does not match the schema: {problem[:200]}")
        return value

    async def deliver(self, result: Result) -> None:
        """Hand a result to ``on_result``; once that raised (Ctrl-C, a full disk), nothing more is handed
        over while the other workers are being cancelled (their finished successes are still cached)."""
        if self.on_result is None or self.stopped:
            return
        try:
            maybe = self.on_result(result)
            if inspect.isawaitable(maybe):
                await maybe
        except BaseException:
            self.stopped = True
            raise


class _Interrupted(Exception):
    """Ctrl-C raised inside ``on_result``, carried out of the event loop as an ordinary exception."""


def make_client(settings: LLMSettings) -> openai.AsyncOpenAI:
    """An ``AsyncOpenAI`` with our timeout and the SDK's retries off (ours are in the runner).

    No key and no base URL is a configuration error; a base URL without a key gets a placeholder,
    because local servers (Ollama, vLLM, llama.cpp, LM Studio) ignore it but the SDK requires one.
    """
    base_url = settings.base_url or os.environ.get("OPENAI_BASE_URL") or None
    api_key = settings.api_key or os.environ.get("OPENAI_API_KEY") or None
    if api_key is None:
        if base_url is None:
            raise ConfigError(
                "No API key for the LLM: set OPENAI_API_KEY (for OpenAI) or OPENAI_BASE_URL "
                "(for a local OpenAI-compatible server such as Ollama or vLLM)."
            )
        api_key = PLACEHOLDER_API_KEY
    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=settings.timeout, max_retries=0)


async def run_calls(
    calls: Iterable[Call],
    settings: LLMSettings,
    *,
    cache: Cache | None,
    on_result: OnResult | None = None,
    client: Any = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    rng: Any = random,
    keep_results: bool = True,
    stats: dict[str, Any] | None = None,
) -> list[Result]:
    """Run every call with at most ``settings.concurrency`` in flight; results come back in input order.

    ``calls`` may be any iterable (a generator keeps memory flat for huge runs). Each result is passed to
    ``on_result`` (sync or async) as soon as it exists and after successes are cached; an exception raised
    by ``on_result`` or the cache stops the run (pending requests are cancelled). Failed rows never raise:
    they come back with ``error`` set. ``keep_results=False`` returns ``[]`` and relies on ``on_result``.
    ``client`` (an ``AsyncOpenAI``-like object, not closed here), ``sleep`` and ``rng`` are injectable for
    tests. ``stats``, if given, receives run-level facts (``format_level``, ``format_refusals``).
    """
    if settings.concurrency < 1:
        raise ConfigError(f"concurrency must be at least 1, got {settings.concurrency}")
    if settings.max_retries < 0:
        raise ConfigError(f"max_retries must be 0 or more, got {settings.max_retries}")
    own_client = client is None
    if own_client:
        client = make_client(settings)
    runner = _Runner(settings, client, cache, on_result, sleep, rng)
    source = enumerate(calls)
    collected: list[tuple[int, Result]] = []

    async def worker() -> None:
        # Pull one call at a time: only `concurrency` calls are ever materialised and in flight.
        for index, call in source:
            result = await runner.process(call)
            if keep_results:
                collected.append((index, result))
            await runner.deliver(result)

    workers = [asyncio.create_task(worker()) for _ in range(settings.concurrency)]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if own_client:
            await client.close()
        if stats is not None:
            stats["format_level"] = LEVEL_NAMES[runner.state.level]
            stats["format_refusals"] = runner.state.format_refusals
    collected.sort(key=lambda pair: pair[0])
    return [result for _, result in collected]


def run(
    calls: Iterable[Call],
    settings: LLMSettings,
    *,
    cache: Cache | None,
    on_result: OnResult | None = None,
    progress: bool = True,
    label: str = "Judging",
    keep_results: bool = True,
) -> RunSummary:
    """Synchronous entry point: runs ``run_calls`` with a progress bar on stderr and returns the totals.

    Ctrl-C cancels pending requests, closes the bar and re-raises ``KeyboardInterrupt``; every result
    finished before it was already handed to ``on_result`` (and cached), so the next run resumes.
    """
    from tqdm import tqdm  # lazy: keeps importing this module cheap

    try:
        total: int | None = len(calls)  # type: ignore[arg-type]
    except TypeError:
        total = None
    counts = {"done": 0, "cached": 0, "errors": 0, "requests": 0, "prompt": 0, "completion": 0, "calls": 0}
    bar = tqdm(total=total, desc=label, unit="row", disable=not progress, dynamic_ncols=True, leave=True)

    def track(result: Result) -> Awaitable[None] | None:
        counts["done"] += 1
        if result.cached:
            counts["cached"] += 1
        else:
            counts["calls"] += 1
            counts["requests"] += result.attempts
            counts["prompt"] += result.prompt_tokens
            counts["completion"] += result.completion_tokens
        if result.error is not None:
            counts["errors"] += 1
        bar.update(1)
        bar.set_postfix(errors=counts["errors"], cached=counts["cached"], refresh=False)
        if on_result is None:
            return None
        try:
            return on_result(result)  # type: ignore[return-value]
        except KeyboardInterrupt:
            # A KeyboardInterrupt escaping a task bypasses the run's cleanup; carry it out as an exception.
            raise _Interrupted from None

    stats: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        results = asyncio.run(
            run_calls(calls, settings, cache=cache, on_result=track, keep_results=keep_results, stats=stats)
        )
    except _Interrupted:
        raise KeyboardInterrupt from None
    finally:
        bar.close()
    return RunSummary(
        results=results,
        total=counts["done"],
        calls_made=counts["calls"],
        requests=counts["requests"],
        cache_hits=counts["cached"],
        errors=counts["errors"],
        prompt_tokens=counts["prompt"],
        completion_tokens=counts["completion"],
        wall_time=time.perf_counter() - started,
        format_level=stats.get("format_level", LEVEL_NAMES[LEVEL_JSON_SCHEMA]),
        format_refusals=stats.get("format_refusals", 0),
    )

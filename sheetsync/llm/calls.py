"""What a caller hands the LLM layer and what it gets back: settings, calls, results, the cache and its keys."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

DEFAULT_BASE_URL = "https://api.openai.com/v1"
PLACEHOLDER_API_KEY = "sk-no-key-required"  # local servers ignore the key, but the SDK insists on one

#: Structured-output levels, from most to least enforced, and the setting that picks one (or "auto").
LEVEL_JSON_SCHEMA, LEVEL_JSON_OBJECT, LEVEL_INSTRUCTIONS = 0, 1, 2
LEVEL_NAMES = ("json_schema", "json_object", "instructions")
STRUCTURED_OUTPUT_CHOICES = ("auto", *LEVEL_NAMES)


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
    max_tokens: int | None = None  # reply budget; None → not sent
    seed: int | None = None
    structured_output: str = "auto"  # "auto" starts at json_schema and falls back; a level name pins it
    outage_wait: float = 300.0  # seconds to wait for a server that stopped answering before stopping the run
    probe_interval: float = 5.0  # seconds between probes of a server that is down


@dataclass(frozen=True)
class Call:
    """One request: the caller's row id, the chat messages, and the JSON schema of the expected answer.

    ``shrink(tokens, limit)``, when given, returns a smaller call for a prompt the server found too long
    for its context (``tokens`` > ``limit``), or None when nothing can be cut; ``note`` says what was cut.
    """

    key: str
    messages: list[dict[str, Any]]
    schema: dict[str, Any] | None  # None → free text in Result.text
    schema_name: str = "answer"
    shrink: Callable[[int, int], Call | None] | None = field(default=None, compare=False, repr=False)
    note: str | None = None


@dataclass(slots=True)
class Result:
    """The outcome of one call. Exactly one of ``value``/``text`` (success) or ``error`` describes it.

    ``value`` is the parsed object for schema calls; ``text`` is the raw reply (kept for logs). ``level`` is
    the structured-output level the answer was produced at; ``cause`` the kind of failure (see
    ``failures.CAUSES``); ``note`` anything done to the call (e.g. a field cut to fit the context).
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
    cached_tokens: int = 0  # prompt tokens the server served from its prompt cache
    level: str | None = None
    cause: str | None = None
    note: str | None = None

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
        cached_tokens=int(hit.get("cached_tokens") or 0),
        level=hit.get("level"),
        note=hit.get("note"),
    )


def cache_entry(result: Result, model: str, created_at: float) -> dict[str, Any]:
    """What the cache keeps of a successful result (everything ``cached_result`` gives back)."""
    return {
        "value": result.value,
        "text": result.text,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "cached_tokens": result.cached_tokens,
        "level": result.level,
        "note": result.note,
        "model": model,
        "created_at": created_at,
    }


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


def resolve_base_url(settings: LLMSettings) -> str:
    """The URL requests go to: explicit setting, else ``OPENAI_BASE_URL``, else OpenAI."""
    return settings.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL


_SECRET_PARAM = re.compile(r"key|token|secret|sig|pass|auth", re.I)


@functools.lru_cache(maxsize=32)  # computed for every cache key: once per URL is enough
def normalise_base_url(url: str) -> str:
    """Lower-case scheme and host, drop credentials, secret-looking query params and the trailing slash."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    netloc = f"{host}:{parts.port}" if parts.port else host
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query) if not _SECRET_PARAM.search(k)))
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), query, ""))


def is_openai(settings: LLMSettings) -> bool:
    """Whether requests go to OpenAI itself (or Azure OpenAI), whose rules differ from local servers'."""
    host = (urlsplit(resolve_base_url(settings)).hostname or "").lower()
    return host == "api.openai.com" or host.endswith(".openai.azure.com")


def cache_key(settings: LLMSettings, call: Call) -> str:
    """sha256 of everything that determines the answer: server, model, messages, schema, sampling params.

    Deliberately excluded: the API key (a secret, and irrelevant to the answer), timeout, concurrency,
    retries and the structured-output level (they change how we ask, not what comes back), and the row's
    own ``key``.
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

"""Generic, fast, cached LLM calls through the ``openai`` SDK (3.x) against OpenAI or any compatible server.

This package knows nothing about spreadsheets or judges: callers hand it ``Call`` objects (chat messages and
an optional JSON schema) and get one ``Result`` per call, never an exception for a failed row.

Why it does its own work instead of leaning on the SDK:

* **Retries are ours** (the client gets ``max_retries=0``): bounded, full jitter, ``Retry-After`` honoured,
  and they also cover what the SDK does not retry — a 200 with a broken JSON body (a raw
  ``json.JSONDecodeError`` in SDK 3.x), an empty ``choices`` list and replies that do not parse.
  Refusals and context overflows are recognised by what the server says, not its status (``failures``).
* **Timeouts** default to 60 s per request, not the SDK's 600 s; replies are bounded by ``max_tokens``.
* **Concurrency** is a pool of ``settings.concurrency`` workers pulling from the calls iterator, so memory
  stays flat however many rows there are (no coroutine per row is built up front). At 64+ in flight the
  client's CPU per request is the limit, so the SDK's chat request is built once per client and replayed
  with each body (``client``) on a lean HTTP/1.1 wire that speaks TLS too (``wire``).
* **Structured output degrades gracefully** (``levels``): strict ``json_schema`` first, then ``json_object``,
  then the schema described in the system instruction; the level a server supports is learned once per
  run, or pinned with ``structured_output``.
* **Outages pause the run** instead of failing rows (``outage``).
* **Caching and resumability**: the cache is checked before any request and written on success only, and
  ``on_result`` sees each result as soon as it exists, so Ctrl-C loses nothing already finished.

Modules: ``calls`` (settings, calls, results, cache keys), ``levels`` (request bodies and reply parsing),
``failures`` (what an error means), ``outage``, ``costs`` (token estimates and prices), ``client`` (the one
client factory and chat call, shared with ``respond``), ``transport`` (the HTTP client the SDK is handed),
``wire`` (the lean HTTP/1.1 transport), ``runner``.
"""

from sheetsync.llm.calls import (
    DEFAULT_BASE_URL,
    LEVEL_INSTRUCTIONS,
    LEVEL_JSON_OBJECT,
    LEVEL_JSON_SCHEMA,
    LEVEL_NAMES,
    PLACEHOLDER_API_KEY,
    STRUCTURED_OUTPUT_CHOICES,
    Cache,
    Call,
    LLMSettings,
    MemoryCache,
    Result,
    cache_entry,
    cache_key,
    cached_result,
    is_openai,
    normalise_base_url,
    resolve_base_url,
)
from sheetsync.llm.client import chat_completion, make_client
from sheetsync.llm.costs import (
    DEFAULT_PRICES,
    estimate_call_tokens,
    estimate_cost,
    estimate_tokens,
    model_price,
    price_table,
    token_method,
)
from sheetsync.llm.failures import CAUSES, FinalFailure, RetryableFailure
from sheetsync.llm.levels import (
    ReplyParseError,
    parse_json_reply,
    request_body,
    schema_errors,
    schema_instruction,
)
from sheetsync.llm.outage import ServerUnavailable
from sheetsync.llm.runner import RunSummary, run, run_calls

__all__ = [
    "CAUSES", "DEFAULT_BASE_URL", "DEFAULT_PRICES", "LEVEL_INSTRUCTIONS", "LEVEL_JSON_OBJECT", "LEVEL_JSON_SCHEMA",
    "LEVEL_NAMES", "PLACEHOLDER_API_KEY", "STRUCTURED_OUTPUT_CHOICES", "Cache", "Call", "FinalFailure", "LLMSettings",
    "MemoryCache", "ReplyParseError", "Result", "RetryableFailure", "RunSummary", "ServerUnavailable",
    "cache_entry", "cache_key", "cached_result", "chat_completion", "estimate_call_tokens", "estimate_cost", "estimate_tokens",
    "is_openai", "make_client", "model_price", "normalise_base_url", "parse_json_reply", "price_table",
    "request_body", "resolve_base_url", "run", "run_calls", "schema_errors", "schema_instruction", "token_method",
]

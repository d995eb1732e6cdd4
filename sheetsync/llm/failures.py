"""What a failed attempt means: retry it, fall back to a lower structured-output level, or give up on the row.

Servers disagree on status codes, so refusals are recognised by what the error body says, not by its
status: llama-cpp-python answers a ``json_schema`` response_format with a 500 (a pydantic body naming
``response_format``), vLLM and Ollama with a 400, OpenAI with a 400 whose ``param`` is ``response_format``.
A prompt longer than the model's context is recognised the same way (OpenAI and vLLM: "maximum context
length is M tokens … N tokens"; llama.cpp: "request (N tokens) exceeds the available context size (M
tokens)"; llama-cpp-python: "Requested tokens (N) exceed context window of M") and is never retried or
mistaken for a format refusal. Everything else keeps the usual rules: 408/409/429/5xx, timeouts and
dropped connections are retried; other client errors are final. Every reason is redacted before it
leaves this module, because servers echo keys and URLs in their error bodies.
"""

from __future__ import annotations

import json
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any

import openai

from sheetsync.redact import redact

MAX_RETRY_AFTER = 120.0  # a longer Retry-After means "quota exhausted": report it instead of stalling the run
RETRYABLE_STATUS = frozenset({408, 409, 429})  # plus every status >= 500

#: Why a row ended in error, for the run's summary by cause.
CAUSES = {
    "format_refused": "the server refused the structured-output format",
    "context": "prompt too long for the model's context",
    "length": "reply cut off at the max_tokens budget",
    "unparsable": "reply was not the JSON asked for",
    "schema": "reply did not match the schema",
    "refused": "the model refused to answer",
    "rate_limit": "rate limited / quota",
    "server_error": "server error (5xx)",
    "timeout": "timeout",
    "connection": "connection failed",
    "auth": "authentication / permission",
    "client_error": "request rejected (4xx)",
    "malformed": "malformed response",
    "other": "other",
}

_FORMAT_HINTS = ("response_format", "json_schema", "json_object", "structured output", "grammar",
                 "guided_json", "guided decoding", "guided_decoding", "json schema")
_CONTEXT_PATTERNS = (
    # OpenAI, vLLM: "maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens"
    re.compile(r"maximum context length is (?P<limit>\d+) tokens.*?(?P<tokens>\d+) tokens", re.S),
    # llama.cpp server: "request (14258 tokens) exceeds the available context size (8192 tokens)"
    re.compile(r"request \((?P<tokens>\d+) tokens\) exceeds the available context size \((?P<limit>\d+) tokens\)"),
    # llama-cpp-python: "Requested tokens (14258) exceed context window of 8192"
    re.compile(r"requested tokens \((?P<tokens>\d+)\) exceed context window of (?P<limit>\d+)"),
)
_CONTEXT_HINTS = ("context_length_exceeded", "context length", "context size", "context window",
                  "exceeds the available context", "prompt is too long", "too many tokens")


class RetryableFailure(Exception):
    """A failed attempt worth retrying; ``delay`` is the server's Retry-After when it sent one."""

    def __init__(self, reason: str, cause: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = redact(reason)
        self.cause = cause
        self.delay = delay


class FinalFailure(Exception):
    """A failed attempt that retrying will not fix."""

    def __init__(self, reason: str, cause: str) -> None:
        super().__init__(reason)
        self.reason = redact(reason)
        self.cause = cause


class ContextOverflow(FinalFailure):
    """The prompt does not fit the model's context; ``tokens``/``limit`` when the server said them."""

    def __init__(self, tokens: int | None, limit: int | None, detail: str) -> None:
        if tokens is not None and limit is not None:
            reason = f"too long for the model's context: {tokens} tokens > {limit}"
        else:
            reason = f"too long for the model's context ({detail})"
        super().__init__(reason, "context")
        self.tokens, self.limit = tokens, limit


def error_text(e: openai.APIStatusError) -> str:
    """Everything the server said, lower-cased, for recognising what kind of error it is."""
    body = e.body
    try:
        raw = body if isinstance(body, str) else json.dumps(body)
    except (TypeError, ValueError):
        raw = str(body)
    return f"{raw} {e.message}".lower()


def status_reason(e: openai.APIStatusError) -> str:
    body = e.body
    message = body.get("message") if isinstance(body, dict) else None
    if not message and isinstance(body, dict) and isinstance(body.get("detail"), list | str):
        message = json.dumps(body["detail"]) if isinstance(body["detail"], list) else body["detail"]
    if not message:
        message = body if isinstance(body, str) else e.message
    return redact(f"HTTP {e.status_code}: {str(message)[:300]}")


def context_overflow(e: openai.APIStatusError) -> ContextOverflow | None:
    """A ContextOverflow when the error says the prompt is longer than the model's context."""
    if e.status_code not in (400, 413, 422, 500):
        return None
    text = error_text(e)
    for pattern in _CONTEXT_PATTERNS:
        match = pattern.search(text)
        if match:
            return ContextOverflow(int(match["tokens"]), int(match["limit"]), "")
    if any(hint in text for hint in _CONTEXT_HINTS):
        detail = status_reason(e)
        if "context size has been exceeded" in text:  # llama.cpp: the prompt outgrew one slot's share
            detail += "; a llama.cpp server splits -c between --parallel slots: start it with --parallel 1"
        return ContextOverflow(None, None, detail)
    return None


def is_format_refusal(e: openai.APIStatusError) -> bool:
    """A 400/422/500 whose body names the response format, a schema or a grammar."""
    if e.status_code not in (400, 422, 500):
        return False
    body = e.body
    param = body.get("param") if isinstance(body, dict) else None
    if param == "response_format":
        return True
    text = error_text(e)
    return any(hint in text for hint in _FORMAT_HINTS) or ("schema" in text and e.status_code != 500)


def max_tokens_key_wanted(e: openai.APIStatusError, current: str) -> str | None:
    """The other name for the reply budget when the server rejects the one sent (None: not about that)."""
    if e.status_code not in (400, 422):
        return None
    text = error_text(e)
    if current == "max_tokens" and "max_completion_tokens" in text and "max_tokens" in text:
        return "max_completion_tokens"  # OpenAI: "Use 'max_completion_tokens' instead."
    if current == "max_completion_tokens" and "max_completion_tokens" in text:
        return "max_tokens"  # a server that does not know the new name
    return None


def retry_after(headers: Any) -> float | None:
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


def status_failure(e: openai.APIStatusError) -> RetryableFailure | FinalFailure:
    """The usual retry rules for an HTTP error that is neither a format refusal nor a context overflow."""
    reason = status_reason(e)
    status = e.status_code
    retryable = status in RETRYABLE_STATUS or status >= 500
    if e.response is not None and e.response.headers.get("x-should-retry") in ("true", "false"):
        retryable = e.response.headers["x-should-retry"] == "true"
    delay = retry_after(e.response.headers if e.response is not None else None)
    cause = ("rate_limit" if status == 429 else "server_error" if status >= 500
             else "auth" if status in (401, 403) else "client_error")
    if delay is not None and delay > MAX_RETRY_AFTER:
        reason += f" (Retry-After {delay:.0f}s exceeds {MAX_RETRY_AFTER:.0f}s: quota exhausted?)"
        retryable = False
    return RetryableFailure(reason, cause, delay) if retryable else FinalFailure(reason, cause)


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def reply_content(response: Any) -> tuple[str, str | None, int, int, int]:
    """(content, finish_reason, prompt, completion, cached prompt tokens), or a failure for a broken reply.

    ``response`` is the reply's JSON (a dict) or a ``ChatCompletion``-like object."""
    get = _field
    choices = get(response, "choices")
    if not choices:
        raise RetryableFailure("malformed response: no choices", "malformed")
    if not isinstance(choices, list | tuple):
        raise RetryableFailure("malformed response: choices is not a list", "malformed")
    choice = choices[0]
    message = get(choice, "message")
    content = get(message, "content") if message is not None else None
    usage = get(response, "usage")
    prompt_tokens = int((get(usage, "prompt_tokens") if usage is not None else 0) or 0)
    completion_tokens = int((get(usage, "completion_tokens") if usage is not None else 0) or 0)
    details = get(usage, "prompt_tokens_details") if usage is not None else None
    cached_tokens = int((get(details, "cached_tokens") if details is not None else 0) or 0)
    if content is not None and not isinstance(content, str):
        raise RetryableFailure("malformed response: message content is not text", "malformed")
    if content is None:
        refusal = get(message, "refusal") if message is not None else None
        if refusal:
            raise FinalFailure(f"model refused: {str(refusal)[:200]}", "refused")
        raise RetryableFailure("malformed response: empty message content", "malformed")
    return content, get(choice, "finish_reason"), prompt_tokens, completion_tokens, cached_tokens

"""Server profiles for the fake: how the OpenAI-compatible servers people run answer what sheetsync sends.

Each profile reproduces a server's observable behaviour (status, error body, usage) and cites where it comes
from: ``local-llm.md`` (measured here against real servers with SmolLM2-135M), ``openai-sdk.md`` (read in the
servers' code and docs). Tokens are counted as in ``sheetsync.llm.costs``' approximation (4 characters per
token) so tests can compute what a profile will say.

* ``openai`` — strict structured outputs: a strict ``json_schema`` must close every object
  (``additionalProperties: false``) and require every property, else 400 with ``param: response_format``
  (OpenAI structured-outputs docs, "Supported schemas"); ``max_tokens`` is refused for o-series models
  ("Use 'max_completion_tokens' instead", openai-sdk.md §2.1); ``x-ratelimit-*`` headers on every reply;
  automatic prompt caching: a prefix of ≥1,024 tokens identical to an earlier request is reported in
  ``usage.prompt_tokens_details.cached_tokens``, in 128-token steps (openai-sdk.md §0.7, local-llm.md).
* ``llama-cpp-python`` — ``response_format`` ``json_schema`` → **HTTP 500** with a pydantic body "Input should
  be 'text' or 'json_object'" at ``('body', 'response_format', 'type')``; ``json_object`` works, and a flat
  ``response_format.schema`` beside it constrains the reply to that schema with a grammar (local-llm.md,
  measured on 0.3.x; checked with scripts/check_local_llm); a prompt (plus its reply budget) over ``n_ctx``: 400 "This model's maximum
  context length is M tokens. However, you requested N tokens (P in the messages, C in the completion)"
  (llama_cpp/server/errors.py reformats llama.py's "Requested tokens (N) exceed context window of M");
  no cached-token details in usage.
* ``llama.cpp`` (``llama-server``) — the nested ``json_schema`` is honoured through a grammar
  (openai-sdk.md §3 c); a prompt over the context: **HTTP 400** "request (N tokens) exceeds the available
  context size (M tokens), try increasing it"; ``slots`` share ``-c`` (``-c 8192`` with 4 slots → 2048 each) and
  a prompt over one slot's share fails with **HTTP 500** "Context size has been exceeded." (local-llm.md);
  at most ``slots`` requests run at once, the rest queue; each slot keeps its last prompt, and a request
  reusing its prefix reports it in ``prompt_tokens_details.cached_tokens`` and is faster (prompt processing
  costs ``per_token_latency`` per uncached token: local-llm.md measured 97 s uncached vs 12 s cached).
* ``vllm`` — guided decoding of the nested ``json_schema`` (vLLM structured_outputs docs); schema features
  its grammar backend cannot compile (here: ``pattern``) → **HTTP 400** in vLLM's ``ErrorResponse`` shape
  (``{"object": "error", "message", "type": "BadRequestError", "param", "code": 400}``, serving_engine.py);
  a prompt over ``max_model_len``: 400 "This model's maximum context length is M tokens. However, you
  requested N tokens (… in the messages, … in the completion)".
* ``ollama`` — ``/v1`` compatibility: ``json_schema``'s schema becomes Ollama's native ``format`` and
  ``json_object`` becomes ``"json"`` (ollama openai/openai.go); only ``max_tokens`` is known, so a
  ``max_completion_tokens`` budget is ignored (openai-sdk.md §2.1); over-long prompts are cut silently to
  ``num_ctx`` (Ollama FAQ); it refuses a ``response_format`` type it does not know with 400
  "invalid response_format type" in OpenAI's error shape.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

PROFILES = ("generic", "openai", "llama-cpp-python", "llama.cpp", "vllm", "ollama")
OPENAI_CACHE_MIN = 1024
OPENAI_CACHE_STEP = 128


def messages_text(request: dict[str, Any]) -> str:
    """All message text of a chat request joined together, for ``match`` lookups."""
    parts: list[str] = []
    for message in request.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "\n".join(parts)


def prompt_tokens(body: dict[str, Any]) -> int:
    """Prompt tokens as the fake counts them (4 characters per token, as sheetsync's approximation)."""
    return len(messages_text(body)) // 4 + 4 * len(body.get("messages") or []) + 3


def format_type(request: dict[str, Any]) -> str | None:
    response_format = request.get("response_format")
    return response_format.get("type") if isinstance(response_format, dict) else None


def count_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


@dataclass
class Profile:
    name: str = "generic"
    context: int | None = None  # tokens; None: unlimited
    slots: int = 0  # llama.cpp: parallel slots sharing `context` (0: no slot model)
    per_token_latency: float = 0.0  # seconds per uncached prompt token (llama.cpp prompt processing)


def make_profile(name: str, **overrides: Any) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; expected one of {', '.join(PROFILES)}")
    defaults: dict[str, Any] = {
        "llama-cpp-python": {"context": 8192},
        "llama.cpp": {"context": 8192, "slots": 4},
        "vllm": {"context": 8192},
        "ollama": {"context": 4096},
    }.get(name, {})
    return Profile(name=name, **{**defaults, **overrides})


def _error(message: str, type_: str = "invalid_request_error", code: Any = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _strict_problem(schema: Any, where: str = "()") -> str | None:
    """OpenAI's strict-mode rules for one schema: every object closed and every property required."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "object":
        props = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            return f"In context={where}, 'additionalProperties' is required to be supplied and to be false."
        missing = [p for p in props if p not in (schema.get("required") or [])]
        if missing:
            return f"In context={where}, 'required' is required to be supplied and to be an array including every " \
                   f"key in properties. Missing '{missing[0]}'."
        for key, sub in props.items():
            problem = _strict_problem(sub, f"('properties', '{key}')")
            if problem:
                return problem
    if schema.get("type") == "array":
        return _strict_problem(schema.get("items"), f"{where}, 'items'")
    return None


def _uses(schema: Any, keyword: str) -> bool:
    if isinstance(schema, dict):
        return keyword in schema or any(_uses(v, keyword) for v in schema.values())
    if isinstance(schema, list):
        return any(_uses(v, keyword) for v in schema)
    return False


def refusal(profile: Profile, body: dict[str, Any], prompt_tokens: int) -> tuple[int, dict[str, Any]] | None:
    """The error this server answers the request with, or None when it serves it."""
    fmt = body.get("response_format") if isinstance(body.get("response_format"), dict) else None
    kind = fmt.get("type") if fmt else None
    schema = ((fmt or {}).get("json_schema") or {}).get("schema")
    model = str(body.get("model") or "")
    budget = body.get("max_tokens") or body.get("max_completion_tokens") or 0
    name = profile.name
    if name == "openai":
        if "max_tokens" in body and model.startswith(("o1", "o3", "o4")):
            return 400, _error("Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                               "'max_completion_tokens' instead.", code="unsupported_parameter", param="max_tokens")
        if kind == "json_schema" and (fmt.get("json_schema") or {}).get("strict"):
            problem = _strict_problem(schema)
            if problem:
                schema_name = (fmt.get("json_schema") or {}).get("name")
                return 400, _error(f"Invalid schema for response_format '{schema_name}': {problem}",
                                   code="invalid_json_schema", param="response_format")
        if profile.context and prompt_tokens + budget > profile.context:
            return 400, _error(f"This model's maximum context length is {profile.context} tokens. However, your "
                               f"messages resulted in {prompt_tokens} tokens. Please reduce the length of the "
                               "messages.", code="context_length_exceeded", param="messages")
    elif name == "llama-cpp-python":
        if kind not in (None, "text", "json_object"):
            return 500, {"detail": [{"type": "literal_error", "loc": ["body", "response_format", "type"],
                                     "msg": "Input should be 'text' or 'json_object'", "input": kind,
                                     "ctx": {"expected": "'text' or 'json_object'"}}]}
        if profile.context and prompt_tokens + budget > profile.context:
            return 400, _error(f"This model's maximum context length is {profile.context} tokens. However, you "
                               f"requested {prompt_tokens + budget} tokens ({prompt_tokens} in the messages, "
                               f"{budget} in the completion). Please reduce the length of the messages or "
                               "completion.", code="context_length_exceeded", param="messages")
    elif name == "llama.cpp":
        if profile.context and prompt_tokens > profile.context:
            return 400, {"error": {"code": 400, "type": "exceed_context_size_error",
                                   "message": f"request ({prompt_tokens} tokens) exceeds the available context size "
                                              f"({profile.context} tokens), try increasing it",
                                   "n_prompt_tokens": prompt_tokens, "n_ctx": profile.context}}
        if profile.slots and profile.context and prompt_tokens > profile.context // profile.slots:
            return 500, {"error": {"code": 500, "message": "Context size has been exceeded.", "type": "server_error"}}
    elif name == "vllm":
        if kind == "json_schema" and _uses(schema, "pattern"):
            return 400, {"object": "error", "type": "BadRequestError", "param": None, "code": 400,
                         "message": "The provided JSON schema contains features not supported by xgrammar."}
        if profile.context and prompt_tokens + budget > profile.context:
            return 400, {"object": "error", "type": "BadRequestError", "param": None, "code": 400,
                         "message": f"This model's maximum context length is {profile.context} tokens. However, you "
                                    f"requested {prompt_tokens + budget} tokens ({prompt_tokens} in the messages, "
                                    f"{budget} in the completion). Please reduce the length of the messages or "
                                    "completion."}
    elif name == "ollama" and kind not in (None, "text", "json_object", "json_schema"):
        return 400, _error(f"invalid response_format type {kind!r}")
    return None


def reply_budget(profile: Profile, body: dict[str, Any]) -> int | None:
    """The reply budget the server honours (Ollama ignores ``max_completion_tokens``)."""
    if profile.name == "ollama":
        return body.get("max_tokens")
    return body.get("max_completion_tokens") or body.get("max_tokens")


def usage_details(profile: Profile, prompt_tokens: int, cached: int) -> dict[str, Any] | None:
    """``prompt_tokens_details`` as the server reports it (None: the server sends none)."""
    if profile.name in ("openai", "llama.cpp", "generic"):
        return {"cached_tokens": cached, "audio_tokens": 0}
    return None


def shared_prefix_tokens(profile: Profile, prompt: str, earlier: list[str]) -> int:
    """Prompt tokens served from the server's prefix cache (OpenAI: ≥1,024 in 128 steps; llama.cpp: any)."""
    if profile.name not in ("openai", "llama.cpp") or not earlier:
        return 0
    best = max(len(os.path.commonprefix([prompt, e])) for e in earlier)
    tokens = best // 4
    if profile.name == "openai":
        return 0 if tokens < OPENAI_CACHE_MIN else tokens // OPENAI_CACHE_STEP * OPENAI_CACHE_STEP
    return tokens


def ratelimit_headers(profile: Profile, requests_served: int) -> dict[str, str]:
    if profile.name != "openai":
        return {}
    return {"x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": str(max(0, 9999 - requests_served)),
            "x-ratelimit-reset-requests": "6ms", "x-ratelimit-limit-tokens": "30000000",
            "x-ratelimit-remaining-tokens": "29999000", "x-ratelimit-reset-tokens": "0s"}

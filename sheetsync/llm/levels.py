"""Structured output: the three levels a server may support, the request body for each, and reading the reply.

From most to least enforced: a strict nested ``json_schema`` response_format, ``json_object`` (valid JSON,
any shape), and ``instructions`` (the schema described in the system message). Replies are always parsed
tolerantly and validated against the schema here, whatever the server promised.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from sheetsync.llm.calls import LEVEL_JSON_OBJECT, LEVEL_JSON_SCHEMA, Call, LLMSettings, is_openai


def default_max_tokens_key(settings: LLMSettings) -> str:
    """OpenAI deprecated ``max_tokens`` for ``max_completion_tokens`` (its reasoning models reject the old
    name); Ollama and older local servers know only ``max_tokens``. A server that asks for the other name
    gets it for the rest of the run (see the runner)."""
    return "max_completion_tokens" if is_openai(settings) else "max_tokens"


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


def request_body(
    settings: LLMSettings, call: Call, level: int, max_tokens_key: str | None = None
) -> dict[str, Any]:
    """The chat-completions body for a call at a structured-output level (shared with the Batch API path)."""
    kwargs: dict[str, Any] = {"model": settings.model, "messages": _messages_for(call, level)}
    if call.schema is not None and level == LEVEL_JSON_SCHEMA:
        kwargs["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": call.schema_name, "schema": call.schema, "strict": True},
        }
    elif call.schema is not None and level == LEVEL_JSON_OBJECT:
        # The flat "schema" is how llama.cpp's server and llama-cpp-python constrain json_object to a schema
        # (a grammar); servers that do not know it ignore it, and the schema is in the instruction too.
        kwargs["response_format"] = {"type": "json_object", "schema": call.schema}
    if settings.temperature is not None:
        kwargs["temperature"] = settings.temperature
    if settings.max_tokens is not None:
        kwargs[max_tokens_key or default_max_tokens_key(settings)] = settings.max_tokens
    if settings.seed is not None:
        kwargs["seed"] = settings.seed
    return kwargs



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
    """First JSON-schema violation, or None. Validators are cached per schema for the run: by the schema
    object first (every call of a run shares one), by its content otherwise; a valid reply (the usual case)
    costs one ``is_valid``, and only an invalid one pays for finding the best error to report."""
    import jsonschema  # lazy: only schema calls need it

    known = validators.get(id(schema))
    if known is not None and known[0] is schema:
        validator = known[1]
    else:
        token = json.dumps(schema, sort_keys=True)
        validator = validators.get(token)
        if validator is None:
            validator = jsonschema.validators.validator_for(schema)(schema)
            validators[token] = validator
        validators[id(schema)] = (schema, validator)  # keeps the schema alive, so its id stays its own
    if validator.is_valid(value):
        return None
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    return None if error is None else error.message

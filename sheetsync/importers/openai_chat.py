"""OpenAI Chat Completions and Responses logs: one record per call, as teams log them.

A record is one of

* ``{"request": {...}, "response": {...}}`` — the body sent to ``chat.completions.create`` (``messages``)
  or ``responses.create`` (``input``, ``instructions``) and the object that came back (a ``ChatCompletion``
  with ``choices[0].message``, or a ``Response`` with its ``output`` items);
* a conversation: ``{"messages": [...]}`` (the fine-tuning / evals shape) whose last assistant turns are
  the output, with optional ``id``, ``model`` and ``metadata``.

Shapes from the SDK's types (``openai.types.chat.ChatCompletion``, ``openai.types.responses.Response``):
tool calls are ``tool_calls[].function.{name, arguments}`` in Chat Completions and ``function_call``
items in Responses; tool results are ``role: tool`` messages or ``function_call_output`` items; content
parts may be text, images, audio or files. The id is the response's (``chatcmpl-…``, ``resp_…``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sheetsync.importers.rows import RecordError, Trace, as_list, chat_messages, get


def traces(records: Iterator[tuple[str, dict[str, Any]]], link: str) -> Iterator[tuple[str, Trace]]:
    for where, rec in records:
        yield where, trace(rec, link)


def trace(rec: dict[str, Any], link: str = "") -> Trace:
    request = rec.get("request") if isinstance(rec.get("request"), dict) else {}
    response = rec.get("response") if isinstance(rec.get("response"), dict) else {}
    if not request and not response and "messages" not in rec:
        raise RecordError("neither `request`/`response` nor `messages`: not an OpenAI log record")
    if "messages" in rec and not request:
        messages = chat_messages(rec["messages"])
        output = None
    elif "messages" in request:
        messages = chat_messages(request["messages"])
        output = _completion_output(response)
    elif "input" in request or "instructions" in request:
        messages = ([{"role": "system", "content": request["instructions"]}] if request.get("instructions") else [])
        messages += responses_items(request.get("input"))
        output = responses_items(response.get("output")) if response else None
    else:
        raise RecordError("`request` has neither `messages` (Chat Completions) nor `input` (Responses)")
    if not messages:
        raise RecordError("no messages in the request")
    rid = str(response.get("id") or rec.get("id") or "")
    if not rid:
        raise RecordError("no id (`response.id` or `id`)")
    metadata = {**(get(rec, "metadata") or {}), **(request.get("metadata") or {}), **(response.get("metadata") or {})}
    error = response.get("error") or rec.get("error")
    return Trace(
        id=rid, messages=messages, output=output, metadata=metadata if isinstance(metadata, dict) else {},
        model=str(response.get("model") or request.get("model") or rec.get("model") or ""),
        url=link.format(id=rid, trace_id=rid) if link else "",
        error=(error.get("message") if isinstance(error, dict) else str(error)) if error else "",
    )


def _completion_output(response: dict[str, Any]) -> list[dict[str, Any]] | None:
    if not response:
        return None
    choices = as_list(response.get("choices"))
    if not choices:
        return [] if response.get("error") else None
    message = get(choices, 0, "message")
    if not isinstance(message, dict):
        raise RecordError("`response.choices[0].message` is not a message")
    return chat_messages([{"role": "assistant", **message}])


def responses_items(items: Any) -> list[dict[str, Any]]:
    """Responses API input/output items as chat messages (consecutive calls become one assistant turn)."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    out: list[dict[str, Any]] = []
    for item in as_list(items):
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message" or ("role" in item and kind not in ("function_call", "function_call_output")):
            out.append({"role": item.get("role", "assistant"), "content": item.get("content")})
        elif kind == "function_call":
            call = {"id": item.get("call_id") or item.get("id"), "type": "function",
                    "function": {"name": item.get("name", "tool"), "arguments": item.get("arguments")}}
            if out and out[-1]["role"] == "assistant" and out[-1].get("tool_calls") is not None:
                out[-1]["tool_calls"].append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            out.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": _output_text(item.get("output"))})
        elif kind.endswith("_call"):  # built-in tools: web_search_call, file_search_call, code_interpreter_call…
            args = {k: v for k, v in item.items() if k in ("action", "queries", "code")}
            out.append({"role": "assistant", "content": None,
                        "tool_calls": [{"id": item.get("id"), "function": {"name": kind.removesuffix("_call"),
                                                                             "arguments": args}}]})
            if item.get("results"):
                out.append({"role": "tool", "tool_call_id": item.get("id"), "content": _output_text(item["results"])})
    return out


def _output_text(output: Any) -> str:
    import json

    if isinstance(output, str):
        return output
    return json.dumps(output, ensure_ascii=False)

"""Langfuse trace exports (JSON/JSONL): traces as the public API returns them (``GET /api/public/traces``
and ``/traces/{id}``, the UI's export), one trace per record, one trace per interaction.

A trace has ``id``, ``name``, ``input``, ``output``, ``metadata``, ``tags``, ``userId``, ``sessionId``,
``environment``, ``release``, ``version``, ``htmlPath`` (its page in the Langfuse app, relative to the
host) and, in full exports, ``observations`` (``type`` ``GENERATION``, ``SPAN``, ``EVENT``, ``TOOL``,
``RETRIEVER``…, each with ``input``, ``output``, ``model``, ``startTime``/``endTime``).

The conversation comes from the last ``GENERATION`` whose input is a list of messages (the model call
that produced the answer, holding the history and tool results), falling back to the trace's own input
and output; ``RETRIEVER`` observations give the documents. ``userId``, ``sessionId``, ``environment``,
``release``, ``version`` and ``name`` join the metadata, so any of them can be a dimension.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sheetsync.importers.langsmith import chat_text
from sheetsync.importers.rows import RecordError, Trace, as_list, chat_messages, get

HOST = "https://cloud.langfuse.com"
_FIELDS = {"name": "trace_name", "userId": "user_id", "sessionId": "session_id", "environment": "environment",
           "release": "release", "version": "version"}


def traces(records: Iterator[tuple[str, dict[str, Any]]], link: str, host: str = HOST) -> Iterator[tuple[str, Trace]]:
    for where, rec in records:
        yield where, trace(rec, link, host)


def trace(rec: dict[str, Any], link: str = "", host: str = HOST) -> Trace:
    if not rec.get("id") or not ({"input", "output", "observations", "htmlPath"} & set(rec)):
        raise RecordError("no `id` with `input`/`output`/`observations`: not a Langfuse trace")
    observations = [o for o in as_list(rec.get("observations")) if isinstance(o, dict)]
    ordered = sorted(observations, key=lambda o: str(o.get("endTime") or o.get("startTime") or ""))
    generations = [o for o in ordered if o.get("type") == "GENERATION" and _messages(o.get("input"))]
    if generations:
        last = generations[-1]
        messages, output = _messages(last.get("input")), _output(last.get("output"))
    else:
        messages, output = _messages(rec.get("input")), _output(rec.get("output"))
    if not messages:
        raise RecordError(f"trace {rec['id']}: no messages or text in `input` (nor in a GENERATION)")
    metadata = {label: rec[key] for key, label in _FIELDS.items() if rec.get(key) not in (None, "")}
    if isinstance(rec.get("metadata"), dict):
        metadata.update(rec["metadata"])
    rid = str(rec["id"])
    url = link.format(id=rid, trace_id=rid) if link else (host.rstrip("/") + rec["htmlPath"] if rec.get("htmlPath") else "")
    docs = []
    for o in ordered:
        if o.get("type") == "RETRIEVER":
            found = get(o, "output", "documents") if isinstance(o.get("output"), dict) else o.get("output")
            for d in as_list(found):
                if isinstance(d, dict):
                    docs.append({"id": d.get("id") or get(d, "metadata", "source"), "score": d.get("score"),
                                 "text": d.get("content") or d.get("page_content") or d.get("text")})
                elif isinstance(d, str):
                    docs.append({"text": d})
    errors = [o.get("statusMessage") for o in ordered if o.get("level") == "ERROR" and o.get("statusMessage")]
    return Trace(id=rid, messages=messages, output=output, documents=docs, metadata=metadata,
                 tags=[str(t) for t in as_list(rec.get("tags"))], url=url,
                 model=str(generations[-1].get("model") or "") if generations else "",
                 error="; ".join(map(str, errors)))


def _messages(value: Any) -> list[dict[str, Any]]:
    """A trace's or generation's input as messages: a message list, ``{"messages": [...]}``, a text, or
    the first text under a usual key."""
    if isinstance(value, dict):
        if "messages" in value:
            return chat_messages(value["messages"])
        for key in ("input", "question", "query", "prompt", "text"):
            if isinstance(value.get(key), str):
                return [{"role": "user", "content": value[key]}]
        return [{"role": "user", "content": chat_text(value)}] if value else []
    if isinstance(value, list):
        return chat_messages(value)
    return [{"role": "user", "content": value}] if isinstance(value, str) and value else []


def _output(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "assistant", "content": value}]
    if isinstance(value, dict):
        if "role" in value or "tool_calls" in value:
            return chat_messages([{"role": "assistant", **value}])
        message = get(value, "choices", 0, "message")
        if isinstance(message, dict):
            return chat_messages([{"role": "assistant", **message}])
        for key in ("output", "answer", "text", "content", "completion"):
            if isinstance(value.get(key), str):
                return [{"role": "assistant", "content": value[key]}]
        return [{"role": "assistant", "content": chat_text(value)}]
    if isinstance(value, list):
        return chat_messages(value)
    return [{"role": "assistant", "content": str(value)}]

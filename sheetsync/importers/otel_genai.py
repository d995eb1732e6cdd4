"""OpenTelemetry GenAI spans (OTLP JSON), as Phoenix/OpenInference, Langfuse, Traceloop and others emit them.

A file is OTLP JSON: one ``ExportTraceServiceRequest`` (``{"resourceSpans": [...]}``) per line, as the
Collector's file exporter writes, or one such object. Spans are grouped by ``traceId`` (see
:mod:`sheetsync.importers.assemble`); one trace is one interaction, with its id as the row's id.

The conversation comes from the trace's last model call (``gen_ai.operation.name`` ``chat``,
``text_completion`` or ``generate_content``): its ``gen_ai.input.messages`` hold everything said so far,
tool results included, and ``gen_ai.output.messages`` the answer (the semantic conventions' JSON schemas:
``{role, parts: [{type: text|tool_call|tool_call_response|blob|uri|file, ...}]}``), with
``gen_ai.system_instructions`` as the system prompt. The older indexed attributes
(``gen_ai.prompt.0.role``… as Traceloop writes) and OpenInference's (``llm.input_messages.0.message.role``…)
are read too. Retrieval spans give the documents (``gen_ai.retrieval.documents``,
``retrieval.documents.N.document.*``); the root span's own attributes and the resource's ``service.name``
are the metadata.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from sheetsync.importers.assemble import Assembler
from sheetsync.importers.rows import RecordError, Trace, as_list, chat_messages, located

LLM_OPERATIONS = ("chat", "text_completion", "generate_content")
_OWN = ("gen_ai.", "llm.", "input.", "output.", "retrieval.", "openinference.", "traceloop.", "tag.", "metadata")


class Span:
    __slots__ = ("attrs", "end", "name", "resource")

    def __init__(self, span: dict[str, Any], resource: dict[str, Any]):
        self.name = str(span.get("name", ""))
        self.attrs = attributes(span.get("attributes"))
        for event in as_list(span.get("events")):  # some instrumentations put the messages on an event
            if isinstance(event, dict):
                self.attrs.update({k: v for k, v in attributes(event.get("attributes")).items() if k.startswith("gen_ai.")})
        self.end = int(span.get("endTimeUnixNano") or span.get("startTimeUnixNano") or 0)
        self.resource = resource


def traces(records: Iterator[tuple[str, dict[str, Any]]], link: str, window: int | None = None,
           assembler: Assembler | None = None) -> Iterator[tuple[str, Trace]]:
    """One trace per interaction, as its spans are complete; ``assembler.orphans`` counts spans left out."""
    asm = assembler or Assembler(**({"window": window} if window else {}))
    for where, rec in records:
        for trace_id, span, is_root in _spans(rec):
            for group in asm.add(trace_id, span, root=is_root, where=where):
                yield group.where, located(group.where, trace_of, group.trace_id, group.root, group.parts, link)
    for group in asm.finish():
        yield group.where, located(group.where, trace_of, group.trace_id, group.root, group.parts, link)


def _spans(rec: dict[str, Any]) -> Iterator[tuple[str, Span, bool]]:
    if "resourceSpans" not in rec:
        raise RecordError("no `resourceSpans`: not OTLP JSON (one ExportTraceServiceRequest per line)")
    for rs in as_list(rec["resourceSpans"]):
        resource = attributes((rs.get("resource") or {}).get("attributes"))
        for ss in as_list(rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans")):
            for n, span in enumerate(as_list(ss.get("spans"))):
                if not isinstance(span, dict) or not span.get("traceId") or not span.get("spanId"):
                    raise RecordError(f"span {n + 1} has no `traceId` or `spanId`")
                yield str(span["traceId"]), Span(span, resource), not span.get("parentSpanId")


def attributes(kvs: Any) -> dict[str, Any]:
    """OTLP ``[{key, value: AnyValue}]`` as a plain dict."""
    if kvs is None:
        return {}
    if not isinstance(kvs, list):
        raise RecordError("`attributes` is not a list of {key, value}")
    return {str(kv.get("key")): any_value(kv.get("value")) for kv in kvs if isinstance(kv, dict)}


def any_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in as_list((value["arrayValue"] or {}).get("values"))]
    if "kvlistValue" in value:
        return attributes((value["kvlistValue"] or {}).get("values"))
    if "bytesValue" in value:
        return f"[{len(str(value['bytesValue'])) * 3 // 4:,} bytes]"
    return None


def trace_of(trace_id: str, root: Span, spans: list[Span], link: str) -> Trace:
    llm = [s for s in spans if s.attrs.get("gen_ai.operation.name") in LLM_OPERATIONS or _has_messages(s)]
    chosen = max((s for s in llm if _has_messages(s)), key=lambda s: s.end, default=None)
    if chosen is None and _has_messages(root):
        chosen = root
    if chosen is None:
        raise RecordError(f"trace {trace_id} has no span with gen_ai.input.messages (or gen_ai.prompt.N.*, "
                          "llm.input_messages.N.*): record message content in the instrumentation")
    a = chosen.attrs
    system = _parts_text(_json(a.get("gen_ai.system_instructions")))
    messages = ([{"role": "system", "content": system}] if system else []) + _messages(a, "input")
    output = _messages(a, "output")
    metadata = {"service": root.resource.get("service.name", "")}
    for key, value in root.attrs.items():
        if key in ("gen_ai.conversation.id", "gen_ai.agent.name"):
            metadata[key.split(".", 1)[1].replace(".", "_")] = value
        elif not key.startswith(_OWN) and not isinstance(value, list | dict):
            metadata[key] = value
    meta = _json(root.attrs.get("metadata"))
    if isinstance(meta, dict):
        metadata.update(meta)
    docs = [d for s in spans for d in _documents(s.attrs)]
    return Trace(
        id=trace_id, messages=messages, output=output, documents=docs, metadata=metadata,
        tags=[str(t) for t in as_list(_json(root.attrs.get("tag.tags")))],
        model=str(a.get("gen_ai.response.model") or a.get("gen_ai.request.model") or a.get("llm.model_name") or ""),
        url=link.format(id=trace_id, trace_id=trace_id) if link else "",
    )


def _has_messages(span: Span) -> bool:
    a = span.attrs
    return "gen_ai.input.messages" in a or "gen_ai.prompt.0.role" in a or "llm.input_messages.0.message.role" in a


def _json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _messages(a: dict[str, Any], side: str) -> list[dict[str, Any]]:
    structured = _json(a.get(f"gen_ai.{side}.messages"))
    if isinstance(structured, list):
        return [m for msg in structured if isinstance(msg, dict) for m in _semconv_message(msg)]
    legacy = "prompt" if side == "input" else "completion"
    indexed = _indexed(a, f"gen_ai.{legacy}.") or _indexed(a, f"llm.{side}_messages.")
    return chat_messages([_indexed_message(m) for m in indexed])


def _semconv_message(msg: dict[str, Any]) -> list[dict[str, Any]]:
    """One semantic-convention message as chat messages (its tool responses become tool turns)."""
    role = str(msg.get("role", "?"))
    text, calls, results = [], [], []
    for part in as_list(msg.get("parts")):
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            text.append({"type": "text", "text": str(part.get("content", ""))})
        elif kind == "tool_call":
            calls.append({"id": part.get("id"), "type": "function",
                          "function": {"name": part.get("name", "tool"), "arguments": part.get("arguments")}})
        elif kind == "tool_call_response":
            response = part.get("response")
            results.append({"role": "tool", "tool_call_id": part.get("id"),
                            "content": response if isinstance(response, str) else json.dumps(response, ensure_ascii=False)})
        elif kind in ("blob", "uri", "file", "file_data"):
            uri = part.get("uri") or (f"data:{part.get('mime_type') or ''};base64,{part.get('content', '')}"
                                      if kind == "blob" else part.get("file_id") or "")
            text.append({"type": "image_url" if part.get("modality") == "image" else "file",
                         "image_url": {"url": uri}, "file": {"filename": uri}})
    out = []
    if text or calls or not results:
        m: dict[str, Any] = {"role": role, "content": text}
        if calls:
            m["tool_calls"] = calls
        out.append(m)
    return out + results


def _parts_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "\n".join(str(p.get("content", "")) for p in as_list(value) if isinstance(p, dict) and p.get("type") == "text")


_INDEX = re.compile(r"(\d+)\.(.+)")


def _indexed(a: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """``prefix.0.role = …``, ``prefix.0.content = …`` as ``[{"role": …, "content": …}]``."""
    items: dict[int, dict[str, Any]] = {}
    for key, value in a.items():
        if key.startswith(prefix):
            m = _INDEX.match(key[len(prefix):])
            if m:
                items.setdefault(int(m.group(1)), {})[m.group(2)] = value
    return [items[i] for i in sorted(items)]


def _indexed_message(flat: dict[str, Any]) -> dict[str, Any]:
    flat = {k.removeprefix("message."): v for k, v in flat.items()}
    calls: dict[int, dict[str, Any]] = {}
    for key, value in flat.items():
        m = re.match(r"tool_calls\.(\d+)\.(?:tool_call\.)?(?:function\.)?(name|arguments|id)$", key)
        if m:
            calls.setdefault(int(m.group(1)), {})[m.group(2)] = value
    content = flat.get("content")
    if content is None:
        content = "\n".join(str(v) for k, v in sorted(flat.items()) if k.startswith("contents.") and k.endswith(".text"))
    msg: dict[str, Any] = {"role": flat.get("role", "?"), "content": content}
    if calls:
        msg["tool_calls"] = [{"id": c.get("id"), "name": c.get("name", "tool"), "args": c.get("arguments")}
                             for _, c in sorted(calls.items())]
    if flat.get("tool_call_id"):
        msg["tool_call_id"] = flat["tool_call_id"]
    return msg


def _documents(a: dict[str, Any]) -> list[dict[str, Any]]:
    docs = _json(a.get("gen_ai.retrieval.documents"))
    if isinstance(docs, list):
        return [{"id": d.get("id"), "score": d.get("score"), "text": d.get("content") or d.get("text")}
                for d in docs if isinstance(d, dict)]
    return [{"id": d.get("document.id"), "score": d.get("document.score"), "text": d.get("document.content")}
            for d in _indexed(a, "retrieval.documents.")]

"""What every importer produces: one interaction as a dataset row with the same columns whatever the source,
so one ``[columns]`` block serves every tool a team exports from.

    id · model · tags · <dimensions> · system · documents · metadata · trace_url · input · output

``input`` is the conversation up to the user's last turn, ``output`` everything the AI did after it (tool
calls, their results, the answer), both as :mod:`sheetsync.conversation` renders them in full; a lone user
message or a plain answer is its text alone. ``system`` holds the system/developer instructions,
``documents`` the retrieved documents, ``metadata`` the source's user metadata (``key: value`` lines) less
the keys lifted into dimension columns, ``trace_url`` a link back to the trace in its tool.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sheetsync.conversation import content_text, render_documents, render_turns

CONTEXT = ("system", "documents", "metadata", "trace_url")
FIXED_DIMENSIONS = ("model", "tags")


class RecordError(ValueError):
    """A record that cannot be an interaction; the message names what is missing, the caller adds where
    (``where`` when the problem belongs to an earlier record, e.g. the first part of a trace)."""

    where: str | None = None


def located(where: str, build, *args):
    """``build(*args)``, a RecordError from it placed at ``where``."""
    try:
        return build(*args)
    except RecordError as exc:
        exc.where = exc.where or where
        raise


@dataclass
class Trace:
    """One interaction as an importer found it, before it becomes a row."""

    id: str
    messages: list[dict[str, Any]]  # the conversation, OpenAI chat shape (system messages included)
    output: list[dict[str, Any]] | None = None  # the AI's messages, when the source keeps them apart
    documents: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    model: str = ""
    url: str = ""
    error: str = ""


def header(dimensions: Sequence[str]) -> list[str]:
    """The columns an import writes, in order."""
    return ["id", *FIXED_DIMENSIONS, *dimensions, *CONTEXT[:-1], CONTEXT[-1], "input", "output"]


def to_row(trace: Trace, dimensions: Sequence[str]) -> dict[str, str]:
    """The dataset row for one trace (every value text)."""
    if not trace.id:
        raise RecordError("no id")
    every = [*trace.messages, *(trace.output or [])]
    system = [m for m in every if m.get("role") in ("system", "developer")]
    convo = [m for m in trace.messages if m.get("role") not in ("system", "developer")]
    # what the AI did after the user's last turn is its output, even where the source logged the tool
    # calls of earlier model calls as part of the last call's input
    last_user = max((i for i, m in enumerate(convo) if m.get("role") == "user"), default=-1)
    convo, out = convo[: last_user + 1], convo[last_user + 1:]
    out += [m for m in trace.output or [] if m.get("role") not in ("system", "developer")]
    if not convo and not out:
        raise RecordError("no messages")
    names: dict[str, str] = {}
    inp = _side(convo, "user", names)
    output = _side(out, "assistant", names)
    if trace.error:
        output = "\n\n".join(x for x in (output, f"[error] {trace.error}") if x)
    if not output:
        raise RecordError("no output (no message from the AI, and no error)")
    lifted = {d: _text(trace.metadata.get(d, "")) for d in dimensions}
    rest = {k: v for k, v in trace.metadata.items() if k not in lifted and v not in (None, "", [], {})}
    row = {"id": trace.id, "model": trace.model, "tags": ", ".join(trace.tags), **lifted,
           "system": "\n\n".join(content_text(m.get("content")) for m in system).strip(),
           "documents": render_documents(trace.documents),
           "metadata": "\n".join(f"{k}: {_text(v)}" for k, v in rest.items()),
           "trace_url": trace.url, "input": inp, "output": output}
    return row


def _side(messages: list[dict[str, Any]], role: str, names: dict[str, str]) -> str:
    """One side of the conversation: a single plain message is its text; anything more is turns by role."""
    if len(messages) == 1 and messages[0].get("role") == role and not messages[0].get("tool_calls"):
        return content_text(messages[0].get("content")).strip()
    return render_turns(messages, names=names)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def as_list(value: Any) -> list[Any]:
    """``value`` as a list (``None`` is empty, one item is a list of one)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def get(obj: Any, *path: str | int, default: Any = None) -> Any:
    """``obj[path[0]][path[1]]…``, or ``default`` as soon as a step is missing."""
    for step in path:
        keyed = isinstance(obj, Mapping) and isinstance(step, str) and step in obj
        if keyed or (isinstance(obj, list) and isinstance(step, int) and -len(obj) <= step < len(obj)):
            obj = obj[step]
        else:
            return default
    return obj


def chat_messages(value: Any) -> list[dict[str, Any]]:
    """Messages in OpenAI chat shape from the shapes traces hold them in: OpenAI dicts, LangChain message
    dicts (``type: human``…, possibly serialized with ``kwargs``), or a plain string (one user turn)."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    out = []
    for m in as_list(value):
        if isinstance(m, list):  # LangChain's batched [[messages]]
            out += chat_messages(m)
        elif isinstance(m, dict):
            out.append(_chat_message(m))
    return out


_LC_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool",
             "HumanMessage": "user", "AIMessage": "assistant", "SystemMessage": "system", "ToolMessage": "tool",
             "AIMessageChunk": "assistant", "chat": "user"}


def _chat_message(m: dict[str, Any]) -> dict[str, Any]:
    if isinstance(m.get("kwargs"), dict) and m.get("lc"):  # {"lc": 1, "type": "constructor", "id": [..., "HumanMessage"]}
        kind = str(as_list(m.get("id"))[-1]) if m.get("id") else ""
        m = {**m["kwargs"], "type": m["kwargs"].get("type") or kind}
    role = m.get("role") or _LC_ROLES.get(str(m.get("type", "")), str(m.get("type") or "?"))
    msg: dict[str, Any] = {"role": role, "content": m.get("content")}
    calls = m.get("tool_calls") or get(m, "additional_kwargs", "tool_calls") or []
    if calls:
        msg["tool_calls"] = [_tool_call(c) for c in calls if isinstance(c, dict)]
    for key in ("tool_call_id", "name"):
        if m.get(key):
            msg[key] = m[key]
    return msg


def _tool_call(c: dict[str, Any]) -> dict[str, Any]:
    if isinstance(c.get("function"), dict):
        return c
    return {"id": c.get("id"), "type": "function",
            "function": {"name": c.get("name", "tool"), "arguments": c.get("args", c.get("arguments"))}}

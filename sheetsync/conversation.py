"""Conversations as text people can read: one rendering for the judge (everything, in full) and one for a
cell (the same text with tool results folded to a summary and long documents cut).

The full text is what the local store keeps and the judge reads. Its shape is plain and fixed, so the cell
rendering is computed *from it* — the Annotate, Judge, Review and Disagreements tabs all call
:func:`cell_text` on the stored text and so show the same thing, for any row, however it got there:

    user: Find me a morning flight from Oslo to Barcelona on 12 May.

    assistant: → search_flights(from="OSL", to="BCN", date="2026-05-12")

    ← search_flights: {"flights": [{"id": "SK4721", "dep": "07:05", ...}, ...]}

    assistant: SK4721 leaves at 07:05 and costs €129.

A paragraph that starts with ``← NAME:`` is a tool's result (it runs to the next turn); one that starts with
``[document N]`` is a retrieved document. No importer writes these at the start of a paragraph for
anything else, and ordinary text practically never starts a paragraph with "←": if it did, the cell would
show a fold where the judge still sees the full text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

ROLES = ("system", "developer", "user", "assistant", "tool")
CALL, RESULT = "→", "←"
#: A tool result longer than this is folded to a summary in a cell.
FOLD_AT = 200
#: A retrieved document longer than this is cut in a cell (the judge and the store keep all of it).
DOCUMENT_CHARS = 1200
#: A tool-call line longer than this is cut in a cell.
CALL_CHARS = 240
_CUT = "\n… [cut by sheetsync: {:,} more characters; full text in .sheetsync/state.db]"
_HEADER = re.compile(rf"^(?:(?:{'|'.join(ROLES)}): |{CALL} |{RESULT} [^\n:]{{1,80}}: ?|\[document \d+\])")


def truncate(text: str, limit: int) -> tuple[str, bool]:
    """Cut text to fit a cell, with a marker the expert can see; the full text stays in the local store."""
    if len(text) <= limit:
        return text, False
    keep = limit - len(_CUT.format(len(text)))  # the marker never gets longer than this
    return text[:keep] + _CUT.format(len(text) - keep), True


def cell_text(text: str, limit: int) -> tuple[str, bool]:
    """``text`` as a cell shows it: tool results folded, long documents and call lines cut, then the whole
    cut to ``limit`` with the visible marker. The flag says whether that last cut happened (folds are by
    design and not reported)."""
    if RESULT not in text and "[document " not in text and CALL not in text:
        return truncate(text, limit)
    return truncate("\n\n".join(_fold(block) for block in _blocks(text)), limit)


def _blocks(text: str) -> list[str]:
    """Paragraphs grouped into turns: a paragraph that does not start a turn belongs to the one before."""
    blocks: list[str] = []
    for para in text.split("\n\n"):
        if blocks and not _HEADER.match(para):
            blocks[-1] += "\n\n" + para
        else:
            blocks.append(para)
    return blocks


def _fold(block: str) -> str:
    if block.startswith(RESULT + " "):
        name, sep, body = block[2:].partition(":")
        body = body.lstrip(" ")
        if not sep or len(body) <= FOLD_AT:
            return block
        return f"{RESULT} {name}: {summarise(body)} [folded: {len(body):,} characters]"
    if block.startswith("[document "):
        return truncate(block, DOCUMENT_CHARS)[0]
    lines = block.split("\n")
    if any(len(line) > CALL_CHARS and CALL in line[:12] for line in lines):
        return "\n".join(line[: CALL_CHARS - 2] + "…)" if len(line) > CALL_CHARS and CALL in line[:12] else line
                         for line in lines)
    return block


def summarise(text: str, width: int = 160) -> str:
    """A one-line summary of a tool result: the shape of JSON (keys, list lengths), else the first line."""
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    if isinstance(value, dict):
        shown = ", ".join(f"{k}: {_brief(v)}" for k, v in value.items())
        summary = "{" + shown + "}"
    elif isinstance(value, list):
        summary = f"[{len(value)} item{'s' if len(value) != 1 else ''}" + (f": {_brief(value[0], 80)}, …]" if value else "]")
    else:
        summary = str(value).strip().split("\n", 1)[0]
    return summary if len(summary) <= width else summary[: width - 1] + "…"


def _brief(value: Any, width: int = 40) -> str:
    if isinstance(value, list):
        return f"{len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "{…}" if value else "{}"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 2] + "…\""


# -- rendering ---------------------------------------------------------------------------------------------


def call_line(name: str, arguments: Any) -> str:
    """A tool call as one line: ``→ search_flights(from="OSL", to="BCN")`` (arguments that are not a JSON
    object are shown as they came)."""
    args = arguments
    if isinstance(arguments, str):
        try:
            args = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            return f"{CALL} {name}({arguments})"
    if isinstance(args, dict):
        inner = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in args.items())
    elif args is None:
        inner = ""
    else:
        inner = json.dumps(args, ensure_ascii=False)
    return f"{CALL} {name}({inner})"


def content_text(content: Any) -> str:
    """A message's content as text: text parts joined, images, audio and files as a short bracketed note."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return json.dumps(content, ensure_ascii=False)
    out = []
    for part in content:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict):
            out.append(_part_text(part))
    return "\n".join(p for p in out if p)


def _part_text(part: Mapping[str, Any]) -> str:
    kind = str(part.get("type", "text"))
    if "text" in part and isinstance(part["text"], str):
        return part["text"]
    if kind == "refusal":
        return f"[refusal] {part.get('refusal', '')}"
    if kind in ("image_url", "input_image", "image"):
        url = part.get("image_url")
        url = url.get("url") if isinstance(url, dict) else url
        return f"[image: {_short_uri(url or part.get('file_id') or part.get('url') or '')}]"
    if kind in ("input_audio", "audio"):
        fmt = (part.get("input_audio") or {}).get("format", "") if isinstance(part.get("input_audio"), dict) else ""
        return f"[audio{' ' + fmt if fmt else ''}]"
    if kind in ("file", "input_file"):
        file = part.get("file") if isinstance(part.get("file"), dict) else part
        return f"[file: {file.get('filename') or file.get('file_id') or 'attached'}]"
    if isinstance(part.get("content"), str):
        return part["content"]
    return f"[{kind}]"


def _short_uri(uri: str) -> str:
    """An inline ``data:`` image is megabytes of base64 nobody reads: name its type and size instead."""
    if uri.startswith("data:"):
        head = uri[5:].split(",", 1)[0].split(";", 1)[0]
        return f"inline {head or 'data'}, {len(uri) * 3 // 4 // 1024:,} KB"
    return uri


def render_turns(messages: Iterable[Mapping[str, Any]], *, names: dict[str, str] | None = None) -> str:
    """Messages (OpenAI chat shape: ``role``, ``content``, ``tool_calls``, ``tool_call_id``) as turns by
    role, tool calls as call lines and tool results as ``← name: result`` paragraphs.

    ``names`` maps tool-call ids to tool names, so a result names its tool even when the call was made in
    an earlier part of the conversation (the input, when rendering the output)."""
    names = {} if names is None else names
    turns = []
    for m in messages:
        role = str(m.get("role") or "?")
        text = content_text(m.get("content")).rstrip()
        if role == "tool" or role == "function":
            name = str(m.get("name") or names.get(str(m.get("tool_call_id")), "") or "tool")
            turns.append(f"{RESULT} {name}: {text}")
            continue
        calls = [call_line(*_call(c, names)) for c in m.get("tool_calls") or ()]
        body = "\n".join(x for x in (text, *calls) if x)
        turns.append(f"{role}: {body}".rstrip())
    return "\n\n".join(turns)


def _call(call: Mapping[str, Any], names: dict[str, str]) -> tuple[str, Any]:
    fn = call.get("function") if isinstance(call.get("function"), dict) else call
    name = str(fn.get("name") or "tool")
    if call.get("id"):
        names[str(call["id"])] = name
    return name, fn.get("arguments")


def render_documents(documents: Iterable[Mapping[str, Any]]) -> str:
    """Retrieved documents, one ``[document N] id (score s)`` paragraph each, text in full."""
    out = []
    for n, doc in enumerate(documents, start=1):
        label = " ".join(str(x) for x in (doc.get("id") or doc.get("source") or "",) if x)
        score = doc.get("score")
        head = f"[document {n}]" + (f" {label}" if label else "") + (f" (score {score:g})" if isinstance(score, int | float) and not isinstance(score, bool) else "")
        text = doc.get("text") if isinstance(doc.get("text"), str) else doc.get("content")
        out.append(head + ("\n" + content_text(text) if text not in (None, "") else ""))
    return "\n\n".join(out)


def is_conversation(value: Any) -> bool:
    """Whether a JSON value is a list of chat messages (every item an object with a ``role``)."""
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)

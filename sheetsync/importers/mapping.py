"""Any other JSON export: each dataset column taken from a path into the record, set in ``[columns] map``.

    [columns]
    map = ["id = $.trace.id", "input = $.request.messages", "output = $.response.text",
           "feature = $.tags.feature", "documents = $.retrieved[*].text?"]

A path is dotted keys (``$.`` in front optional) with ``[n]`` (``[-1]`` is the last), ``[*]`` (every item)
and ``["key with.dots"]``; a ``?`` at the end makes it optional (missing is empty). A record without a
value at a required path is refused with its record number and the path. A list of chat messages renders
as a conversation; other structured values as compact JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from sheetsync.conversation import content_text, is_conversation, render_turns
from sheetsync.importers.rows import RecordError, chat_messages

_STEP = re.compile(r"""\.?([^.\[\]"'?]+)|\[(-?\d+|\*)\]|\[(?:"([^"]*)"|'([^']*)')\]""")
_NAME = re.compile(r"^[^\s=][^=]*?$")
_MISSING = object()


def parse_entry(entry: str) -> tuple[str, list[Any], bool]:
    """``"name = path"`` as (name, steps, optional); ``ValueError`` saying what is wrong."""
    name, eq, path = entry.partition("=")
    name, path = name.strip(), path.strip()
    if not eq or not name or not _NAME.match(name):
        raise ValueError(f"{entry!r} is not `column = path` (e.g. \"input = $.request.messages\")")
    return name, *parse_path(path)


def parse_path(path: str) -> tuple[list[Any], bool]:
    optional = path.endswith("?")
    text = path[:-1] if optional else path
    text = text[1:] if text.startswith("$") else text
    steps: list[Any] = []
    pos = 0
    while pos < len(text):
        m = _STEP.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read the path {path!r} at {text[pos:]!r}: use dotted keys, [n], [*] or [\"key\"]")
        key, index, q1, q2 = m.groups()
        if key is not None:
            steps.append(key)
        elif index is not None:
            steps.append("*" if index == "*" else int(index))
        else:
            steps.append(("key", q1 if q1 is not None else q2))
        pos = m.end()
    if not steps:
        raise ValueError(f"the path {path!r} is empty")
    return steps, optional


def check_entry(entry: str) -> str | None:
    """A config rule: what is wrong with one ``[columns] map`` entry, or None."""
    try:
        parse_entry(entry)
    except ValueError as exc:
        return str(exc)
    return None


def resolve(value: Any, steps: list[Any]) -> Any:
    """The value at ``steps`` (a list for ``[*]``), or ``_MISSING``."""
    for i, step in enumerate(steps):
        if step == "*":
            if not isinstance(value, list):
                return _MISSING
            found = [resolve(item, steps[i + 1:]) for item in value]
            return [f for f in found if f is not _MISSING]
        if isinstance(step, tuple):
            step = step[1]
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return _MISSING
            value = value[step]
        elif isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return _MISSING
    return value


def header(entries: tuple[str, ...]) -> list[str]:
    return [parse_entry(e)[0] for e in entries]


def rows(records: Iterator[tuple[str, dict[str, Any]]], entries: tuple[str, ...]) -> Iterator[tuple[str, dict[str, str]]]:
    parsed = [parse_entry(e) for e in entries]
    for where, rec in records:
        row = {}
        for name, steps, optional in parsed:
            value = resolve(rec, steps)
            if value is _MISSING or value is None:
                if not optional:
                    raise RecordError(f"no value at `{_show(steps)}` (column {name}); add it, or end the path with ? "
                                      "to allow it to be missing")
                value = ""
            row[name] = text(value)
        yield where, row


def text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if is_conversation(value):
        messages = chat_messages(value)
        if len(messages) == 1 and not messages[0].get("tool_calls"):
            return content_text(messages[0].get("content"))
        return render_turns(messages)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n\n".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _show(steps: list[Any]) -> str:
    out = "$"
    for s in steps:
        if isinstance(s, tuple):
            out += f'["{s[1]}"]'
        elif isinstance(s, int) or s == "*":
            out += f"[{s}]"
        else:
            out += f".{s}"
    return out

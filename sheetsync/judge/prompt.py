"""The judge prompt: a Jinja2 template the engineer edits, few-shot examples from the train split, and
untrusted text fenced by a marker it cannot guess."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from sheetsync.chat_template import ChatTemplate

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "critique": {"type": "string", "description": "Why, in the expert's manner. Written before the verdict."},
        "verdict": {"type": "string", "enum": ["pass", "fail"]},
    },
    "required": ["critique", "verdict"],
    "additionalProperties": False,
}

_LOOKALIKE = re.compile(r"<(\s*/?\s*data-)", re.IGNORECASE)


@dataclass(frozen=True)
class Item:
    """One interaction as the prompt sees it (an example also carries the expert's verdict and critique)."""

    id: str
    input: str
    output: str
    context: dict[str, str] = field(default_factory=dict)
    verdict: str = ""
    critique: str = ""

    def size(self) -> int:
        return len(self.input) + len(self.output) + len(self.critique) + sum(map(len, self.context.values()))


def neutralise(text: str) -> str:
    """Defuse anything in untrusted text that looks like our delimiters (``<data-…>``, ``</data-…>``)."""
    return _LOOKALIKE.sub(lambda m: "‹" + m.group(1), text)


def build_examples(items: list[Item], *, max_examples: int, max_chars: int) -> list[Item]:
    """Balanced pass/fail examples (fail first), in a stable order, within a count and a size cap.

    Only pass items from the train split here: the caller guarantees it.
    """
    def order(it: Item) -> str:
        return hashlib.sha256(f"example:{it.id}".encode()).hexdigest()

    usable = [it for it in items if it.verdict in ("pass", "fail") and it.critique.strip()]
    fails = sorted((it for it in usable if it.verdict == "fail"), key=order)
    passes = sorted((it for it in usable if it.verdict == "pass"), key=order)
    chosen: list[Item] = []
    used = 0
    queues = [fails, passes]
    turn = 0
    while len(chosen) < max_examples and (fails or passes):
        queue = queues[turn % 2] if queues[turn % 2] else queues[(turn + 1) % 2]
        it = queue.pop(0)
        turn += 1
        if used + it.size() > max_chars:
            continue  # too big to fit: try the next one
        chosen.append(it)
        used += it.size()
    return chosen


class JudgePrompt:
    """Renders the chat messages for one row. The marker is derived from a per-workspace secret salt and
    the row, so it is stable (cacheable) yet unguessable by whoever wrote the row's text."""

    def __init__(self, template: str, *, criteria: str, examples: list[Item], salt: str, source: str = "template"):
        self._chat = ChatTemplate(template, source=source)
        self.template_text = template
        self.template_hash = self._chat.hash
        self.criteria = criteria
        self.examples = examples
        self.salt = salt
        self.source = source

    def marker(self, row: Item) -> str:
        basis = "\x1f".join([self.salt, self.template_hash, row.id, row.input, row.output])
        return hashlib.sha256(basis.encode()).hexdigest()[:12]

    def messages(self, row: Item) -> list[dict[str, str]]:
        marker = self.marker(row)

        def fence(name: str, text: str) -> str:
            safe_name = re.sub(r"[^A-Za-z0-9_ .-]", "_", str(name))
            return f'<data-{marker} name="{safe_name}">\n{neutralise(str(text))}\n</data-{marker}>'

        return self._chat.render(criteria=self.criteria, examples=self.examples, row=row, marker=marker, fence=fence)

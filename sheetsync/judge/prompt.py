"""The judge prompt: a Jinja2 template the engineer edits, few-shot examples from the train split, and
untrusted text fenced by a marker it cannot guess."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
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
    """Renders the chat messages for one row, laid out for the servers' prompt caches.

    The system message — instructions, criteria, few-shot examples — is rendered once and is byte-identical
    for every row, so OpenAI's automatic prompt caching and a local server's prefix cache reuse it; the row
    comes last, in the user message. Untrusted text is fenced twice over: every ``<data-`` look-alike inside
    it is defused (``neutralise``), and its delimiters carry a marker derived from a per-workspace secret salt
    that whoever wrote the text cannot know. The examples share one marker (from the salt and the examples
    themselves); each row gets its own (from the salt and the row), so a marker that leaked through one row's
    critique is worth nothing for another row. Both are stable, so calls cache.
    """

    def __init__(self, template: str, *, criteria: str, examples: list[Item], salt: str, source: str = "template",
                 guidance: list[Any] | None = None):
        self._chat = ChatTemplate(template, source=source)
        self.template_text = template
        self.template_hash = self._chat.hash
        self.criteria = criteria
        self.examples = examples
        #: The expert's resolutions of earlier disagreements (sheetsync.review.guidance), in the system message.
        self.guidance = list(guidance or [])
        self.salt = salt
        self.source = source
        self._system: str | None = None

    def examples_marker(self) -> str:
        basis = "\x1f".join([self.salt, self.template_hash, "examples",
                              *(f"{e.id}\x1e{e.input}\x1e{e.output}" for e in self.examples),
                              *(f"{g.id}\x1e{g.why}" for g in self.guidance)])
        return hashlib.sha256(basis.encode()).hexdigest()[:12]

    def marker(self, row: Item) -> str:
        basis = "\x1f".join([self.salt, self.template_hash, row.id, row.input, row.output])
        return hashlib.sha256(basis.encode()).hexdigest()[:12]

    def system(self) -> str:
        """The shared system message (rendered on first use, then reused for every row)."""
        if self._system is None:
            marker = self.examples_marker()
            self._system = self._chat.render_system(criteria=self.criteria, examples=self.examples, marker=marker,
                                                    guidance=self.guidance,
                                                    fence=_fencer(marker), row=_NO_ROW)
        return self._system

    def messages(self, row: Item) -> list[dict[str, str]]:
        marker = self.marker(row)
        user = self._chat.render_user(criteria=self.criteria, examples=self.examples, row=row, marker=marker,
                                      guidance=self.guidance,
                                      fence=_fencer(marker))
        return [{"role": "system", "content": self.system()}, {"role": "user", "content": user}]


_NO_ROW = Item("", "", "", {})  # the system message must not depend on the row: templates see an empty one


def _fencer(marker: str) -> Any:
    def fence(name: str, text: str) -> str:
        safe_name = re.sub(r"[^A-Za-z0-9_ .-]", "_", str(name))
        return f'<data-{marker} name="{safe_name}">\n{neutralise(str(text))}\n</data-{marker}>'

    return fence


#: The text appended to a field cut to fit the model's context (the Judge tab's note says the same).
CUT_MARKER = "\n[… cut to fit the model's context]"


def cut_to_fit(row: Item, tokens: int, limit: int, reserve: int, prompt_chars: int) -> tuple[Item, str] | None:
    """``row`` with its longest field cut so a prompt of ``tokens`` fits ``limit`` with ``reserve`` to spare.

    Characters per token are taken from the server's own count of this prompt's size, so the cut is in
    the server's units; None when the longest field cannot absorb the excess.
    """
    fields = {"input": row.input, "output": row.output, **{f"context {k}": v for k, v in row.context.items()}}
    name, text = max(fields.items(), key=lambda kv: len(kv[1]))
    excess_tokens = tokens - max(limit - reserve, 1)
    chars_per_token = max(1.0, prompt_chars / max(tokens, 1))
    keep = len(text) - int(excess_tokens * chars_per_token * 1.1) - len(CUT_MARKER)
    if excess_tokens <= 0 or keep < 200:
        return None
    cut = text[:keep] + CUT_MARKER
    if name == "input":
        smaller = replace(row, input=cut)
    elif name == "output":
        smaller = replace(row, output=cut)
    else:
        smaller = replace(row, context={**row.context, name.removeprefix("context "): cut})
    return smaller, f"{name} cut to fit the model's context ({keep:,} of {len(text):,} characters kept)"

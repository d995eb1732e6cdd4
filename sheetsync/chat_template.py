"""Chat prompts the engineer edits as one Jinja2 file: the system message above a line ``=== user ===``,
the user message below it. Shared by the judge and the synthetic-input generator."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import jinja2

from sheetsync.errors import UserInputError

USER_SEPARATOR = "=== user ==="
_SEPARATOR_LINE = re.compile(r"^=== user ===[ \t]*$", re.MULTILINE)


class ChatTemplate:
    """A parsed template. The split happens on the template's source, never on rendered text, so nothing
    in the data can move text from the user message into the system message."""

    def __init__(self, template: str, *, source: str = "template") -> None:
        parts = _SEPARATOR_LINE.split(template, maxsplit=1)
        if len(parts) != 2:
            raise UserInputError(
                f"{source}: the template needs a line `{USER_SEPARATOR}` separating the system message from "
                "the user message (see the default: `sheetsync init` in an empty folder)."
            )
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
        try:
            self._system, self._user = env.from_string(parts[0]), env.from_string(parts[1])
        except jinja2.TemplateSyntaxError as exc:
            raise UserInputError(f"{source}: line {exc.lineno}: template error: {exc.message}") from exc
        self.text = template
        self.source = source
        self.hash = hashlib.sha256(template.encode()).hexdigest()[:12]

    def render(self, **context: Any) -> list[dict[str, str]]:
        """The chat messages for this context; a template error names the file."""
        return [{"role": "system", "content": self.render_system(**context)},
                {"role": "user", "content": self.render_user(**context)}]

    def render_system(self, **context: Any) -> str:
        """The system message alone: a prompt whose system part is the same for every row renders it once."""
        try:
            return self._system.render(**context).strip()
        except jinja2.TemplateError as exc:
            raise UserInputError(f"{self.source}: template error: {exc}") from exc

    def render_user(self, **context: Any) -> str:
        try:
            return self._user.render(**context).strip()
        except jinja2.TemplateError as exc:
            raise UserInputError(f"{self.source}: template error: {exc}") from exc

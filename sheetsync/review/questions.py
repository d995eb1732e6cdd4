"""The open criteria questions as the expert and stakeholders read them (Instructions, Summary): the
expert's "Unclear" answers, until the expert settles them."""

from __future__ import annotations

from sheetsync.store import Store


def questions_text(store: Store) -> list[str]:
    """One line per open question: the row, the tab it was asked on, and the expert's words."""
    return [f"{q.id} ({q.tab}): {q.question}" for q in store.questions(open_only=True)]

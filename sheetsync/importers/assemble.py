"""Putting a trace back together from records that each hold part of it (spans, runs), in bounded memory.

Tracing tools export the parts of one trace as separate records: OpenTelemetry spans are written when
they end (the root, which ends last, usually comes last), LangSmith runs one per line in either order. A
trace is held until its parts stop arriving: once ``window`` further parts have gone by without one of
its own, it is complete (or, lacking its root, left out and counted). Memory is bounded by the window,
never by the file.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

WINDOW = 50_000


@dataclass
class Group:
    """The parts of one trace seen so far; ``where`` is the first record that held one (for messages)."""

    trace_id: str
    where: str
    root: Any = None
    parts: list[Any] = field(default_factory=list)
    last: int = 0


class Assembler:
    def __init__(self, window: int = WINDOW):
        self.window = window
        self.count = 0
        self.orphans = 0  # parts whose trace's root never came within the window
        self._open: OrderedDict[str, Group] = OrderedDict()

    def add(self, trace_id: str, part: Any, *, root: bool, where: str) -> Iterator[Group]:
        """Add one part; yields the traces that became complete."""
        self.count += 1
        group = self._open.get(trace_id)
        if group is None:
            group = self._open[trace_id] = Group(trace_id, where)
        else:
            self._open.move_to_end(trace_id)
        group.last = self.count
        if root and group.root is None:
            group.root = part
        group.parts.append(part)
        while self._open:
            oldest = next(iter(self._open.values()))
            if self.count - oldest.last < self.window:
                break
            yield from self._close(oldest)

    def finish(self) -> Iterator[Group]:
        """The traces still open at the end of the file."""
        for group in list(self._open.values()):
            yield from self._close(group)

    def _close(self, group: Group) -> Iterator[Group]:
        del self._open[group.trace_id]
        if group.root is None:
            self.orphans += len(group.parts)
        else:
            yield group
